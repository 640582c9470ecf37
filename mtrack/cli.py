"""The ``mtrack`` command: run, simulate, evaluate, info.

Every expected failure (bad input, bad parameters, an existing output folder) prints
one line ``mtrack: error: ...`` and exits with status 2; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

__all__ = ["main"]


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value != value or value == float("inf"):
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
    run.add_argument("movie", type=Path, help="TIFF / OME-TIFF / ImageJ hyperstack")
    run.add_argument("--out", type=Path, required=True, help="results folder to create")
    run.add_argument("--mito-channel", type=int, help="donor mitochondria channel (default 0)")
    run.add_argument("--membrane-channel", type=int, help="recipient membrane channel (default 1)")
    run.add_argument("--nuclei-channel", type=int, help="optional nuclei channel to seed cells")
    run.add_argument("--pixel-size", type=_positive_float, metavar="UM", help="x/y pixel size, µm")
    run.add_argument("--z-step", type=_positive_float, metavar="UM", help="z step, µm")
    run.add_argument("--frame-interval", type=_positive_float, metavar="S",
                     help="time between frames, s")
    run.add_argument("--axes", help="axes of the stored array when the file does not say "
                     "(letters from TCZYX, e.g. TCYX)")
    run.add_argument("--config", type=Path, help="parameter file (YAML)")
    run.add_argument("--workers", type=int, help="parallel workers (default: all cores)")
    run.add_argument("--overwrite", action="store_true", help="replace an existing --out folder")
    run.add_argument("--quiet", action="store_true", help="no progress output")

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
    info.add_argument("--axes")
    return parser


def _version() -> str:
    from . import __version__

    return f"mtrack {__version__}"


def _cmd_run(args: argparse.Namespace) -> int:
    from .io import check_roles, inspect_movie, open_movie
    from .params import Params, load_params
    from .pipeline import run_movie
    from .results import check_output, create_label_store, save_results, stage_output

    check_output(args.out, args.overwrite)
    params = load_params(args.config) if args.config else Params()
    params = params.updated({"input": {
        "mito_channel": args.mito_channel,
        "membrane_channel": args.membrane_channel,
        "nuclei_channel": args.nuclei_channel,
        "pixel_size_um": args.pixel_size,
        "z_step_um": args.z_step,
        "frame_interval_s": args.frame_interval,
    }})
    roles = params.input
    movie = open_movie(args.movie, pixel_size_um=roles.pixel_size_um, z_step_um=roles.z_step_um,
                       frame_interval_s=roles.frame_interval_s, axes=args.axes)
    check_roles(movie, roles.mito_channel, roles.membrane_channel, roles.nuclei_channel)
    problems = inspect_movie(movie)
    if problems:
        raise _InputError(f"{args.movie}: {problems[0]}")
    if args.workers is not None and args.workers < 1:
        raise _InputError(f"--workers must be at least 1, got {args.workers}")

    def progress(done: int, total: int) -> None:
        if not args.quiet:
            print(f"\r{args.movie.name}: {done}/{total} frames", end="", file=sys.stderr,
                  flush=True)

    staging = stage_output(args.out, overwrite=args.overwrite)
    try:
        _, n_c, n_z, n_y, n_x = movie.shape
        labels = create_label_store(staging / "labels.zarr", (movie.shape[0], n_z, n_y, n_x),
                                    movie.scale)
        results = run_movie(movie, params, workers=args.workers or os.cpu_count(),
                            progress=progress, labels=labels)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if not args.quiet:
        print(file=sys.stderr)
    save_results(results, args.out, overwrite=args.overwrite, staging=staging)
    n = len(results.events)
    tracks = results.run["counts"]["recipient_tracks"]
    print(f"{args.movie}: {n} transfer event{'s' if n != 1 else ''} in {tracks} recipient "
          f"tracks over {movie.shape[0]} frames -> {args.out}")
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
        check_roles(movie, args.mito_channel, args.membrane_channel)
    except MovieError as err:
        problems.append(str(err))
    problems += inspect_movie(movie)
    if problems:
        print("problems:")
        for line in problems:
            print(f"  - {line}")
        return 1
    print("problems: none found")
    return 0


class _InputError(ValueError):
    """A user-facing input problem detected by the command layer."""


_COMMANDS = {"run": _cmd_run, "simulate": _cmd_simulate, "evaluate": _cmd_evaluate,
             "info": _cmd_info}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``mtrack`` command; returns the exit status."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    from .io import CalibrationWarning, MovieError
    from .params import ParamsError
    from .results import OutputError

    def show_warning(message, category, filename, lineno, file=None, line=None):
        print(f"mtrack: warning: {message}", file=sys.stderr)

    warnings.showwarning = show_warning
    warnings.simplefilter("default", CalibrationWarning)
    try:
        return _COMMANDS[args.command](args)
    except (MovieError, ParamsError, OutputError, _InputError) as err:
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
