"""The ``mtrack`` command: run, batch, slurm-script, report, simulate, evaluate, info.

Every expected failure (bad input, bad parameters, an existing output folder) prints
one line ``mtrack: error: ...`` and exits with status 2; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main"]


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage dump)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="mtrack",
        description="Detect intercellular mitochondrial transfer in live-cell movies.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="detect transfer events in one movie")
    run.add_argument("movie", type=Path, help="TIFF / OME-TIFF / ImageJ hyperstack / OME-Zarr")
    run.add_argument("--out", type=Path, required=True, help="results folder to create")
    _add_analysis_options(run)
    _add_scheduler_options(run)
    run.add_argument("--report", action="store_true", help="also write report.html "
                     "(see mtrack report)")

    batch = sub.add_parser("batch", help="analyse many movies; one results folder each and "
                           "a summary.csv (resumes: finished movies are skipped)")
    batch.add_argument("inputs", nargs="*", help="movie files, folders of movies or glob "
                       "patterns (quote them: 'plate*/**/*.tif')")
    batch.add_argument("--from-list", type=Path, metavar="FILE",
                       help="read movie paths from FILE, one per line")
    batch.add_argument("--task", type=_non_negative_int, metavar="N",
                       help="process only the N-th movie (0-based; one job-array task); "
                            "no summary is written")
    batch.add_argument("--out", type=Path, required=True, help="batch folder")
    batch.add_argument("--sheet", type=Path, metavar="CSV", help="experiment sheet: analyse "
                       "its movies (with its bleed_through column, if any), then write "
                       "batch_report.html and conditions.csv (see mtrack report)")
    _add_analysis_options(batch)
    _add_scheduler_options(batch)
    batch.add_argument("--report", action="store_true", help="also write each movie's "
                       "report.html")

    script = sub.add_parser("slurm-script", help="write a SLURM/PBS job-array script that "
                            "analyses a batch, one movie per array task")
    script.add_argument("inputs", nargs="*", help="movie files, folders or glob patterns")
    script.add_argument("--from-list", type=Path, metavar="FILE",
                        help="read movie paths from FILE, one per line")
    script.add_argument("--out", type=Path, required=True, help="batch folder for the results")
    script.add_argument("--cluster", type=Path, required=True, metavar="YAML",
                        help="cluster file (see pipelines/cluster_slurm.yaml, cluster_pbs.yaml)")
    script.add_argument("--script", type=Path, help="script to write "
                        "(default OUT/mtrack_array.sh; the task list goes beside it)")
    _add_analysis_options(script, overwrite_help="replace an existing script and task list "
                          "(finished movies are still skipped by the tasks)")

    rep = sub.add_parser("report", help="(re)write report.html for results folders from "
                         "their saved tables; with --sheet, the batch report with controls")
    rep.add_argument("paths", nargs="+", type=Path,
                     help="results folders, or batch folders (every results folder inside)")
    rep.add_argument("--sheet", type=Path, metavar="CSV", help="experiment sheet (movie, "
                     "condition, role[, label_type, control_for]): also write "
                     "BATCH/batch_report.html and conditions.csv")
    rep.add_argument("--no-movies", action="store_true",
                     help="only the batch report, not each movie's report")

    bleed = sub.add_parser("bleed-through", help="estimate the membrane->mito bleed-through "
                           "coefficient from single-label (recipient-only) control movies")
    bleed.add_argument("movies", nargs="+", type=Path, help="control movies: membrane "
                       "labelled, mitochondria not")
    bleed.add_argument("--mito-channel", type=int, default=0)
    bleed.add_argument("--membrane-channel", type=int, default=1)
    bleed.add_argument("--frames", type=_positive_int, default=10,
                       help="frames sampled per movie (default 10)")
    bleed.add_argument("--axes")

    sim = sub.add_parser("simulate", help="write a synthetic movie with ground truth")
    sim.add_argument("out", type=Path, help="folder to create (movie.tif, truth.csv)")
    sim.add_argument("--ndim", type=int, choices=(2, 3), default=2)
    sim.add_argument("--frames", type=int, help="number of frames (default 20 in 2D, 12 in 3D)")
    sim.add_argument("--seed", type=int, default=0)
    sim.add_argument("--marker", choices=("ring", "filled"), help="recipient membrane marker")
    sim.add_argument("--overwrite", action="store_true")

    ev = sub.add_parser("evaluate", help="score a results folder against truth")
    ev.add_argument("results", type=Path, help="results folder (with events.csv)")
    ev.add_argument("truth", type=Path, help="truth.csv from simulate, or a reviewed events.csv")
    ev.add_argument("--tolerance-px", type=_positive_float, default=6.0)
    ev.add_argument("--tolerance-frames", type=int, default=2)
    ev.add_argument("--json", type=Path, help="where to write the scores "
                    "(default RESULTS/evaluation.json)")

    info = sub.add_parser("info", help="describe a movie and what is wrong with it")
    info.add_argument("movie", type=Path)
    info.add_argument("--mito-channel", type=int, default=0)
    info.add_argument("--membrane-channel", type=int, default=1)
    info.add_argument("--nuclei-channel", type=int, help="nuclei channel (used for the cell "
                      "diameter estimate)")
    info.add_argument("--axes")
    return parser


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def _positive_int(text: str) -> int:
    value = _non_negative_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


_ANALYSIS_FLAGS = (  # the options slurm-script passes on to each array task
    "--mito-channel", "--membrane-channel", "--nuclei-channel", "--pixel-size", "--z-step",
    "--frame-interval", "--axes", "--config", "--bleed-through",
)


def _add_analysis_options(cmd: argparse.ArgumentParser,
                          overwrite_help: str = "replace existing results") -> None:
    cmd.add_argument("--mito-channel", type=int, help="donor mitochondria channel (default 0)")
    cmd.add_argument("--membrane-channel", type=int, help="recipient membrane channel (default 1)")
    cmd.add_argument("--nuclei-channel", type=int, help="optional nuclei channel to seed cells")
    cmd.add_argument("--pixel-size", type=_positive_float, metavar="UM", help="x/y pixel size, µm")
    cmd.add_argument("--z-step", type=_positive_float, metavar="UM", help="z step, µm")
    cmd.add_argument("--frame-interval", type=_positive_float, metavar="S",
                     help="time between frames, s")
    cmd.add_argument("--axes", help="axes of the stored array when the file does not say "
                     "(letters from TCZYX, e.g. TCYX)")
    cmd.add_argument("--config", type=Path, help="parameter file (YAML)")
    cmd.add_argument("--bleed-through", type=_fraction, metavar="K",
                     help="membrane->mito bleed-through coefficient to subtract from the mito "
                          "channel (estimate it with 'mtrack bleed-through CONTROLS')")
    cmd.add_argument("--overwrite", action="store_true", help=overwrite_help)


def _add_scheduler_options(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--scheduler", default="threads", metavar="NAME|ADDRESS",
                     help="threads (default), processes, synchronous, distributed (a local "
                          "dask cluster) or the address of a running dask scheduler")
    cmd.add_argument("--workers", type=_positive_int, help="parallel workers (default: all cores)")
    cmd.add_argument("--cluster", type=Path, metavar="YAML", help="run the dask workers as "
                     "SLURM/PBS jobs described by this file (pipelines/cluster_slurm.yaml)")
    cmd.add_argument("--performance-report", type=Path, metavar="HTML",
                     help="write dask's performance report (distributed schedulers)")
    cmd.add_argument("--quiet", action="store_true", help="no progress bars")


def _version() -> str:
    from . import __version__

    return f"mtrack {__version__}"


def _params(args: argparse.Namespace):
    from .params import Params, load_params

    params = load_params(args.config) if args.config else Params()
    return params.updated({"input": {
        "mito_channel": args.mito_channel,
        "membrane_channel": args.membrane_channel,
        "nuclei_channel": args.nuclei_channel,
        "pixel_size_um": args.pixel_size,
        "z_step_um": args.z_step,
        "frame_interval_s": args.frame_interval,
        "bleed_through": args.bleed_through,
    }})


def _scheduler(args: argparse.Namespace):
    from .scheduler import open_scheduler

    report = args.performance_report
    if report is not None and report.exists() and not args.overwrite:
        raise _InputError(f"{report}: exists; pass --overwrite to replace it")
    return open_scheduler(args.scheduler, args.workers or os.cpu_count(),
                          cluster_config=args.cluster, performance_report=report)


def _bar(args: argparse.Namespace, **kwargs):
    from tqdm import tqdm

    return tqdm(disable=args.quiet, file=sys.stderr, dynamic_ncols=True, mininterval=0.5,
                **kwargs)


def _cmd_run(args: argparse.Namespace) -> int:
    from .pipeline import analyse_movie
    from .results import check_output

    check_output(args.out, args.overwrite)
    params = _params(args)
    with _scheduler(args) as scheduler, _bar(args, desc=args.movie.name, unit="frame") as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        results = analyse_movie(args.movie, args.out, params, axes=args.axes,
                                scheduler=scheduler, workers=args.workers or os.cpu_count(),
                                progress=progress, overwrite=args.overwrite)
    if args.report:
        from .report import write_report

        print(write_report(args.out))
    n = len(results.events)
    counts = results.run["counts"]
    print(f"{args.movie}: {n} transfer event{'s' if n != 1 else ''} in "
          f"{counts['recipient_tracks']} recipient tracks over {counts['frames']} frames "
          f"-> {args.out}")
    return 0


def _batch_inputs(args: argparse.Namespace, extra: Sequence[Path] = ()) -> list[Path]:
    from .batch import expand_inputs, read_task_list

    movies = expand_inputs(args.inputs)
    if args.from_list is not None:
        movies += [m for m in read_task_list(args.from_list) if m not in movies]
    movies += [m for m in extra if m not in movies]
    if not movies:
        raise _InputError("no movies given: name files, folders or patterns, or --from-list")
    return movies


def _cmd_batch(args: argparse.Namespace) -> int:
    from .batch import MovieProgress, run_batch

    sheet = []
    if args.sheet is not None:
        from .stats import sheet_movies

        sheet = sheet_movies(args.sheet)
    movies = _batch_inputs(args, [movie for movie, _ in sheet])
    if args.task is not None and args.task >= len(movies):
        raise _InputError(f"--task {args.task} is out of range: the batch has {len(movies)} "
                          f"movies (tasks 0 to {len(movies) - 1})")
    only = None if args.task is None else [args.task]
    params = _params(args)
    movie_params = {movie: params.updated({"input": {"bleed_through": k}})
                    for movie, k in sheet if k is not None}
    with (_scheduler(args) as scheduler,
          _bar(args, desc="movies", unit="movie", total=len(only or movies)) as movies_bar,
          _bar(args, unit="frame", leave=False) as frames_bar):
        def start(i: int, movie: Path) -> None:
            frames_bar.reset(total=None)
            frames_bar.set_description(movie.name)

        def frames(done: int, total: int) -> None:
            frames_bar.total = total
            frames_bar.update(done - frames_bar.n)

        def end(i: int, row: dict) -> None:
            movies_bar.update(1)
            if row["status"] == "failed":
                movies_bar.write(f"mtrack: error: {row['error']}", file=sys.stderr)

        summary = run_batch(movies, args.out, params, axes=args.axes, scheduler=scheduler,
                            workers=args.workers or os.cpu_count(), overwrite=args.overwrite,
                            only=only, summary=only is None,
                            progress=MovieProgress(start, frames, end),
                            movie_params=movie_params, report=args.report)
    if args.sheet is not None and only is None:
        from .stats import write_batch_report

        print(write_batch_report(args.out, args.sheet))
    status = summary["status"].value_counts()
    where = args.out / "summary.csv" if only is None else args.out
    print(f"{len(summary)} movie(s): {status.get('done', 0)} analysed, "
          f"{status.get('skipped', 0)} already finished, {status.get('failed', 0)} failed; "
          f"{int(summary['events'].fillna(0).sum())} events -> {where}")
    return 1 if status.get("failed", 0) else 0


def _cmd_slurm_script(args: argparse.Namespace) -> int:
    from .cluster import load_cluster_config, write_job_array

    movies = _batch_inputs(args)
    config = load_cluster_config(args.cluster)
    passed = []
    for flag in _ANALYSIS_FLAGS:
        value = getattr(args, flag[2:].replace("-", "_"))
        if value is not None:
            passed += [flag, str(Path(value).absolute()) if flag == "--config" else str(value)]
    out = args.out.absolute()
    target = args.script or out / "mtrack_array.sh"
    target.parent.mkdir(parents=True, exist_ok=True)
    script, tasks = write_job_array(movies, out, config, target, mtrack_args=passed,
                                    overwrite=args.overwrite)
    submit = "sbatch" if config.system == "slurm" else "qsub"
    print(f"{script}: {len(movies)} array tasks (movie list in {tasks}); submit with "
          f"'{submit} {script}', then run 'mtrack batch --from-list {tasks} --out {out}' "
          "to write summary.csv")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from .report import write_report
    from .results import OutputError

    folders, batches = [], []
    for path in args.paths:
        if (path / "events.csv").is_file():
            folders.append(path)
        elif path.is_dir():
            batches.append(path)
            folders += sorted(p for p in path.iterdir() if (p / "events.csv").is_file())
        else:
            raise _InputError(f"{path}: not a results folder or a batch folder")
    if args.sheet is not None and len(batches) != 1:
        raise _InputError("--sheet needs exactly one batch folder among the paths")
    failed = 0
    for folder in [] if args.no_movies else folders:
        try:
            print(write_report(folder))
        except (OutputError, ValueError, OSError) as err:
            failed += 1
            print(f"mtrack: error: {' '.join(str(err).split())}", file=sys.stderr)
    if args.sheet is not None:
        from .stats import write_batch_report

        print(write_batch_report(batches[0], args.sheet))
    return 1 if failed else 0


def _cmd_bleed_through(args: argparse.Namespace) -> int:
    from .bleed import estimate_from_movies
    from .io import open_movie

    movies = [open_movie(path, axes=args.axes) for path in args.movies]
    fit = estimate_from_movies(movies, mito_channel=args.mito_channel,
                               membrane_channel=args.membrane_channel, frames=args.frames)
    lo, hi = fit["ci95"]
    print(f"bleed-through k = {fit['coefficient']:.4f} (95% CI {lo:.4f}-{hi:.4f}; "
          f"{fit['frames']} frames, {fit['pixels']} membrane pixels from {len(movies)} "
          f"movie(s)); use: mtrack run ... --bleed-through {fit['coefficient']:.4f}")
    return 0


def _cmd_simulate(args: argparse.Namespace) -> int:
    from .io import write_movie_tiff
    from .results import check_output
    from .simulate import simulate_movie

    out = check_output(args.out, args.overwrite)
    if args.frames is not None and args.frames < 8:
        raise _InputError(f"--frames must be at least 8, got {args.frames}")
    kwargs = {"ndim": args.ndim, "seed": args.seed, "marker": args.marker}
    if args.frames is not None:
        kwargs["frames"] = args.frames
    sim = simulate_movie(**kwargs)
    out.mkdir(parents=True, exist_ok=True)
    write_movie_tiff(out / "movie.tif", sim.image, scale=sim.scale,
                     frame_interval=sim.frame_interval, channel_names=sim.channel_names,
                     compress=True)
    _atomic_write(out / "truth.csv",
                  sim.truth.to_csv(index=False, float_format="%.6g", lineterminator="\n"))
    n = int((sim.truth["kind"] == "transfer").sum())
    print(f"{out / 'movie.tif'}: {sim.image.shape[0]} frames, {n} transfers, "
          f"{len(sim.truth) - n} decoys (truth in {out / 'truth.csv'})")
    return 0


def _atomic_write(path: Path, text: str) -> None:
    """Write ``text`` under a temporary name beside ``path``, then rename it into place."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.absolute().parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_table(path: Path, what: str):
    import pandas as pd

    if not path.is_file():
        raise _InputError(f"{path}: {what} not found")
    try:
        return pd.read_csv(path, keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise _InputError(f"{path}: not a readable CSV table ({err.__class__.__name__})") from None


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from .evaluate import score_events

    events_path = args.results / "events.csv" if args.results.is_dir() else args.results
    called = _read_table(events_path, "events table")
    truth = _read_table(args.truth, "truth table")
    for name, table, need in (
        (events_path, called, {"t", "z", "y", "x"}),
        (args.truth, truth, {"t", "z", "y", "x"}),
    ):
        missing = need - set(table.columns)
        if missing:
            raise _InputError(f"{name}: missing column(s) {', '.join(sorted(missing))}")
    if "kind" not in truth and "status" not in truth:
        raise _InputError(f"{args.truth}: needs a 'kind' (simulated truth) or 'status' "
                          "(reviewed events) column")
    scores = score_events(called, truth, tol_px=args.tolerance_px,
                          tol_frames=args.tolerance_frames)
    target = args.json or (args.results / "evaluation.json" if args.results.is_dir()
                           else args.results.with_suffix(".evaluation.json"))
    _atomic_write(target, json.dumps(scores, indent=2) + "\n")
    print(f"precision {scores['precision']:.3f}  recall {scores['recall']:.3f}  "
          f"F1 {scores['f1']:.3f}  (tp {scores['tp']}, fp {scores['fp']}, fn {scores['fn']}, "
          f"decoys called {scores['decoys_called']}) -> {target}")
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from .io import MovieError, check_roles, inspect_movie, open_movie

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        movie = open_movie(args.movie, axes=args.axes)
    print(movie.describe())
    problems = [str(w.message) for w in caught]
    try:
        check_roles(movie, args.mito_channel, args.membrane_channel, args.nuclei_channel)
    except MovieError as err:
        problems.append(str(err))
    else:
        problems += _print_cell_diameter(movie, args)
    problems += inspect_movie(movie)
    if problems:
        print("problems:")
        for line in problems:
            print(f"  - {line}")
        return 1
    print("problems: none found")
    return 0


def _print_cell_diameter(movie, args: argparse.Namespace) -> list[str]:
    """Print the recipient diameter that ``cell_diameter_um: auto`` will use (first, middle
    and last frames); return the problems met (it could not be estimated)."""
    from .cellsize import combine_estimates, estimate_frames, sample_frames
    from .params import RecipientParams

    times = sample_frames(movie.shape[0])
    frames = [movie.frame(t) for t in times]
    nuclei = None
    if args.nuclei_channel is not None:
        nuclei = [f[args.nuclei_channel] for f in frames]
    try:
        values = estimate_frames([f[args.membrane_channel] for f in frames], movie.scale,
                                 RecipientParams(), nuclei)
    except ValueError as err:  # NaN frames and the like: inspect_movie names them
        return [f"recipient cell diameter: not estimated ({err})"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = combine_estimates(values)
    per_frame = ", ".join(f"t={t}: {'-' if v is None else f'{v:.1f}'}"
                          for t, v in zip(times, values))
    source = "nuclei spacing" if nuclei is not None else "membrane channel"
    print(f"recipient cell diameter (auto, from the {source}): {value:.1f} µm ({per_frame})")
    return [str(w.message) for w in caught]


class _InputError(ValueError):
    """A user-facing input problem detected by the command layer."""


_COMMANDS = {"run": _cmd_run, "batch": _cmd_batch, "slurm-script": _cmd_slurm_script,
             "report": _cmd_report, "bleed-through": _cmd_bleed_through,
             "simulate": _cmd_simulate, "evaluate": _cmd_evaluate, "info": _cmd_info}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``mtrack`` command; returns the exit status."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")  # mtrack runs frames in parallel, not BLAS threads
    from .batch import BatchError
    from .cluster import ClusterConfigError
    from .io import CalibrationWarning, MovieError
    from .params import ParamsError
    from .results import OutputError
    from .scheduler import SchedulerError
    from .stats import SheetError

    def show_warning(message, category, filename, lineno, file=None, line=None):
        print(f"mtrack: warning: {message}", file=sys.stderr)

    warnings.showwarning = show_warning
    warnings.simplefilter("default", CalibrationWarning)
    try:
        return _COMMANDS[args.command](args)
    except (MovieError, ParamsError, OutputError, SchedulerError, BatchError,
            ClusterConfigError, SheetError, _InputError) as err:
        if args.debug:
            raise
        print(f"mtrack: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mtrack: interrupted; nothing was written", file=sys.stderr)
        return 130
    except Exception as err:  # an unexpected failure: still one line unless --debug
        if args.debug:
            raise
        print(f"mtrack: error: {err.__class__.__name__}: {err} (rerun with --debug for details)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
