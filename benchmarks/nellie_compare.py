"""Speed and memory side by side with Nellie (the napari organelle tool) on the same movie.

mtrack's whole pipeline runs on both channels of a dual-channel movie (``mtrack run``);
Nellie's full default pipeline (``nellie.run.run``: Frangi filter, labelling, skeleton
network, motion-capture markers, Hu-moment tracking, voxel reassignment, hierarchical
feature extraction) runs on the mito channel alone, written as a calibrated OME-TIFF.
Each tool runs in its own subprocess; the table gives wall clock (interpreter start-up
included for both), peak RSS and the bytes each tool writes. The issue's target is
mtrack/Nellie <= 0.2 (``--target``).

Inside Nellie's venv a small embedded script (``NELLIE_SCRIPT``) builds ``FileInfo`` /
``ImInfo`` and runs the seven stages of ``nellie.run.run`` one by one with run()'s default
arguments, so each stage is timed and, if one fails, the table names it, gives the time of
the stages that finished and marks the ratio as not comparable. Nellie writes everything
(its OME-TIFF copy of the input, a dozen full-size intermediate stacks in
``nellie_necessities/``, feature CSVs) into a fresh folder per run, measured and then deleted.
At its default radii (0.25-1 µm) Nellie finds almost nothing in mtrack's simulated 3D movies
(1 µm z step: objects one plane thick do not survive its 3D Frangi mask opening) and its
feature stage then fails; 2D movies run through.

Nellie goes in its OWN virtual environment (it pulls napari[all] and pins its own numpy,
scikit-image, ...), so the project's environment is untouched. On CPU it runs with numpy
when cupy is absent; nothing in the pipeline needs a display.

    python -m venv /tmp/nellie-venv && /tmp/nellie-venv/bin/pip install nellie

Run (from the repository root; the checkout's ``mtrack`` package is used):

    python benchmarks/nellie_compare.py                                # simulated 2D movie
    python benchmarks/nellie_compare.py --ndim 3                       # simulated 3D movie
    python benchmarks/nellie_compare.py --movie sample_data/sim2d/movie.tif
    python benchmarks/nellie_compare.py --config pipelines/widefield_cellpainting.yaml \
        --painting ../shared/realdata/cellpainting/plate1_A14_site1_Ch1.tiff   # real mito
    python benchmarks/nellie_compare.py --movie M.tif --mito-channel 1 --membrane-channel 0 \\
        --nellie-python ~/venvs/nellie/bin/python --repeats 3 --threads 4 --json out.json

``--threads N`` (default: all cores) is given to mtrack as ``--workers N``; both children get
``OMP/OPENBLAS/MKL/NUMEXPR_NUM_THREADS=N`` and, when N is below the core count, a CPU affinity
of N cores (Nellie's KD-tree queries use ``workers=-1``, i.e. every core they can see).
Peak RSS is ``ru_maxrss`` of each child from ``os.wait4`` (the largest single process of the
child's tree) and, when psutil is installed, the peak of the whole tree's summed RSS
sampled every 50 ms.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import tifffile

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the checkout's mtrack, whatever is installed

from mtrack.io import open_movie, write_movie_tiff

DEFAULT_NELLIE_PYTHON = "/tmp/nellie-venv/bin/python"

# Runs inside Nellie's venv: argv = mito.ome.tif, output folder, device.
# The stages and keyword arguments are those of nellie.run.run (nellie 1.0.4) at its
# defaults, run one by one so that each is timed and a failing stage is named. Keyword
# arguments a stage does not accept (older/newer Nellie) are dropped and reported.
# Prints one line "NELLIE_RESULT {json}" at the end.
NELLIE_SCRIPT = r"""
import inspect, json, sys, time, traceback
t_start = time.perf_counter()
from importlib.metadata import version
import nellie.run as nrun
from nellie.im_info.verifier import FileInfo, ImInfo
t_imported = time.perf_counter()
path, out_dir, device = sys.argv[1], sys.argv[2], sys.argv[3]
res = {"nellie_version": version("nellie"), "import_s": t_imported - t_start,
       "stages_s": {}, "dropped_kwargs": {}, "ok": False}
try:
    import cupy  # noqa: F401
    res["cupy"] = True
except Exception:
    res["cupy"] = False
dev = {"device": device, "low_memory": False}
stages = [
    ("Filter", "Filter", dict(remove_edges=False, **dev)),
    ("Label", "Label", dict(otsu_thresh_intensity=False, threshold=None, **dev)),
    ("Network", "Network", {"device": device}),
    ("Markers", "Markers", {"device": device}),
    ("HuMomentTracking", "HuMomentTracking", dict(dev)),
    ("VoxelReassigner", "VoxelReassigner", {"device": device}),
    ("Hierarchy", "Hierarchy", dict(skip_nodes=False, **dev)),
]
run_src = inspect.getsource(nrun.run)
res["stages_not_in_run"] = [c for _, c, _ in stages if c not in run_src]
stage = "FileInfo"
try:
    t0 = time.perf_counter()
    fi = FileInfo(path, output_dir=out_dir)
    fi.find_metadata()
    fi.load_metadata()
    res.update(axes=fi.axes, shape=list(fi.shape), dim_res=fi.dim_res,
               validation_errors=list(getattr(fi, "validation_errors", [])))
    if res["validation_errors"]:
        raise ValueError("; ".join(res["validation_errors"]))
    stage = "ImInfo"
    im_info = ImInfo(fi)  # writes Nellie's own OME-TIFF copy of the input
    res["stages_s"]["ImInfo"] = time.perf_counter() - t0
    for stage, cls_name, kwargs in stages:
        cls = getattr(nrun, cls_name)
        accepted = inspect.signature(cls.__init__).parameters
        if not any(p.kind == p.VAR_KEYWORD for p in accepted.values()):
            dropped = [k for k in kwargs if k not in accepted]
            if dropped:
                res["dropped_kwargs"][stage] = dropped
            kwargs = {k: v for k, v in kwargs.items() if k in accepted}
        t0 = time.perf_counter()
        cls(im_info, **kwargs).run()
        res["stages_s"][stage] = time.perf_counter() - t0
    res["ok"] = True
except Exception as exc:
    res["failed_stage"] = stage
    res["error"] = f"{type(exc).__name__}: {exc}"
    res["traceback"] = traceback.format_exc()[-3000:]
res["pipeline_s"] = sum(res["stages_s"].values())
if "Label" in res["stages_s"]:  # diagnostics, outside the timed stages
    import numpy as np, tifffile
    lab = tifffile.memmap(im_info.pipeline_paths["im_instance_label"])
    res["labelled_voxels_per_frame"] = [int(np.count_nonzero(f)) for f in lab]
    del lab
print("NELLIE_RESULT " + json.dumps(res, default=str), flush=True)
sys.exit(0 if res["ok"] else 4)
"""

def _tree_rss(pid: int, psutil) -> int:
    try:
        proc = psutil.Process(pid)
        procs = [proc] + proc.children(recursive=True)
    except psutil.Error:
        return 0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def run_measured(cmd: list[str], log: Path, threads: int, env_extra: dict | None = None,
                 cwd: Path | None = None) -> dict:
    """Run `cmd`, return wall seconds, exit code, ru_maxrss (bytes) and sampled tree RSS."""
    try:
        import psutil
    except ImportError:
        psutil = None
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
        env[var] = str(threads)
    env.update(env_extra or {})
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    pin = cpus[:threads] if 0 < threads < len(cpus) else None

    def preexec():
        if pin:
            os.sched_setaffinity(0, pin)

    with open(log, "w") as fh:
        start = time.perf_counter()
        # preexec_fn only sets the CPU affinity; the sampler thread starts after the fork
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                preexec_fn=preexec if pin else None)  # noqa: PLW1509
        peak_tree, stop = [0], threading.Event()

        def sample():
            while not stop.is_set():
                peak_tree[0] = max(peak_tree[0], _tree_rss(proc.pid, psutil))
                stop.wait(0.05)

        sampler = None
        if psutil is not None:
            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        stop.set()
        if sampler is not None:
            sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
    return {"wall_s": wall, "rc": proc.returncode, "maxrss_bytes": usage.ru_maxrss * 1024,
            "tree_rss_bytes": peak_tree[0] if psutil is not None else None,
            "cpu_s": usage.ru_utime + usage.ru_stime}


def folder_bytes(path: Path) -> tuple[int, int]:
    """Total bytes and number of files under `path`."""
    total = count = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
                count += 1
            except OSError:
                pass
    return total, count


def write_mito_ome(movie, channel: int, path: Path) -> tuple[int, ...]:
    """Write one channel as a calibrated OME-TIFF (TYX or TZYX), plane by plane."""
    n_t, n_c, n_z, n_y, n_x = movie.shape
    if not 0 <= channel < n_c:
        sys.exit(f"nellie_compare: error: mito channel {channel} out of range (movie has {n_c})")
    dtype = movie.dtype
    if dtype not in (np.uint8, np.uint16, np.float32):
        dtype = np.dtype(np.float32)

    def planes():
        for t in range(n_t):
            frame = movie.frame(t)[channel]
            for k in range(n_z):
                yield frame[k].astype(dtype, copy=False)

    z_step, pix_y, pix_x = movie.scale
    meta = {"PhysicalSizeX": pix_x, "PhysicalSizeXUnit": "µm",
            "PhysicalSizeY": pix_y, "PhysicalSizeYUnit": "µm",
            "TimeIncrement": movie.frame_interval, "TimeIncrementUnit": "s"}
    if n_z > 1:
        shape, meta["axes"] = (n_t, n_z, n_y, n_x), "TZYX"
        meta.update(PhysicalSizeZ=z_step, PhysicalSizeZUnit="µm")
    else:
        shape, meta["axes"] = (n_t, n_y, n_x), "TYX"
    tifffile.imwrite(path, planes(), shape=shape, dtype=dtype, ome=True, metadata=meta)
    return shape


def _mb(n: float | None) -> str:
    return "n/a" if n is None else f"{n / 1e6:.0f} MB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = parser.add_argument_group("movie")
    src.add_argument("--movie", type=Path, help="existing dual-channel movie (default: simulate)")
    src.add_argument("--mito-channel", type=int, default=None, help="default 0")
    src.add_argument("--membrane-channel", type=int, default=None, help="default 1")
    src.add_argument("--painting", type=Path, metavar="TIFF", help="a Cell Painting field "
                     "(../shared/realdata/cellpainting/*.tiff: channel 4 MitoTracker, 3 WGA) "
                     "repeated --frames times (default 10) with fresh shot noise")
    src.add_argument("--config", type=Path, help="mtrack parameter file (e.g. "
                     "pipelines/widefield_cellpainting.yaml)")
    src.add_argument("--ndim", type=int, choices=(2, 3), default=2, help="simulated movie")
    src.add_argument("--frames", type=int, help="simulated frames (default 20 in 2D, 12 in 3D)")
    src.add_argument("--shape", type=int, nargs="+", metavar="N",
                     help="simulated (Y X) or (Z Y X); default 256 256 / 14 160 160")
    src.add_argument("--seed", type=int, default=0)
    parser.add_argument("--nellie-python", default=None,
                        help=f"python of Nellie's venv (default {DEFAULT_NELLIE_PYTHON})")
    parser.add_argument("--nellie-device", default="cpu", choices=("cpu", "auto", "gpu"))
    parser.add_argument("--repeats", type=int, default=1, help="runs of each tool (median kept)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="CPU threads for each tool (mtrack --workers; default all cores)")
    parser.add_argument("--workdir", type=Path, help="scratch folder (default: a temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--skip-nellie", action="store_true", help="time mtrack only")
    parser.add_argument("--target", type=float, default=0.2, help="wanted mtrack/Nellie ratio")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if args.repeats < 1 or args.threads < 1:
        parser.error("--repeats and --threads must be at least 1")

    nellie_py = None
    if not args.skip_nellie:
        nellie_py = args.nellie_python or DEFAULT_NELLIE_PYTHON
        if not (os.path.isfile(nellie_py) and os.access(nellie_py, os.X_OK)):
            sys.exit(f"nellie_compare: error: Nellie's python {nellie_py!r} not found; install "
                     "it with: python -m venv /tmp/nellie-venv && /tmp/nellie-venv/bin/pip "
                     "install nellie  (or pass --nellie-python PATH)")
        check = subprocess.run([nellie_py, "-c", "import nellie.run"], capture_output=True,
                               text=True, check=False)
        if check.returncode:
            sys.exit(f"nellie_compare: error: {nellie_py} cannot import nellie.run:\n"
                     f"{check.stderr.strip()[-2000:]}")

    work = Path(args.workdir or tempfile.mkdtemp(prefix="nellie_compare_"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        # (a) the movie
        if args.movie is not None:
            movie_path = args.movie.resolve()
            label = str(args.movie)
        elif args.painting is not None:  # a real field: dense MitoTracker network + WGA
            field = open_movie(args.painting)
            still = field.frame(0)[[4, 3]].astype(np.float64)
            rng = np.random.default_rng(args.seed)
            image = np.stack([rng.poisson(still).astype(np.uint16)
                              for _ in range(args.frames or 10)])
            movie_path = work / "movie.tif"
            write_movie_tiff(movie_path, image, scale=field.scale, frame_interval=600.0,
                             channel_names=("mito", "membrane"))
            label = f"Cell Painting field {args.painting.name}, {len(image)} frames"
        else:
            from mtrack.simulate import simulate_movie

            kwargs = {"ndim": args.ndim, "seed": args.seed}
            if args.frames is not None:
                kwargs["frames"] = args.frames
            if args.shape:
                kwargs["shape"] = tuple(args.shape)
            sim = simulate_movie(**kwargs)
            movie_path = work / "movie.tif"
            write_movie_tiff(movie_path, sim.image, scale=sim.scale,
                             frame_interval=sim.frame_interval, channel_names=sim.channel_names)
            label = f"simulated {args.ndim}D seed {args.seed}"
        movie = open_movie(movie_path)
        mito = 0 if args.mito_channel is None else args.mito_channel
        n_t, n_c, n_z, n_y, n_x = movie.shape
        voxels = n_t * n_z * n_y * n_x  # per channel

        # (b) the mito channel alone, calibrated, for Nellie
        mito_path = work / "mito.ome.tif"
        mito_shape = write_mito_ome(movie, mito, mito_path)
        movie.close()
        mito_raw = voxels * np.dtype(movie.dtype).itemsize

        mt_cmd = [sys.executable, "-m", "mtrack.cli", "run", str(movie_path), "--out",
                  str(work / "mtrack_out"), "--overwrite", "--workers", str(args.threads),
                  "--quiet"]
        if args.mito_channel is not None:
            mt_cmd += ["--mito-channel", str(args.mito_channel)]
        if args.membrane_channel is not None:
            mt_cmd += ["--membrane-channel", str(args.membrane_channel)]
        if args.config is not None:
            mt_cmd += ["--config", str(args.config.absolute())]
        mt_env = {"PYTHONPATH": os.pathsep.join(
            [str(REPO)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []))}

        mt_runs, ne_runs, ne_info = [], [], {}
        mt_written = ne_written = (0, 0)
        for rep in range(args.repeats):
            # (c) mtrack, both channels, whole pipeline
            r = run_measured(mt_cmd, work / f"mtrack_{rep}.log", args.threads, mt_env, cwd=REPO)
            if r["rc"] != 0:
                sys.exit(f"nellie_compare: error: mtrack exited {r['rc']}:\n"
                         + (work / f"mtrack_{rep}.log").read_text()[-3000:])
            try:
                r["internal_s"] = json.loads(
                    (work / "mtrack_out" / "run.json").read_text())["timings_s"]["total"]
            except (OSError, KeyError, ValueError):
                r["internal_s"] = None
            mt_written = folder_bytes(work / "mtrack_out")
            mt_runs.append(r)
            print(f"[{rep + 1}/{args.repeats}] mtrack {r['wall_s']:.2f} s", file=sys.stderr)
            if nellie_py is None:
                continue
            # (d) Nellie, mito channel, full default pipeline, fresh output folder
            ne_out = work / "nellie_out"
            shutil.rmtree(ne_out, ignore_errors=True)
            log = work / f"nellie_{rep}.log"
            r = run_measured([nellie_py, "-c", NELLIE_SCRIPT, str(mito_path), str(ne_out),
                              args.nellie_device], log, args.threads,
                             {"PYTHONWARNINGS": "ignore"})
            text = log.read_text(errors="replace")
            found = [line for line in text.splitlines() if line.startswith("NELLIE_RESULT ")]
            info = json.loads(found[-1][len("NELLIE_RESULT "):]) if found else {}
            if not info or "FileInfo" == info.get("failed_stage"):
                sys.exit(f"nellie_compare: error: Nellie exited {r['rc']}: "
                         f"{info.get('error', 'no result line')}\n{text[-3000:]}")
            if r["rc"] != 0 or not info.get("ok"):
                print(f"nellie_compare: warning: Nellie failed in stage "
                      f"{info.get('failed_stage')}: {info.get('error')} (log: {log})",
                      file=sys.stderr)
            r["pipeline_s"] = info.get("pipeline_s")
            r["stages_s"] = info.get("stages_s", {})
            r["ok"], r["failed_stage"] = info.get("ok", False), info.get("failed_stage")
            ne_info = info
            ne_written = folder_bytes(ne_out)
            ne_runs.append(r)
            print(f"[{rep + 1}/{args.repeats}] Nellie {r['wall_s']:.2f} s", file=sys.stderr)

        # (e) the table
        def med(runs, key):
            vals = [r[key] for r in runs if r.get(key) is not None]
            return statistics.median(vals) if vals else None

        mt_s, ne_s = med(mt_runs, "wall_s"), med(ne_runs, "wall_s")
        ratio = mt_s / ne_s if ne_s else None
        try:
            with open("/proc/cpuinfo") as fh:
                cpu_model = next(line.split(":", 1)[1].strip() for line in fh
                                 if line.startswith("model name"))
        except (OSError, StopIteration):
            cpu_model = platform.processor() or platform.machine()
        load = os.getloadavg() if hasattr(os, "getloadavg") else None
        summary = {
            "movie": label, "movie_file_bytes": movie_path.stat().st_size,
            "shape_tczyx": [n_t, n_c, n_z, n_y, n_x], "mito_ome_shape": list(mito_shape),
            "megavoxels_per_channel": voxels / 1e6, "repeats": args.repeats,
            "threads": args.threads, "mtrack_cmd": " ".join(mt_cmd),
            "mtrack": {"wall_s": mt_s, "internal_s": med(mt_runs, "internal_s"),
                       "maxrss_bytes": max(r["maxrss_bytes"] for r in mt_runs),
                       "tree_rss_bytes": med(mt_runs, "tree_rss_bytes"),
                       "written_bytes": mt_written[0], "written_files": mt_written[1],
                       "runs": mt_runs},
            "nellie": None if not ne_runs else {
                "version": ne_info.get("nellie_version"), "cupy": ne_info.get("cupy"),
                "device": args.nellie_device, "dropped_kwargs": ne_info.get("dropped_kwargs"),
                "stages_not_in_run": ne_info.get("stages_not_in_run"),
                "axes": ne_info.get("axes"), "dim_res": ne_info.get("dim_res"),
                "ok": all(r["ok"] for r in ne_runs), "failed_stage": ne_info.get("failed_stage"),
                "error": ne_info.get("error"),
                "labelled_voxels_per_frame": ne_info.get("labelled_voxels_per_frame"),
                "wall_s": ne_s, "pipeline_s": med(ne_runs, "pipeline_s"),
                "stages_s": ne_runs[-1]["stages_s"],
                "maxrss_bytes": max(r["maxrss_bytes"] for r in ne_runs),
                "tree_rss_bytes": med(ne_runs, "tree_rss_bytes"),
                "written_bytes": ne_written[0], "written_files": ne_written[1],
                "written_vs_mito_raw": ne_written[0] / mito_raw, "runs": ne_runs},
            "ratio_mtrack_over_nellie": ratio, "target_ratio": args.target,
            "machine": {"cores": os.cpu_count(), "cpu": cpu_model, "loadavg": load,
                        "python": platform.python_version(), "platform": platform.platform()},
            "date": _dt.datetime.now().isoformat(timespec="seconds"),
        }

        mt = summary["mtrack"]
        internal = f"{mt['internal_s']:.2f}" if mt["internal_s"] is not None else "n/a"
        rows: list[tuple[str, str]] = []

        def row(key: str, *parts: str) -> None:
            rows.append((key, "".join(parts)))

        row("movie", label)
        row("shape T,C,Z,Y,X", f"{n_t}, {n_c}, {n_z}, {n_y}, {n_x} ({movie.dtype})")
        row("megavoxels / channel", f"{voxels / 1e6:.2f} (x{n_c} channels for mtrack)")
        row("threads / repeats", f"{args.threads} / {args.repeats} (median wall clock)")
        row("mtrack s (both channels)", f"{mt_s:.2f}  (pipeline {internal} s from run.json)")
        n = summary["nellie"]
        if n:
            backend = "cupy" if n["cupy"] else "numpy/CPU"
            row("Nellie s (mito channel)", f"{ne_s:.2f}  (stages {n['pipeline_s']:.2f} s, ",
                f"nellie {n['version']}, {backend})")
            row("Nellie stages s", ", ".join(f"{k} {v:.2f}" for k, v in n["stages_s"].items()))
            if not n["ok"]:
                lab = n["labelled_voxels_per_frame"]
                row("Nellie FAILED", f"in stage {n['failed_stage']}: {n['error']}",
                    f" (labelled voxels per frame: {lab})" if lab else "")
            row("ratio mtrack/Nellie", f"{ratio:.3f}  (target <= {args.target}: ",
                "met" if ratio <= args.target else "NOT met",
                f"; Nellie/mtrack = {1 / ratio:.1f}x)",
                "" if n["ok"] else "  -- NOT comparable: Nellie did not finish")
        row("peak RSS mtrack", f"{_mb(mt['maxrss_bytes'])} largest process, ",
            f"{_mb(mt['tree_rss_bytes'])} tree (sampled)")
        if n:
            row("peak RSS Nellie", f"{_mb(n['maxrss_bytes'])} largest process, ",
                f"{_mb(n['tree_rss_bytes'])} tree (sampled)")
        row("written mtrack", f"{mt_written[0] / 1e6:.2f} MB in {mt_written[1]} files ",
            f"({mt_written[0] / mito_raw:.2f}x one raw channel)")
        if n:
            row("written Nellie", f"{ne_written[0] / 1e6:.2f} MB in {ne_written[1]} files ",
                f"({ne_written[0] / mito_raw:.1f}x the raw mito channel of ",
                f"{mito_raw / 1e6:.2f} MB)")
        row("machine", f"{os.cpu_count()} cores, {cpu_model}",
            f", load avg {load[0]:.2f}" if load else "")
        row("date", summary["date"])
        width = max(len(k) for k, _ in rows)
        for key, value in rows:
            print(f"{key:<{width}}  {value}")
        if args.json:
            args.json.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    finally:
        if args.keep or args.workdir:
            print(f"scratch kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
