"""Running mtrack on an HPC queue (SLURM or PBS Pro).

Two ways, both driven by one YAML file (see ``pipelines/cluster_slurm.yaml`` and
``pipelines/cluster_pbs.yaml``) read into a :class:`ClusterConfig`:

* **job array** (recommended for many movies): :func:`write_job_array` writes a task list
  (one movie per line) and a ``sbatch``/``qsub`` script whose array task *i* runs
  ``mtrack batch --from-list TASKS --task i --out OUT``. Nothing stays running on the login
  node, and one failed movie only fails its own array task.
* **dask cluster**: :func:`make_cluster` starts a dask scheduler here and submits dask
  worker jobs through dask-jobqueue; the caller makes a ``distributed.Client`` from it.
  :func:`cluster_job_script` shows the worker job script without submitting anything.

Errors in a configuration file are raised as :class:`ClusterConfigError` with one line that
names the file and the offending key.
"""

from __future__ import annotations

import os
import re
import secrets
import shlex
import shutil
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

if TYPE_CHECKING:  # dask-jobqueue is imported lazily: it is only needed to start a cluster
    from dask_jobqueue import JobQueueCluster

__all__ = [
    "ClusterConfig",
    "ClusterConfigError",
    "array_command",
    "cluster_job_script",
    "cluster_kwargs",
    "job_array_script",
    "load_cluster_config",
    "make_cluster",
    "task_list_path",
    "write_job_array",
]

#: Environment variable holding the array index, per queueing system.
INDEX_VARIABLE = {"slurm": "SLURM_ARRAY_TASK_ID", "pbs": "PBS_ARRAY_INDEX"}
#: Submission command, per queueing system.
SUBMIT_COMMAND = {"slurm": "sbatch", "pbs": "qsub"}
#: Environment exported by every array task: mtrack parallelises over frames itself.
THREAD_LIMITS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
#: ``mtrack batch`` options that the job array script sets itself.
RESERVED_OPTIONS = ("--from-list", "--task", "--out", "--workers")

_MIN_MEMORY = 128 * 2**20
_WALLTIME = re.compile(r"^(\d+):([0-5]\d):([0-5]\d)$")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
_WORD = re.compile(r"^[A-Za-z0-9_.@+:-]+$")  # queue / account: one word, nothing for a shell
# node-local scratch: may name environment variables ("$TMPDIR", "${TMPDIR:-/tmp}"), nothing
# that word-splits, globs or runs a command
_SCRATCH = re.compile(r"^[A-Za-z0-9_./~${}:+=-]+$")
_UNSAFE_IN_DIRECTIVE = re.compile(r"[\s$%^'\"`\\]")


class ClusterConfigError(ValueError):
    """Raised when a cluster configuration, or what is asked of it, is invalid."""


class ClusterConfig(BaseModel):
    """Resources of one queue job and how many of them to run.

    Attributes
    ----------
    system : {"slurm", "pbs"}
        Queueing system (PBS means PBS Pro / OpenPBS: ``qsub -J`` job arrays).
    cores : int
        CPU cores per job; a job-array task runs ``mtrack batch --workers cores``.
    processes : int
        dask worker processes per job (dask cluster only); must divide ``cores``.
    memory : str
        Memory per job, e.g. ``"32GB"`` (anything :func:`dask.utils.parse_bytes` reads).
    walltime : str
        Time limit per job, ``"HH:MM:SS"``.
    queue, account : str, optional
        Partition/queue and account/project to charge (site default when unset).
    local_directory : str, optional
        Node-local scratch for temporary files, e.g. ``"$TMPDIR"`` (expanded on the node).
    log_directory : str, optional
        Folder for job logs (default: the output folder for job arrays).
    jobs : int
        Number of jobs the dask cluster scales to (dask cluster only).
    job_extra_directives : list of str
        Extra scheduler options without the ``#SBATCH``/``#PBS`` prefix, e.g. ``"--qos=long"``.
    job_script_prologue : list of str
        Shell lines run before mtrack, e.g. ``"module load python"``.
    python : str, optional
        Python executable of the dask workers (default: the one running this process).
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    system: Literal["slurm", "pbs"] = Field(description="queueing system: slurm or pbs")
    cores: int = Field(ge=1, strict=True, description="CPU cores per job")
    processes: int = Field(1, ge=1, strict=True, description="dask worker processes per job")
    memory: str = Field(description="memory per job, e.g. '32GB'")
    walltime: str = Field(description="time limit per job, HH:MM:SS")
    queue: str | None = Field(None, description="partition (slurm) or queue (pbs)")
    account: str | None = Field(None, description="account or project to charge")
    local_directory: str | None = Field(None, description="node-local scratch, e.g. '$TMPDIR'")
    log_directory: str | None = Field(None, description="folder for job logs")
    jobs: int = Field(1, ge=1, strict=True, description="jobs the dask cluster scales to")
    job_extra_directives: list[str] = Field(
        default_factory=list, description="extra scheduler options, e.g. '--qos=long'"
    )
    job_script_prologue: list[str] = Field(
        default_factory=list, description="shell lines run before mtrack"
    )
    python: str | None = Field(None, description="python executable of the dask workers")

    @field_validator("memory")
    @classmethod
    def _memory(cls, value: str) -> str:
        return _check_memory(value)

    @field_validator("walltime", mode="before")
    @classmethod
    def _walltime_text(cls, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            # YAML reads an unquoted 2:00:00 as the number 7200
            # pydantic turns ValueError (not TypeError) into a validation error
            raise ValueError(f"got the number {value}; quote it, e.g. '02:00:00'")  # noqa: TRY004
        return value

    @field_validator("walltime")
    @classmethod
    def _walltime(cls, value: str) -> str:
        return _check_walltime(value)

    @field_validator("queue", "account")
    @classmethod
    def _word(cls, value: str | None) -> str | None:
        if value is not None and not _WORD.match(value):
            raise ValueError(f"{value!r} must be one word (letters, digits, _ . @ + : -)")
        return value

    @field_validator("local_directory")
    @classmethod
    def _scratch(cls, value: str | None) -> str | None:
        if value is not None and not _SCRATCH.match(value):
            raise ValueError(
                f"{value!r} may hold a path and $VARIABLES, but no spaces, quotes or "
                "other shell syntax"
            )
        return value

    @field_validator("log_directory")
    @classmethod
    def _log_directory(cls, value: str | None) -> str | None:
        if value is not None:
            _check_directive_path(value, what="log folder")
        return value

    @field_validator("job_extra_directives")
    @classmethod
    def _directives(cls, values: list[str]) -> list[str]:
        for value in values:
            _check_one_line(value)
            if not value.strip():
                raise ValueError("empty directive")
            if value.lstrip().startswith("#"):
                raise ValueError(
                    f"{value!r}: give the option without '#SBATCH'/'#PBS', e.g. '--qos=long'"
                )
        return values

    @field_validator("job_script_prologue", "python")
    @classmethod
    def _lines(cls, value: list[str] | str | None) -> list[str] | str | None:
        for line in [value] if isinstance(value, str) else value or []:
            _check_one_line(line)
        return value

    @model_validator(mode="after")
    def _processes_divide_cores(self) -> ClusterConfig:
        if self.cores % self.processes:
            raise ValueError(
                f"processes: cores ({self.cores}) must be divisible by processes "
                f"({self.processes})"
            )
        return self

    @property
    def memory_bytes(self) -> int:
        """Memory per job in bytes."""
        from dask.utils import parse_bytes

        return int(parse_bytes(self.memory))


# --------------------------------------------------------------------------- validation


def _check_one_line(value: str) -> None:
    if "\n" in value or "\r" in value:
        raise ValueError(f"{value!r} must be a single line")


def _check_memory(value: str) -> str:
    from dask.utils import parse_bytes

    try:
        size = parse_bytes(value) if value.strip() else None
    except (ValueError, TypeError):
        size = None
    if size is None:
        raise ValueError(f"cannot parse {value!r} as a size (e.g. '16GB')")
    if size < _MIN_MEMORY:
        raise ValueError(f"{value!r} is only {size} bytes; give a unit, e.g. '16GB'")
    return value


def _check_walltime(value: str) -> str:
    match = _WALLTIME.match(value)
    if match is None:
        raise ValueError(f"cannot parse {value!r} as HH:MM:SS (e.g. '02:00:00')")
    if not any(int(part) for part in match.groups()):
        raise ValueError(f"{value!r} is zero")
    return value


def _check_directive_path(value: str, *, what: str) -> None:
    """Refuse a path that a ``#SBATCH``/``#PBS`` line cannot hold literally."""
    bad = _UNSAFE_IN_DIRECTIVE.search(value)
    if bad is not None:
        raise ValueError(
            f"{what} {value!r} contains {bad.group()!r}, which #SBATCH/#PBS lines cannot "
            "hold; set log_directory to a plain path"
        )


def _format_error(err: ValidationError) -> str:
    first = err.errors()[0]
    loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first["loc"])[1:]
    kind = first["type"]
    if kind == "extra_forbidden":
        known = ", ".join(ClusterConfig.model_fields)
        return f"unknown key '{loc}' (known keys: {known})"
    if kind == "missing":
        return f"{loc}: missing (required)"
    if kind == "value_error":
        msg = str(first.get("ctx", {}).get("error", first["msg"]))
    else:
        msg = f"{first['msg']}, got {first['input']!r}"
    return f"{loc}: {msg}" if loc else msg


def load_cluster_config(path: str | Path) -> ClusterConfig:
    """Read a cluster configuration from a YAML file.

    Parameters
    ----------
    path : str or Path
        YAML mapping of :class:`ClusterConfig` keys.

    Returns
    -------
    ClusterConfig

    Raises
    ------
    ClusterConfigError
        One line naming the file and the offending key, when the file is missing, is not
        YAML, is not a mapping, or holds an unknown or invalid key.
    """
    path = Path(path)
    if not path.is_file():
        raise ClusterConfigError(f"{path}: cluster configuration file not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ClusterConfigError(f"{path}: not valid YAML ({err.__class__.__name__})") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ClusterConfigError(f"{path}: cannot read ({err})") from None
    if not isinstance(data, dict):
        raise ClusterConfigError(f"{path}: expected a mapping of cluster settings")
    try:
        return ClusterConfig.model_validate(data)
    except ValidationError as err:
        raise ClusterConfigError(f"{path}: {_format_error(err)}") from None


# --------------------------------------------------------------------------- dask cluster


def cluster_kwargs(config: ClusterConfig) -> dict[str, Any]:
    """Keyword arguments of ``SLURMCluster``/``PBSCluster`` for ``config``.

    Unset optional settings are left out, so that dask-jobqueue's own configuration
    (``~/.config/dask/jobqueue.yaml``) still applies to them. Thread limits
    (``OMP_NUM_THREADS=1`` ...) are exported before the prologue.
    """
    kwargs: dict[str, Any] = {
        "cores": config.cores,
        "processes": config.processes,
        "memory": config.memory,
        "walltime": config.walltime,
        "job_name": "mtrack-dask",
        "job_script_prologue": [f"export {name}=1" for name in THREAD_LIMITS]
        + list(config.job_script_prologue),
    }
    optional = {
        "queue": config.queue,
        "account": config.account,
        "local_directory": config.local_directory,
        "log_directory": config.log_directory,
        "python": config.python,
        "job_extra_directives": list(config.job_extra_directives) or None,
    }
    kwargs.update({key: value for key, value in optional.items() if value is not None})
    return kwargs


def _cluster_class(system: str) -> type[JobQueueCluster]:
    from dask_jobqueue import PBSCluster, SLURMCluster

    return {"slurm": SLURMCluster, "pbs": PBSCluster}[system]


def make_cluster(config: ClusterConfig, *, scale: bool = True, **kwargs: Any) -> JobQueueCluster:
    """Start a dask-jobqueue cluster (scheduler here, workers as queue jobs).

    Parameters
    ----------
    config : ClusterConfig
    scale : bool
        Submit ``config.jobs`` worker jobs now (``cluster.scale(jobs=config.jobs)``). With
        ``False`` nothing is submitted; call ``cluster.scale(jobs=...)`` later.
    **kwargs
        Passed on to ``SLURMCluster``/``PBSCluster`` (e.g. ``interface="ib0"``,
        ``scheduler_options={"dashboard_address": ":8788"}``); they override ``config``.

    Returns
    -------
    dask_jobqueue.JobQueueCluster
        Make a ``distributed.Client(cluster)`` from it, and close both when done.

    Raises
    ------
    ClusterConfigError
        When ``scale`` is true but the submission command (``sbatch``/``qsub``) is not on PATH.
    """
    if scale:
        _require_submit_command(config.system)
    cluster = _cluster_class(config.system)(**{**cluster_kwargs(config), **kwargs})
    if scale:
        try:
            cluster.scale(jobs=config.jobs)
        except BaseException:
            cluster.close()
            raise
    return cluster


def _require_submit_command(system: str) -> None:
    command = SUBMIT_COMMAND[system]
    if shutil.which(command) is None:
        raise ClusterConfigError(
            f"cannot submit {system} jobs: '{command}' is not on PATH "
            "(run this on the cluster's login node)"
        )


def cluster_job_script(config: ClusterConfig) -> str:
    """The dask worker job script that :func:`make_cluster` would submit.

    A throw-away cluster object is made (its scheduler runs briefly in this process)
    and closed again; no job is submitted and no queueing system is needed.
    """
    cluster = make_cluster(config, scale=False, scheduler_options={"dashboard_address": ":0"})
    try:
        return cluster.job_script()
    finally:
        cluster.close()


# --------------------------------------------------------------------------- job array


def task_list_path(script_path: str | Path) -> Path:
    """Where :func:`write_job_array` puts the task list: ``<script stem>.tasks.txt`` beside it."""
    script_path = Path(script_path)
    return script_path.with_name(f"{script_path.stem}.tasks.txt")


def _check_text_path(value: str, *, what: str) -> None:
    if "\n" in value or "\r" in value or "\0" in value:
        raise ClusterConfigError(f"{what} {value!r} contains a line break")


def _check_mtrack_args(mtrack_args: Sequence[str]) -> list[str]:
    args = [str(arg) for arg in mtrack_args]
    for arg in args:
        _check_text_path(arg, what="mtrack argument")
        option = arg.split("=", 1)[0]
        if option in RESERVED_OPTIONS:
            raise ClusterConfigError(
                f"mtrack argument {option} is set by the job array script; leave it out"
            )
    return args


def _log_folder(config: ClusterConfig, out: str) -> str:
    folder = config.log_directory if config.log_directory is not None else out
    folder = str(Path(folder).expanduser())
    try:
        _check_directive_path(folder, what="log folder")
    except ValueError as err:
        raise ClusterConfigError(str(err)) from None
    return folder.rstrip("/") or "/"


def _memory_directive(config: ClusterConfig) -> str:
    if config.system == "slurm":
        from dask_jobqueue.slurm import slurm_format_bytes_ceil

        return slurm_format_bytes_ceil(config.memory_bytes)
    from dask_jobqueue.pbs import pbs_format_bytes_ceil

    return pbs_format_bytes_ceil(config.memory_bytes)


def _slurm_directives(config: ClusterConfig, *, name: str, n_tasks: int, logs: str) -> list[str]:
    lines = [
        f"--job-name={name}",
        f"--array=0-{n_tasks - 1}",
        "--nodes=1",
        "--ntasks=1",
        f"--cpus-per-task={config.cores}",
        f"--mem={_memory_directive(config)}",
        f"--time={config.walltime}",
    ]
    if config.queue is not None:
        lines.append(f"--partition={config.queue}")
    if config.account is not None:
        lines.append(f"--account={config.account}")
    lines.append(f"--output={logs}/{name}_%A_%a.log")
    lines.extend(config.job_extra_directives)
    return [f"#SBATCH {line}" for line in lines]


def _pbs_directives(config: ClusterConfig, *, name: str, n_tasks: int, logs: str) -> list[str]:
    lines = [f"-N {name}"]
    # PBS Pro refuses a one-element range: a single movie is submitted as a plain job
    lines += [f"-J 0-{n_tasks - 1}"] if n_tasks > 1 else []
    index = "^array_index^" if n_tasks > 1 else "0"
    lines += [
        f"-l select=1:ncpus={config.cores}:mem={_memory_directive(config)}",
        f"-l walltime={config.walltime}",
    ]
    if config.queue is not None:
        lines.append(f"-q {config.queue}")
    if config.account is not None:
        lines.append(f"-A {config.account}")
    lines += [f"-o {logs}/{name}_{index}.out", f"-e {logs}/{name}_{index}.err"]
    lines.extend(config.job_extra_directives)
    return [f"#PBS {line}" for line in lines]


def array_command(
    config: ClusterConfig, *, task_list: str | Path, out: str | Path,
    mtrack_args: Sequence[str] = (),
) -> str:
    """The shell command one array task runs (its index read from the scheduler's variable)."""
    index = INDEX_VARIABLE[config.system]
    words = ["mtrack", "batch", "--from-list", shlex.quote(str(task_list)),
             "--task", f'"${index}"', "--out", shlex.quote(str(out)),
             "--workers", str(config.cores)]
    words += [shlex.quote(arg) for arg in _check_mtrack_args(mtrack_args)]
    return " ".join(words)


def job_array_script(
    config: ClusterConfig,
    *,
    task_list: str | Path,
    out: str | Path,
    n_tasks: int,
    mtrack_args: Sequence[str] = (),
    name: str = "mtrack",
    script_path: str | Path | None = None,
) -> str:
    """Text of a SLURM or PBS Pro job array script that runs one movie per array task.

    Array task *i* (``$SLURM_ARRAY_TASK_ID`` or ``$PBS_ARRAY_INDEX``, 0-based) runs
    ``mtrack batch --from-list TASK_LIST --task i --out OUT --workers CORES [mtrack_args]``.

    Parameters
    ----------
    config : ClusterConfig
        Resources of one array task (``cores``, ``memory``, ``walltime``, ``queue``, ...);
        ``processes`` and ``jobs`` only concern :func:`make_cluster`.
    task_list : str or Path
        File with one input path per line, as the compute nodes see it (best absolute).
    out : str or Path
        Output folder of ``mtrack batch``; job logs go there unless ``log_directory`` is set.
    n_tasks : int
        Number of lines of ``task_list``: the array covers ``0..n_tasks-1``.
    mtrack_args : sequence of str
        Further ``mtrack batch`` arguments (e.g. ``["--params", "p.yaml"]``), shell-quoted.
    name : str
        Job name.
    script_path : str or Path, optional
        Where the script will be saved, for the submission hint in its header.

    Returns
    -------
    str

    Raises
    ------
    ClusterConfigError
        For a bad ``n_tasks`` or ``name``, a path with a line break, a log folder that a
        directive cannot hold, or ``mtrack_args`` repeating an option the script sets.
    """
    if isinstance(n_tasks, bool) or not isinstance(n_tasks, int) or n_tasks < 1:
        raise ClusterConfigError(f"n_tasks must be a positive integer, got {n_tasks!r}")
    if not _NAME.match(name):
        raise ClusterConfigError(
            f"job name {name!r} must start with a letter and hold only letters, digits, _ . -"
        )
    task_list, out = str(task_list), str(out)
    _check_text_path(task_list, what="task list")
    _check_text_path(out, what="output folder")
    logs = _log_folder(config, out)
    command = array_command(config, task_list=task_list, out=out, mtrack_args=mtrack_args)

    system, index = config.system, INDEX_VARIABLE[config.system]
    if system == "slurm":
        directives = _slurm_directives(config, name=name, n_tasks=n_tasks, logs=logs)
    else:
        directives = _pbs_directives(config, name=name, n_tasks=n_tasks, logs=logs)
    script = shlex.quote(str(script_path)) if script_path is not None else "THIS_FILE"
    finish = f"mtrack batch --from-list {shlex.quote(task_list)} --out {shlex.quote(out)}"
    header = [
        f"# mtrack job array ({system}): {n_tasks} movie(s), one per array task, listed in",
        f"#   {shlex.quote(task_list)}",
        f"# Submit:  {SUBMIT_COMMAND[system]} {script}",
        f"# Logs:    {logs}/",
        "# When the whole array has finished, run once (it skips finished movies and",
        "# writes summary.csv):",
        f"#   {finish}",
    ]
    if system == "pbs":
        header.append("# The array index of a task is $PBS_ARRAY_INDEX (0-based).")
    else:
        header.append("# The array index of a task is $SLURM_ARRAY_TASK_ID (0-based).")
        header.append("# If sbatch refuses the array size (MaxArraySize), split the task list.")

    body = ["set -euo pipefail", ""]
    body += ["# mtrack parallelises over frames itself (--workers): one thread per library"]
    body += [f"export {variable}=1" for variable in THREAD_LIMITS]
    body.append("")
    if system == "pbs":
        body += ["# PBS starts jobs in $HOME: run from the submission folder",
                 'cd "${PBS_O_WORKDIR:-.}"']
        if n_tasks == 1:
            body.append('PBS_ARRAY_INDEX="${PBS_ARRAY_INDEX:-0}"  # single movie: plain job')
        body.append("")
    body.append(
        f': "${{{index}:?is not set: submit with {SUBMIT_COMMAND[system]}, '
        f'or set it to run one task by hand}}"'
    )
    body.append("")
    if config.job_script_prologue:
        # module and virtualenv scripts often read unset variables
        body += ["# prologue (cluster configuration)", "set +u"]
        body += list(config.job_script_prologue)
        body += ["set -u", ""]
    if config.local_directory is not None:
        body += [
            "# node-local scratch for temporary files",
            "set +u",
            f"MTRACK_SCRATCH={config.local_directory}",
            "set -u",
            'if [ -n "$MTRACK_SCRATCH" ]; then export DASK_TEMPORARY_DIRECTORY="$MTRACK_SCRATCH"; fi',
            "",
        ]
    body.append(command)
    return "\n".join(["#!/usr/bin/env bash", *directives, "#", *header, "", *body]) + "\n"


def _absolute(path: str | Path) -> Path:
    return Path(os.path.abspath(Path(path).expanduser()))


def _task_lines(inputs: Iterable[str | Path]) -> list[str]:
    lines: list[str] = []
    missing: list[str] = []
    for item in inputs:
        text = str(_absolute(item))
        _check_text_path(text, what="input")
        if text in lines:
            continue
        lines.append(text)
        if not os.path.exists(text):
            missing.append(text)
    if not lines:
        raise ClusterConfigError("no input movies to put in the job array")
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise ClusterConfigError(f"input not found: {missing[0]}{more}")
    return lines


def _write_temp(target: Path, text: str, mode: int) -> Path:
    """Write ``text`` to a new hidden file beside ``target`` (umask applies to ``mode``)."""
    temp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp


def write_job_array(
    inputs: Iterable[str | Path],
    out: str | Path,
    config: ClusterConfig,
    script_path: str | Path,
    *,
    mtrack_args: Sequence[str] = (),
    overwrite: bool = False,
) -> tuple[Path, Path]:
    """Write a job array script and its task list, ready for ``sbatch``/``qsub``.

    The task list (``<script stem>.tasks.txt`` beside the script) holds the absolute input
    paths, one per line, duplicates dropped. Both files are written under temporary names
    and renamed into place (the script last), so a failure leaves neither a partial file nor
    a temporary one. The log folder (``log_directory``, else ``out``) is created, since the
    queueing system does not create it.

    Parameters
    ----------
    inputs : iterable of str or Path
        Input movies; each must exist.
    out : str or Path
        Output folder of ``mtrack batch``.
    config : ClusterConfig
    script_path : str or Path
        Where to write the script (executable).
    mtrack_args : sequence of str
        Further ``mtrack batch`` arguments for every task.
    overwrite : bool
        Replace an existing script or task list.

    Returns
    -------
    tuple of Path
        ``(script_path, task_list_path)``, both absolute.

    Raises
    ------
    ClusterConfigError
        One line: a file exists (without ``overwrite``), an input is missing, no inputs,
        or a file or folder cannot be written.
    """
    script = _absolute(script_path)
    tasks = task_list_path(script)
    out = _absolute(out)
    for target in (script, tasks):
        if target.is_dir():
            raise ClusterConfigError(f"{target}: is a folder")
        if target.exists() and not overwrite:
            raise ClusterConfigError(f"{target}: already exists (use overwrite to replace it)")
    lines = _task_lines(inputs)
    if config.log_directory is not None:
        config = config.model_copy(
            update={"log_directory": str(_absolute(config.log_directory))}
        )
    text = job_array_script(
        config, task_list=tasks, out=out, n_tasks=len(lines), mtrack_args=mtrack_args,
        script_path=script,
    )
    logs = Path(_log_folder(config, str(out)))

    temps: list[Path] = []
    new_tasks = not tasks.exists()
    try:
        for folder in dict.fromkeys([script.parent, logs]):
            folder.mkdir(parents=True, exist_ok=True)
        temps.append(_write_temp(tasks, "".join(f"{line}\n" for line in lines), 0o666))
        temps.append(_write_temp(script, text, 0o777))
        os.chmod(temps[1], stat.S_IMODE(os.stat(temps[1]).st_mode) | stat.S_IXUSR)
        os.replace(temps[0], tasks)
        try:
            os.replace(temps[1], script)
        except BaseException:
            if new_tasks:  # no script without its task list, nor a task list without script
                tasks.unlink(missing_ok=True)
            raise
    except OSError as err:
        where = err.filename
        if where is None or Path(where).name.endswith(".tmp"):
            where = script.parent
        raise ClusterConfigError(
            f"{where}: cannot write job array ({err.strerror or err})"
        ) from None
    finally:
        for temp in temps:
            temp.unlink(missing_ok=True)
    return script, tasks
