import os
import shlex
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from mtrack import cluster
from mtrack.cluster import (
    ClusterConfig,
    ClusterConfigError,
    cluster_job_script,
    job_array_script,
    load_cluster_config,
    make_cluster,
    write_job_array,
)

PIPELINES = Path(__file__).resolve().parents[1] / "pipelines"
BASE = "system: slurm\ncores: 8\nmemory: 16GB\nwalltime: '01:00:00'\n"
BASH = shutil.which("bash")


def _config(system="slurm", **kwargs):
    settings = {"system": system, "cores": 8, "memory": "32GB", "walltime": "02:00:00"}
    return ClusterConfig(**{**settings, **kwargs})


def _command_line(script, index_var):
    lines = [line for line in script.splitlines() if line.startswith("mtrack batch ")]
    assert len(lines) == 1
    assert f'--task "${index_var}"' in lines[0]
    return lines[0]


# --------------------------------------------------------------------------- configuration


@pytest.mark.parametrize("system", ["slurm", "pbs"])
def test_bundled_configs_load(system):
    config = load_cluster_config(PIPELINES / f"cluster_{system}.yaml")
    assert config.system == system
    assert config.cores % config.processes == 0
    assert config.local_directory == "$TMPDIR"
    assert config.jobs >= 1


@pytest.mark.parametrize(
    "text, fragments",
    [
        (BASE.replace("16GB", "16 gigs"), ["memory:", "cannot parse '16 gigs' as a size"]),
        (BASE.replace("16GB", "''"), ["memory:"]),
        (BASE.replace("16GB", "'16'"), ["memory:", "unit"]),
        (BASE.replace("'01:00:00'", "1h"), ["walltime:", "HH:MM:SS"]),
        (BASE.replace("'01:00:00'", "'01:75:00'"), ["walltime:"]),
        (BASE.replace("'01:00:00'", "2:00:00"), ["walltime:", "quote"]),  # YAML: 7200
        (BASE + "processes: 3\n", ["processes:", "divisible"]),
        (BASE + "colour: red\n", ["unknown key 'colour'"]),
        (BASE + "jobs: -2\n", ["jobs:", "-2"]),
        (BASE + "cores: 0\n".replace("cores", "jobs"), ["jobs:"]),
        (BASE.replace("cores: 8", "cores: true"), ["cores:"]),
        (BASE.replace("slurm", "sge"), ["system:", "sge"]),
        (BASE.replace("cores: 8\n", ""), ["cores:", "missing"]),
        (BASE + "queue: 'short; rm -rf ~'\n", ["queue:"]),
        (BASE + "local_directory: '$(whoami)'\n", ["local_directory:"]),
        (BASE + "log_directory: '/my logs'\n", ["log_directory:"]),
        (BASE + "job_extra_directives: ['#SBATCH --qos=x']\n", ["job_extra_directives:"]),
        (BASE + 'job_script_prologue: ["a\\nb"]\n', ["job_script_prologue:", "single line"]),
        ("system: [unclosed\n", ["not valid YAML"]),
        ("- a\n- b\n", ["mapping"]),
    ],
)
def test_config_errors_are_one_line_naming_file_and_key(tmp_path, text, fragments):
    path = tmp_path / "cluster.yaml"
    path.write_text(text)
    with pytest.raises(ClusterConfigError) as info:
        load_cluster_config(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    for fragment in fragments:
        assert fragment in message


def test_missing_config_file(tmp_path):
    path = tmp_path / "nope.yaml"
    with pytest.raises(ClusterConfigError, match="not found") as info:
        load_cluster_config(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_config_error_is_a_value_error():
    assert issubclass(ClusterConfigError, ValueError)


# --------------------------------------------------------------------------- job array script


def test_slurm_job_array_script():
    config = _config(
        queue="short", account="lab", log_directory="/logs",
        job_extra_directives=["--qos=long"], job_script_prologue=["module load python"],
    )
    script = job_array_script(config, task_list="/w/tasks.txt", out="/w/out", n_tasks=12)
    lines = script.splitlines()
    assert lines[0].startswith("#!")
    for directive in [
        "#SBATCH --array=0-11", "#SBATCH --cpus-per-task=8", "#SBATCH --mem=30G",
        "#SBATCH --time=02:00:00", "#SBATCH --partition=short", "#SBATCH --account=lab",
        "#SBATCH --output=/logs/mtrack_%A_%a.log", "#SBATCH --job-name=mtrack",
        "#SBATCH --qos=long",
    ]:
        assert directive in lines
    # every directive comes before the first command
    first_command = next(i for i, line in enumerate(lines) if line and not line.startswith("#"))
    assert max(i for i, line in enumerate(lines) if line.startswith("#SBATCH")) < first_command
    assert (
        'mtrack batch --from-list /w/tasks.txt --task "$SLURM_ARRAY_TASK_ID" '
        "--out /w/out --workers 8"
    ) in lines
    assert "set -euo pipefail" in lines
    for variable in ["OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"]:
        assert f"export {variable}=1" in lines
    assert lines.index("module load python") < lines.index(_command_line(script, "SLURM_ARRAY_TASK_ID"))
    assert "sbatch" in script
    assert "mtrack batch --from-list /w/tasks.txt --out /w/out" in script  # finishing step
    assert "summary.csv" in script


def test_slurm_logs_default_to_out_folder():
    script = job_array_script(_config(), task_list="/w/t.txt", out="/w/out", n_tasks=3)
    assert "#SBATCH --output=/w/out/mtrack_%A_%a.log" in script.splitlines()
    assert "#SBATCH --partition" not in script and "#SBATCH --account" not in script


def test_pbs_job_array_script():
    config = _config(
        "pbs", queue="workq", account="proj1", log_directory="/logs",
        job_extra_directives=["-l place=scatter"],
    )
    script = job_array_script(config, task_list="/w/t.txt", out="/w/out", n_tasks=5, name="mt")
    lines = script.splitlines()
    for directive in [
        "#PBS -J 0-4", "#PBS -l select=1:ncpus=8:mem=30GB", "#PBS -l walltime=02:00:00",
        "#PBS -q workq", "#PBS -A proj1", "#PBS -N mt", "#PBS -l place=scatter",
        "#PBS -o /logs/mt_^array_index^.out", "#PBS -e /logs/mt_^array_index^.err",
    ]:
        assert directive in lines
    assert (
        'mtrack batch --from-list /w/t.txt --task "$PBS_ARRAY_INDEX" --out /w/out --workers 8'
    ) in lines
    assert "$PBS_ARRAY_INDEX" in script.split("set -euo pipefail")[0]  # noted in the header
    assert "qsub" in script and "SBATCH" not in script


def test_pbs_single_movie_is_a_plain_job():
    script = job_array_script(_config("pbs"), task_list="/t.txt", out="/o", n_tasks=1)
    assert "#PBS -J" not in script
    assert 'PBS_ARRAY_INDEX="${PBS_ARRAY_INDEX:-0}"' in script
    _command_line(script, "PBS_ARRAY_INDEX")


@pytest.mark.skipif(BASH is None, reason="bash not installed")
@pytest.mark.parametrize("system", ["slurm", "pbs"])
def test_job_array_script_is_valid_bash(tmp_path, system):
    config = _config(
        system, local_directory="${TMPDIR:-/tmp}", log_directory="/logs",
        job_script_prologue=["module load python", "source ~/venvs/mtrack/bin/activate"],
    )
    script = job_array_script(
        config, task_list="/a b/it's.txt", out="/r/out $dir", n_tasks=3,
        mtrack_args=["--params", "my params.yaml"],
    )
    path = tmp_path / "job.sh"
    path.write_text(script)
    result = subprocess.run([BASH, "-n", str(path)], check=False, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("system, index_var", [("slurm", "SLURM_ARRAY_TASK_ID"),
                                               ("pbs", "PBS_ARRAY_INDEX")])
def test_paths_with_spaces_are_quoted(system, index_var):
    config = _config(system, log_directory="/logs")
    task_list, out = "/data/my movies/it's.txt", "/results/out $HOME; rm -rf ~"
    script = job_array_script(
        config, task_list=task_list, out=out, n_tasks=2, mtrack_args=["--params", "p q.yaml"]
    )
    words = shlex.split(_command_line(script, index_var))
    assert words == [
        "mtrack", "batch", "--from-list", task_list, "--task", f"${index_var}", "--out", out,
        "--workers", "8", "--params", "p q.yaml",
    ]


def test_log_folder_with_spaces_is_refused():
    with pytest.raises(ClusterConfigError, match="log_directory") as info:
        job_array_script(_config(), task_list="/t.txt", out="/my results", n_tasks=2)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"n_tasks": 0}, "n_tasks"),
        ({"name": "9 lives"}, "job name"),
        ({"mtrack_args": ["--workers", "2"]}, "--workers"),
        ({"mtrack_args": ["--task=3"]}, "--task"),
        ({"out": "/o\nrm -rf ~"}, "line break"),
    ],
)
def test_job_array_script_refuses_bad_arguments(kwargs, fragment):
    arguments = {"task_list": "/t.txt", "out": "/o", "n_tasks": 2, **kwargs}
    with pytest.raises(ClusterConfigError, match=fragment) as info:
        job_array_script(_config(), **arguments)
    assert "\n" not in str(info.value)


# --------------------------------------------------------------------------- write_job_array


@pytest.fixture
def movies(tmp_path):
    folder = tmp_path / "raw data"
    folder.mkdir()
    paths = [folder / f"movie {i}.tif" for i in range(3)]
    for path in paths:
        path.write_bytes(b"")
    return paths


def _leftovers(folder):
    return [p.name for p in Path(folder).iterdir() if p.name.endswith(".tmp")]


def test_write_job_array(tmp_path, movies, monkeypatch):
    monkeypatch.chdir(tmp_path)
    script, tasks = write_job_array(
        [*movies, movies[0]], "out", _config(), "jobs/array.sh", mtrack_args=["--params", "p.yaml"]
    )
    assert script == tmp_path / "jobs" / "array.sh"
    assert tasks == tmp_path / "jobs" / "array.tasks.txt"
    assert tasks.read_text().splitlines() == [str(p) for p in movies]  # absolute, no duplicate
    assert os.stat(script).st_mode & stat.S_IXUSR
    text = script.read_text()
    assert "#SBATCH --array=0-2" in text
    words = shlex.split(_command_line(text, "SLURM_ARRAY_TASK_ID"))
    assert words[3] == str(tasks) and words[7] == str(tmp_path / "out")
    assert f"sbatch {script}" in text
    assert (tmp_path / "out").is_dir()  # the log folder must exist before the jobs start
    assert _leftovers(script.parent) == []


def test_write_job_array_refuses_to_overwrite(tmp_path, movies):
    script = tmp_path / "array.sh"
    write_job_array(movies, tmp_path / "out", _config(), script)
    before = script.read_text()
    with pytest.raises(ClusterConfigError, match="already exists") as info:
        write_job_array(movies[:1], tmp_path / "out", _config(), script)
    assert "\n" not in str(info.value)
    assert script.read_text() == before
    write_job_array(movies[:1], tmp_path / "out", _config("pbs"), script, overwrite=True)
    assert "#PBS" in script.read_text()
    assert (tmp_path / "array.tasks.txt").read_text() == f"{movies[0]}\n"


def test_write_job_array_refuses_existing_task_list(tmp_path, movies):
    (tmp_path / "array.tasks.txt").write_text("keep me\n")
    with pytest.raises(ClusterConfigError, match="array.tasks.txt"):
        write_job_array(movies, tmp_path / "out", _config(), tmp_path / "array.sh")
    assert not (tmp_path / "array.sh").exists()
    assert (tmp_path / "array.tasks.txt").read_text() == "keep me\n"


def test_write_job_array_refuses_missing_or_no_inputs(tmp_path, movies):
    with pytest.raises(ClusterConfigError, match="input not found"):
        write_job_array([*movies, tmp_path / "gone.tif"], tmp_path, _config(), tmp_path / "a.sh")
    with pytest.raises(ClusterConfigError, match="no input"):
        write_job_array([], tmp_path, _config(), tmp_path / "a.sh")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw data"]


def test_write_job_array_failed_rename_leaves_nothing(tmp_path, movies, monkeypatch):
    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cluster.os, "replace", fail)
    with pytest.raises(ClusterConfigError, match="No space left") as info:
        write_job_array(movies, tmp_path / "out", _config(), tmp_path / "a.sh")
    assert "\n" not in str(info.value)
    assert not (tmp_path / "a.sh").exists() and not (tmp_path / "a.tasks.txt").exists()
    assert _leftovers(tmp_path) == []


def test_write_job_array_permission_error_is_one_line(tmp_path, movies, monkeypatch):
    # the same path as an unwritable folder, also when running as root
    def refuse(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(cluster.os, "open", refuse)
    with pytest.raises(ClusterConfigError, match="cannot write job array") as info:
        write_job_array(movies, tmp_path / "out", _config(), tmp_path / "a.sh")
    assert str(info.value).startswith(f"{tmp_path}: ") and "\n" not in str(info.value)
    assert not (tmp_path / "a.sh").exists() and not (tmp_path / "a.tasks.txt").exists()


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="root ignores file permissions")
def test_write_job_array_unwritable_folder(tmp_path, movies):
    folder = tmp_path / "locked"
    folder.mkdir(mode=0o500)
    try:
        with pytest.raises(ClusterConfigError, match="cannot write") as info:
            write_job_array(movies, tmp_path / "out", _config(), folder / "a.sh")
        assert "\n" not in str(info.value)
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o700)


# --------------------------------------------------------------------------- dask cluster


def test_cluster_kwargs_leave_unset_options_to_dask_config():
    kwargs = cluster.cluster_kwargs(_config(processes=2))
    assert kwargs["cores"] == 8 and kwargs["processes"] == 2 and kwargs["memory"] == "32GB"
    assert "queue" not in kwargs and "job_extra_directives" not in kwargs
    assert "export OMP_NUM_THREADS=1" in kwargs["job_script_prologue"]


def test_slurm_cluster_job_script():
    config = _config(
        processes=2, queue="short", account="lab", local_directory="$TMPDIR",
        job_script_prologue=["module load python"], python="/opt/py/bin/python",
    )
    script = cluster_job_script(config)
    for fragment in ["--cpus-per-task=8", "--mem=30G", "-t 02:00:00", "-p short", "-A lab",
                     "module load python", "export OMP_NUM_THREADS=1", "/opt/py/bin/python",
                     "--nworkers 2", "--local-directory $TMPDIR"]:
        assert fragment in script
    assert script.index("module load python") < script.index("/opt/py/bin/python")


def test_pbs_cluster_job_script():
    script = cluster_job_script(_config("pbs", queue="workq"))
    assert "#PBS -l select=1:ncpus=8:mem=30GB" in script and "#PBS -q workq" in script


def test_make_cluster_without_scaling_submits_nothing():
    from dask_jobqueue import SLURMCluster

    cluster_ = make_cluster(_config(jobs=3), scale=False,
                            scheduler_options={"dashboard_address": ":0"})
    try:
        assert isinstance(cluster_, SLURMCluster)
        assert len(cluster_.workers) == 0
    finally:
        cluster_.close()


def test_make_cluster_needs_the_submission_command(monkeypatch):
    monkeypatch.setattr(cluster.shutil, "which", lambda name: None)
    with pytest.raises(ClusterConfigError, match="'sbatch' is not on PATH") as info:
        make_cluster(_config())
    assert "\n" not in str(info.value)
