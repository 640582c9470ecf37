"""Robustness of event calling across randomized physics: curves along one nuisance axis at a time.

Each point of a curve simulates movies (:func:`mtrack.simulate.simulate_movie` with
``physics=``) whose physics is the moderate middle setting
(:func:`mtrack.simulate.moderate_physics`) except for ONE axis set to the point's value, runs
the pipeline with default ``Params()`` and scores the calls:

* **event F1** over the transfers (a call matches a transfer within 2 frames, 3 µm in y/x and
  2 µm in z; converted to pixels and planes per movie, since pixel size and z step vary);
* **onset accuracy**: the share of matched transfers called within ±1 frame of the true onset
  and 2 µm of where the mitochondrion crossed into its recipient
  (:func:`mtrack.evaluate.onset_accuracy`);
* the decoys called and the number of true events behind each number.

Axes (2D unless said): in-cell speed, nanotube speed, SNR, density (recipients), frame
interval, pixel size, and z step (3D). Then a **randomized suite**: every setting drawn by
:func:`mtrack.simulate.random_physics` with seeds 1000-1039 (never used while tuning; the
curves use seeds 2000, 2001, ... at every point of every axis, so that along a curve only the
axis changes).

It prints a table (axis, value, F1, onset accuracy, n events, ...) and writes
``robustness.csv``, ``suite.csv`` and plots (``curves.png``, ``suite.png``) to ``--out``
(default ``benchmarks/out/``, which ignores itself in git).

    python benchmarks/robustness.py [--quick] [--workers 2] [--out DIR] [--seeds-per-point 3]
        [--axes speed snr ...] [--suite 40] [--no-suite]

A movie whose simulation or detection raises is reported as an error row and left out of the
numbers (the count of errors is printed with each point).
"""

from __future__ import annotations

import argparse
import math
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mtrack.evaluate import onset_accuracy, score_events
from mtrack.io import movie_from_array
from mtrack.params import Params
from mtrack.pipeline import run_movie
from mtrack.simulate import Physics, moderate_physics, random_physics, simulate_movie

OUT = Path(__file__).resolve().parent / "out"
#: a call matches a transfer within these (physical) tolerances
MATCH_FRAMES, MATCH_YX_UM, MATCH_Z_UM = 2, 3.0, 2.0
#: on time: within these of the truth
ONSET_FRAMES, ONSET_UM = 1, 2.0
CURVE_SEED0 = 2000
SUITE_SEED0 = 1000


@dataclass(frozen=True)
class Axis:
    """One nuisance axis: the :class:`Physics` field, its values and the movie dimensionality."""

    name: str
    field: str
    values: tuple[float, ...]
    quick: tuple[float, ...]
    ndim: int = 2
    log: bool = False
    unit: str = ""


AXES: dict[str, Axis] = {a.name: a for a in (
    Axis("speed", "speed_um_per_s", (0.0, 0.1, 0.3, 0.6, 1.0, 1.5), (0.0, 0.3, 1.5),
         unit="µm/s"),
    Axis("tnt_speed", "tnt_speed_um_per_s", (0.05, 0.1, 0.2, 0.35, 0.5), (0.05, 0.2, 0.5),
         log=True, unit="µm/s"),
    Axis("snr", "snr", (2.5, 4.0, 7.0, 15.0, 30.0, 60.0), (2.5, 15.0, 60.0), log=True),
    Axis("density", "n_recipients", (1, 3, 6, 8, 12, 15), (1, 6, 12), unit="recipients"),
    Axis("frame_interval", "frame_interval_s", (2.0, 5.0, 10.0, 30.0, 60.0, 120.0),
         (2.0, 10.0, 120.0), log=True, unit="s"),
    Axis("pixel", "pixel_um", (0.1, 0.2, 0.3, 0.45, 0.7), (0.1, 0.3, 0.7), unit="µm"),
    Axis("z_step", "z_step_um", (0.3, 0.6, 1.0, 1.5, 2.0), (0.3, 1.0, 2.0), ndim=3, unit="µm"),
)}


def evaluate_physics(phys: Physics, seed: int, workers: int | None,
                     params: Params | None = None) -> dict[str, Any]:
    """Simulate one movie with ``phys``, run the pipeline with ``params`` and score the calls.

    Returns
    -------
    dict
        ``tp, fp, fn, n_true, n_called, f1, decoys_called``, ``onset_ok`` (matched calls on
        time), ``onset_accuracy``, ``seconds``, ``shape``, ``n_recipients`` and ``error``
        (None, or the exception text when the simulation or the detection raised).
    """
    row: dict[str, Any] = {"seed": int(seed), "error": None}
    try:
        sim = simulate_movie(ndim=phys.ndim, seed=seed, physics=phys)
        movie = movie_from_array(sim.image, "TCZYX", scale=sim.scale,
                                 frame_interval=sim.frame_interval,
                                 channel_names=sim.channel_names)
        start = time.perf_counter()
        results = run_movie(movie, params or Params(), workers=workers)
        row["seconds"] = time.perf_counter() - start
    except Exception as exc:  # noqa: BLE001 - one failed movie must not stop the benchmark
        row["error"] = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
        row["traceback"] = traceback.format_exc()
        return row
    sz, sy = sim.scale[0], sim.scale[1]
    tol = dict(tol_px=MATCH_YX_UM / sy, tol_z=max(1.0, MATCH_Z_UM / sz) if phys.ndim == 3 else 2.0,
               tol_frames=MATCH_FRAMES)
    s = score_events(results.events, sim.truth, **tol)
    acc = onset_accuracy(results.events, sim.truth, sim.scale, frames=ONSET_FRAMES, um=ONSET_UM,
                         **tol)
    row.update(
        tp=s["tp"], fp=s["fp"], fn=s["fn"], n_true=s["n_true"], n_called=s["n_called"],
        f1=s["f1"], decoys_called=s["decoys_called"],
        onset_accuracy=acc, onset_ok=0 if math.isnan(acc) else int(round(acc * s["tp"])),
        shape=tuple(int(v) for v in sim.image.shape),
        n_recipients=int(sim.settings["n_recipients"]),
    )
    return row


def pooled(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """F1 and onset accuracy pooled over movies (sums of tp, fp, fn and on-time matches)."""
    ok = [r for r in rows if not isinstance(r.get("error"), str)]
    tp = sum(r["tp"] for r in ok)
    fp = sum(r["fp"] for r in ok)
    fn = sum(r["fn"] for r in ok)
    on = sum(r["onset_ok"] for r in ok)
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "movies": len(ok), "errors": len(rows) - len(ok), "n_events": tp + fn, "tp": tp,
        "fp": fp, "fn": fn, "precision": precision, "recall": recall,
        "f1": f1 if ok else float("nan"),
        "onset_accuracy": on / tp if tp else float("nan"),
        "decoys_called": sum(r["decoys_called"] for r in ok),
        "seconds": sum(r.get("seconds", 0.0) for r in ok),
    }


def run_curves(axes: list[Axis], quick: bool, seeds_per_point: int, workers: int | None
               ) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Every point of every axis; returns the table and every movie's row."""
    table, movies = [], []
    for ax in axes:
        values = ax.quick if quick else ax.values
        base = moderate_physics(ax.ndim)
        for v in values:
            value = int(v) if ax.field == "n_recipients" else float(v)
            phys = base.replace(**{ax.field: value})
            rows = []
            for j in range(seeds_per_point):
                # the same scenes at every point (paired): only the axis changes along a curve
                seed = CURVE_SEED0 + j
                r = evaluate_physics(phys, seed, workers)
                r.update(axis=ax.name, value=value)
                rows.append(r)
                movies.append(r)
            p = pooled(rows)
            table.append({"axis": ax.name, "value": value, "unit": ax.unit, **p})
            _print_row(table[-1], rows)
    return pd.DataFrame(table), movies


def run_suite(n: int, workers: int | None) -> pd.DataFrame:
    """The randomized suite: seeds ``SUITE_SEED0 ..``; one row per movie with its physics."""
    rows = []
    for seed in range(SUITE_SEED0, SUITE_SEED0 + n):
        phys = random_physics(seed)
        r = evaluate_physics(phys, seed, workers)
        r.update({f"physics.{k}": v for k, v in phys.to_dict().items()
                  if k not in ("shape", "scale")})
        rows.append(r)
        err = f"  ERROR {r['error']}" if r["error"] else ""
        print(f"suite seed {seed} {phys.ndim}D dt {phys.frame_interval_s:5.1f} s  px "
              f"{phys.pixel_um:.2f}  v {phys.speed_um_per_s:.2f}  tnt {phys.tnt_speed_um_per_s:.2f}"
              f"  snr {phys.snr:4.1f}  rec {phys.n_recipients:2d}"
              + ("" if r["error"] else f"  tp {r['tp']} fp {r['fp']} fn {r['fn']} "
                 f"F1 {r['f1']:.2f} onset {r['onset_accuracy']:.2f}") + err, flush=True)
    return pd.DataFrame(rows)


def _print_row(p: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    print(f"{p['axis']:15s} {p['value']:>7g} {p['unit']:10s} F1 {p['f1']:.2f}  onset "
          f"{p['onset_accuracy']:.2f}  n events {p['n_events']:3d}  tp {p['tp']:3d} fp "
          f"{p['fp']:3d} fn {p['fn']:3d}  decoys {p['decoys_called']}  errors {p['errors']}"
          f"  {p['seconds']:.0f} s", flush=True)
    for r in rows:
        if isinstance(r.get("error"), str):
            print(f"    seed {r['seed']}: {r['error']}", flush=True)


def plot(table: pd.DataFrame, suite: pd.DataFrame | None, out: Path) -> list[Path]:
    """``curves.png`` (F1 and onset accuracy per axis) and ``suite.png`` (per-movie scores)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    if len(table):
        names = list(dict.fromkeys(table["axis"]))
        ncol = min(4, len(names))
        nrow = math.ceil(len(names) / ncol)
        fig, axs = plt.subplots(nrow, ncol, figsize=(4 * ncol, 3.2 * nrow), squeeze=False)
        for a, name in zip(axs.flat, names):
            d = table[table["axis"] == name].sort_values("value")
            spec = AXES.get(name)
            a.plot(d["value"], d["f1"], "o-", label="event F1")
            a.plot(d["value"], d["onset_accuracy"], "s--", label="onset ±1 frame, 2 µm")
            for _, r in d.iterrows():
                a.annotate(f"n={r['n_events']}", (r["value"], 0.02), fontsize=7, ha="center")
            if spec is not None and spec.log:
                a.set_xscale("log")
                a.minorticks_off()
                a.set_xticks(list(d["value"]))
                a.set_xticklabels([f"{v:g}" for v in d["value"]])
            unit = f" ({spec.unit})" if spec is not None and spec.unit else ""
            a.set_xlabel(f"{name}{unit}" + (" [3D]" if spec is not None and spec.ndim == 3
                                            else ""))
            a.set_ylim(0, 1.05)
            a.grid(alpha=0.3)
        for a in list(axs.flat)[len(names):]:
            a.axis("off")
        axs.flat[0].legend(fontsize=7, loc="lower left")
        fig.suptitle("mtrack robustness: one nuisance axis at a time, others moderate")
        fig.tight_layout()
        p = out / "curves.png"
        fig.savefig(p, dpi=110)
        plt.close(fig)
        paths.append(p)
    if suite is not None and len(suite):
        ok = suite[suite["error"].isna()]
        fig, axs = plt.subplots(1, 3, figsize=(13, 3.5))
        axs[0].hist(ok["f1"], bins=np.linspace(0, 1, 11))
        axs[0].set_xlabel("event F1 per movie")
        for a, key, lab in ((axs[1], "physics.frame_interval_s", "frame interval (s)"),
                            (axs[2], "physics.snr", "SNR")):
            a.scatter(ok[key], ok["f1"], c=ok["physics.speed_um_per_s"], cmap="viridis", s=18)
            a.set_xscale("log")
            a.set_xlabel(lab)
            a.set_ylabel("F1")
            a.set_ylim(-0.05, 1.05)
        fig.suptitle(f"randomized suite: {len(ok)} movies (colour: in-cell speed)")
        fig.tight_layout()
        p = out / "suite.png"
        fig.savefig(p, dpi=110)
        plt.close(fig)
        paths.append(p)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="2-3 values per axis, one movie per point, a 4-movie suite")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--seeds-per-point", type=int, default=None,
                        help="movies per curve point (default 3; 1 with --quick)")
    parser.add_argument("--axes", nargs="+", choices=sorted(AXES), default=list(AXES))
    parser.add_argument("--suite", type=int, default=None,
                        help="movies in the randomized suite (default 40; 4 with --quick)")
    parser.add_argument("--no-suite", action="store_true")
    args = parser.parse_args()
    spp = args.seeds_per_point or (1 if args.quick else 3)
    n_suite = 0 if args.no_suite else (args.suite if args.suite is not None
                                       else (4 if args.quick else 40))
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    if out.resolve() == OUT.resolve() and not (out / ".gitignore").exists():
        (out / ".gitignore").write_text("*\n")

    print(f"== curves: {', '.join(args.axes)}; {spp} movie(s) per point; default Params(); "
          f"match within {MATCH_FRAMES} frames and {MATCH_YX_UM} µm; on time within "
          f"±{ONSET_FRAMES} frame and {ONSET_UM} µm", flush=True)
    table, movies = run_curves([AXES[a] for a in args.axes], args.quick, spp, args.workers)
    table.to_csv(out / "robustness.csv", index=False)
    pd.DataFrame([{k: v for k, v in m.items() if k != "traceback"} for m in movies]).to_csv(
        out / "robustness_movies.csv", index=False)
    suite = None
    if n_suite:
        print(f"== randomized suite: seeds {SUITE_SEED0}-{SUITE_SEED0 + n_suite - 1}", flush=True)
        suite = run_suite(n_suite, args.workers)
        suite.drop(columns=["traceback"], errors="ignore").to_csv(out / "suite.csv", index=False)
        p = pooled(suite.to_dict("records"))
        print(f"suite: movies {p['movies']} (errors {p['errors']})  n events {p['n_events']}  "
              f"F1 {p['f1']:.3f}  onset {p['onset_accuracy']:.3f}  decoys called "
              f"{p['decoys_called']}", flush=True)
    print("\n" + table[["axis", "value", "unit", "f1", "onset_accuracy", "n_events", "fp",
                        "decoys_called", "errors"]].to_string(index=False, float_format="%.2f"))
    for path in plot(table, suite, out):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
