"""Per-movie report: summary numbers and figures from a saved results folder.

:func:`movie_summary` turns a :class:`~mtrack.results.Results` into the numbers a paper
needs (recipients, % positive, events per recipient-hour, onset times, routes, bridges).
:func:`write_report` reads a results folder (tables, ``labels.zarr``, ``run.json`` and,
when it can still be found, the movie) and writes a static, offline ``report.html`` with
its PNG figures in ``report/`` beside it: the summary table, an event gallery (crops
around each onset with the recipient outline and the bridges drawn), per-recipient
donor-signal traces and an overview image.

Figures are drawn on :class:`matplotlib.figure.Figure` objects (Agg, no pyplot state),
in the Okabe-Ito colour-blind-safe palette, at 150 dpi with fonts of at least 8 pt.
No napari, Qt or dask is needed.
"""

from __future__ import annotations

import html
import math
import os
import shutil
import tempfile
import warnings
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .results import OutputError, Results, load_results

__all__ = ["MAX_GALLERY_EVENTS", "OKABE_ITO", "movie_summary", "write_report"]

#: Okabe-Ito colour-blind-safe palette (name -> hex).
OKABE_ITO = {
    "black": "#000000", "orange": "#E69F00", "sky_blue": "#56B4E9",
    "bluish_green": "#009E73", "yellow": "#F0E442", "blue": "#0072B2",
    "vermillion": "#D55E00", "reddish_purple": "#CC79A7",
}
_LINE_COLOURS = [OKABE_ITO[k] for k in ("blue", "orange", "bluish_green", "vermillion",
                                        "reddish_purple", "sky_blue", "black")]
_OUTLINE = OKABE_ITO["yellow"]  # recipient outline over the magenta/green images
_BRIDGE = OKABE_ITO["sky_blue"]
_EVENT = "#FFFFFF"

#: Events shown in the gallery at most; the rest are counted as omitted.
MAX_GALLERY_EVENTS = 50
_FRAMES = (-2, 3)  # gallery frames relative to onset
_DPI = 150
_RC = {"font.size": 9, "axes.titlesize": 9, "axes.labelsize": 9, "xtick.labelsize": 8,
       "ytick.labelsize": 8, "legend.fontsize": 8, "figure.titlesize": 10}
ROUTES = ("tnt", "contact", "unknown")


# ----------------------------------------------------------------------------------
# numbers
# ----------------------------------------------------------------------------------
def _as_bool(values: pd.Series) -> pd.Series:
    if values.dtype == bool:
        return values
    return values.map(lambda v: str(v).strip().lower() in ("true", "1", "yes")).astype(bool)


def _counted_events(events: pd.DataFrame) -> pd.DataFrame:
    """Events that count: every row except those a reviewer rejected."""
    if "status" in events.columns and len(events):
        return events[events["status"].astype(str) != "rejected"]
    return events


def movie_summary(results: Results, run: dict) -> dict:
    """Summary numbers of one analysed movie.

    Parameters
    ----------
    results : Results
        The movie's tables (``cells``, ``events``, ``bridges``), e.g. from
        :func:`mtrack.results.load_results`.
    run : dict
        The run record (``run.json``); ``frame_interval_s`` is read from it (1 s when
        absent).

    Returns
    -------
    dict
        ``frame_interval_s`` (s); ``frames`` (frames with any recipient, or the movie's
        frame count from ``run``); ``recipients`` (recipient tracks);
        ``positive_recipients`` (tracks marked ``positive`` in any frame) and
        ``percent_positive`` (%); ``events`` (rows of ``events`` not ``rejected`` in
        review); ``recipient_hours`` (sum over tracks of frames present × frame
        interval / 3600, h); ``events_per_recipient_hour`` (h⁻¹, NaN without
        recipient-hours); ``onset_times_s`` (list, event order) and
        ``onset_median_s`` (s, NaN without events); ``routes`` (dict ``tnt``,
        ``contact``, ``unknown`` -> count; other labels count as unknown);
        ``bridges`` (unique ``bridge_id``); ``bridges_per_cell`` (bridges /
        recipients, NaN without recipients); ``bridge_length_median_um``,
        ``bridge_length_q1_um``, ``bridge_length_q3_um``, ``bridge_length_iqr_um``
        (µm; each bridge contributes the median of its per-frame lengths; NaN without
        bridges).
    """
    cells, bridges = results.cells, results.bridges
    events = _counted_events(results.events)
    interval = float(run.get("frame_interval_s") or 1.0)
    recipients = int(cells["track_id"].nunique()) if len(cells) else 0
    if len(cells):
        positive = int(cells.loc[_as_bool(cells["positive"]), "track_id"].nunique())
        present = len(cells[["track_id", "t"]].drop_duplicates())
    else:
        positive = present = 0
    recipient_hours = present * interval / 3600.0
    n_events = len(events)
    onsets = [float(v) for v in events["time_s"]] if n_events else []
    routes = {r: 0 for r in ROUTES}
    for route in (events["route"].astype(str) if n_events else []):
        route = route if route in routes else "unknown"
        routes[route] += 1
    if len(bridges):
        lengths = bridges.groupby("bridge_id")["length_um"].median().to_numpy(dtype=float)
        n_bridges = len(lengths)
        q1, median, q3 = (float(v) for v in np.percentile(lengths, [25, 50, 75]))
    else:
        n_bridges, q1, median, q3 = 0, math.nan, math.nan, math.nan
    frames = (run.get("counts") or {}).get("frames") or (
        int(cells["t"].max()) + 1 if len(cells) else 0)
    return {
        "frame_interval_s": interval,
        "frames": int(frames),
        "recipients": recipients,
        "positive_recipients": positive,
        "percent_positive": 100.0 * positive / recipients if recipients else math.nan,
        "events": n_events,
        "recipient_hours": recipient_hours,
        "events_per_recipient_hour": n_events / recipient_hours if recipient_hours else math.nan,
        "onset_times_s": onsets,
        "onset_median_s": float(np.median(onsets)) if onsets else math.nan,
        "routes": routes,
        "bridges": n_bridges,
        "bridges_per_cell": n_bridges / recipients if recipients else math.nan,
        "bridge_length_median_um": median,
        "bridge_length_q1_um": q1,
        "bridge_length_q3_um": q3,
        "bridge_length_iqr_um": q3 - q1,
    }


def _fmt(value: Any) -> str:
    """Numbers as printed in the report: integers plain, floats to 4 significant digits."""
    if value is None:
        return "–"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    value = float(value)
    if not math.isfinite(value):
        return "–"
    return f"{value:.4g}"


# ----------------------------------------------------------------------------------
# data access
# ----------------------------------------------------------------------------------
class _Labels:
    """``labels.zarr`` layers, read one frame at a time as 2D arrays (max over z)."""

    def __init__(self, folder: Path) -> None:
        import zarr

        self.group = None
        try:
            if (folder / "labels.zarr").exists():
                self.group = zarr.open_group(str(folder / "labels.zarr"), mode="r")
        except Exception:  # noqa: BLE001 - an unreadable store: report without outlines
            self.group = None

    def __bool__(self) -> bool:
        return self.group is not None

    def plane(self, layer: str, t: int, z: int | None = None) -> np.ndarray | None:
        """Frame ``t`` of ``layer`` as (Y, X): plane ``z``, or any-label over z when None."""
        if self.group is None or layer not in self.group:
            return None
        array = self.group[layer]
        if not 0 <= t < array.shape[0]:
            return None
        if z is not None:
            return np.asarray(array[t, min(max(int(z), 0), array.shape[1] - 1)])
        block = np.asarray(array[t])
        return block.max(axis=0) if block.shape[0] > 1 else block[0]


class _Frames:
    """The movie's mito and membrane channels, frame by frame as (2, Y, X), cached."""

    def __init__(self, movie: Any, channels: tuple[int, int], size: int = 12) -> None:
        self.movie, self.channels, self.size = movie, channels, size
        self.cache: OrderedDict[tuple[int, int | None], np.ndarray] = OrderedDict()

    def get(self, t: int, z: int | None = None, depth: int = 2) -> np.ndarray | None:
        """Channels (mito, membrane) of frame ``t``: max over z (near plane ``z`` if given)."""
        if self.movie is None or not 0 <= t < self.movie.shape[0]:
            return None
        key = (t, z)
        if key not in self.cache:
            frame = self.movie.frame(t)[list(self.channels)].astype(np.float32)  # (2, Z, Y, X)
            if z is not None:
                frame = frame[:, max(z - depth, 0):z + depth + 1]
            self.cache[key] = frame.max(axis=1)
            while len(self.cache) > self.size:
                self.cache.popitem(last=False)
        self.cache.move_to_end(key)
        return self.cache[key]


def _open_movie(path: Path, run: dict) -> tuple[Any, str | None]:
    """Open the movie behind a results folder; (None, why) when it cannot be used."""
    from .io import open_movie

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            movie = open_movie(path)
    except Exception as exc:  # noqa: BLE001 - any unusable movie: report without crops
        return None, " ".join(str(exc).split())
    expected = run.get("shape_tczyx")
    if expected and list(movie.shape) != [int(v) for v in expected]:
        movie.close()
        return None, (f"{path}: shape {list(movie.shape)} differs from the analysed movie's "
                      f"{list(expected)}")
    return movie, None


def _limits(images: list[np.ndarray]) -> tuple[float, float]:
    values = np.concatenate([i.ravel() for i in images]) if images else np.zeros(1)
    values = values[np.isfinite(values)]
    if not values.size:
        return 0.0, 1.0
    lo, hi = (float(v) for v in np.percentile(values, [1, 99.7]))
    return lo, hi if hi > lo else lo + 1.0


def _composite(mito: np.ndarray, membrane: np.ndarray, lim_m: tuple[float, float],
               lim_b: tuple[float, float]) -> np.ndarray:
    """Magenta (mito) / green (membrane) RGB in 0-1."""
    m = np.clip((mito - lim_m[0]) / (lim_m[1] - lim_m[0]), 0, 1)
    b = np.clip((membrane - lim_b[0]) / (lim_b[1] - lim_b[0]), 0, 1)
    return np.clip(np.stack([m, b, m], axis=-1), 0, 1)


def _overlay_mask(ax: Any, mask: np.ndarray, colour: str, extent: Any = None) -> None:
    """Draw the True pixels of ``mask`` in ``colour`` (transparent elsewhere)."""
    if mask is None or not mask.any():
        return
    rgba = np.zeros((*mask.shape, 4))
    rgba[mask] = matplotlib.colors.to_rgba(colour)
    ax.imshow(rgba, interpolation="nearest", extent=extent)


def _outline(ax: Any, mask: np.ndarray, colour: str, width: float = 1.0) -> None:
    if mask is not None and mask.any() and not mask.all():
        ax.contour(mask.astype(float), levels=[0.5], colors=[colour], linewidths=width)


def _save(fig: Figure, path: Path) -> str:
    fig.savefig(path, dpi=_DPI, facecolor="white")
    return path.name


# ----------------------------------------------------------------------------------
# figures
# ----------------------------------------------------------------------------------
def _event_strip(event: pd.Series, cells: pd.DataFrame, frames: _Frames | None,
                 labels: _Labels, scale_um: float, shape_yx: tuple[int, int], n_frames: int,
                 is_3d: bool, path: Path) -> str:
    """Crops t-2 .. t+3 around one event: mito, membrane and the magenta/green merge."""
    t0 = int(event["t"])
    yc, xc = float(event["y"]), float(event["x"])
    zc = round(float(event["z"])) if is_3d else None
    track = int(event["track_id"])
    times = list(range(t0 + _FRAMES[0], t0 + _FRAMES[1] + 1))
    half = int(np.clip(round(10.0 / scale_um), 16, 64))
    size = 2 * half
    labels_of = cells[cells["track_id"] == track].set_index("t")["label"]

    def window(shape: tuple[int, int]) -> tuple[slice, slice]:
        y0 = int(np.clip(round(yc) - half, 0, max(shape[0] - size, 0)))
        x0 = int(np.clip(round(xc) - half, 0, max(shape[1] - size, 0)))
        return slice(y0, y0 + size), slice(x0, x0 + size)

    crops: dict[int, np.ndarray] = {}
    if frames is not None:
        for t in times:
            image = frames.get(t, zc)
            if image is not None:
                ys, xs = window(image.shape[1:])
                crops[t] = image[:, ys, xs]
    lim_m = _limits([c[0] for c in crops.values()])
    lim_b = _limits([c[1] for c in crops.values()])
    rows = ["mito", "membrane", "merge"] if crops else ["labels"]
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(1.25 * len(times) + 0.6, 1.3 * len(rows) + 0.55),
                     layout="constrained")
        axes = np.atleast_2d(fig.subplots(len(rows), len(times), squeeze=False))
        for k, t in enumerate(times):
            rec = bridge = None
            plane = labels.plane("recipients", t, zc) if labels else None
            if plane is not None and t in labels_of.index:
                rec = plane[window(plane.shape)] == int(labels_of[t])
            bridge_plane = labels.plane("bridges", t, None) if labels else None
            if bridge_plane is not None:
                bridge = bridge_plane[window(bridge_plane.shape)] > 0
            for r, row in enumerate(rows):
                ax = axes[r, k]
                ax.set_xticks([])
                ax.set_yticks([])
                if not 0 <= t < n_frames:
                    ax.set_facecolor("#404040")
                    ax.text(0.5, 0.5, "outside\nmovie", ha="center", va="center",
                            color="white", transform=ax.transAxes)
                elif row == "labels":
                    ax.imshow(np.zeros((size, size)), cmap="gray", vmin=0, vmax=1)
                elif t in crops:
                    crop = crops[t]
                    if row == "merge":
                        ax.imshow(_composite(crop[0], crop[1], lim_m, lim_b),
                                  interpolation="nearest")
                    else:
                        lim = lim_m if row == "mito" else lim_b
                        ax.imshow(crop[0 if row == "mito" else 1], cmap="gray",
                                  vmin=lim[0], vmax=lim[1], interpolation="nearest")
                if 0 <= t < n_frames:
                    if bridge is not None and row in ("merge", "labels", "membrane"):
                        _overlay_mask(ax, bridge, _BRIDGE)
                    _outline(ax, rec, _OUTLINE)
                    if t == t0:
                        ys, xs = window(shape_yx)
                        ax.plot(xc - xs.start, yc - ys.start, marker="o",
                                ms=12, mfc="none", mec=_EVENT if row != "labels" else
                                OKABE_ITO["orange"], mew=1.2)
                    ax.set_xlim(-0.5, size - 0.5)
                    ax.set_ylim(size - 0.5, -0.5)
                if r == 0:
                    ax.set_title(f"t={t}" + (" (onset)" if t == t0 else ""))
                if k == 0:
                    ax.set_ylabel(row)
        # scale bar on the first in-movie tile of the last row
        bar_um = _nice_length(size * scale_um / 3)
        ax = axes[-1, 0 if 0 <= times[0] < n_frames else -_FRAMES[0]]
        _scale_bar(ax, bar_um / scale_um, f"{bar_um:g} µm", size)
        route = str(event.get("route", ""))
        bridge_id = str(event.get("bridge_id", ""))
        fig.suptitle(
            f"event {event['event_id']}: recipient {track}, onset t={t0} "
            f"({float(event['time_s']):g} s), route {route}"
            + (f" (bridge {bridge_id})" if route == "tnt" and bridge_id else "")
            + f", score {float(event['score']):.2f}")
        return _save(fig, path)


def _nice_length(length: float) -> float:
    if length <= 0 or not math.isfinite(length):
        return 1.0
    power = 10 ** math.floor(math.log10(length))
    return max(v * power for v in (1, 2, 5) if v * power <= length)


def _scale_bar(ax: Any, pixels: float, text: str, width: float) -> None:
    x1 = width * 0.95
    y = width * 0.92
    ax.plot([x1 - pixels, x1], [y, y], color="white", lw=3, solid_capstyle="butt")
    ax.text(x1 - pixels / 2, y - width * 0.04, text, color="white", ha="center",
            va="bottom", fontsize=8)


def _traces(cells: pd.DataFrame, events: pd.DataFrame, interval: float, path: Path) -> str:
    """Donor signal vs time, one line per track; onsets marked on their track's line."""
    span = (cells["t"].max() if len(cells) else 0) * interval
    unit, div = ("min", 60.0) if span >= 600 else ("s", 1.0)
    with_events = sorted(set(events["track_id"].astype(int))) if len(events) else []
    colour = {tr: _LINE_COLOURS[i % len(_LINE_COLOURS)] for i, tr in enumerate(with_events)}
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(6.5, 3.6), layout="constrained")
        ax = fig.subplots()
        for track, rows in cells.sort_values("t").groupby("track_id"):
            x = rows["t"].to_numpy(float) * interval / div
            y = rows["donor_signal"].to_numpy(float)
            if int(track) in colour:
                ax.plot(x, y, color=colour[int(track)], lw=1.6, label=f"recipient {track}",
                        zorder=3)
            else:
                ax.plot(x, y, color="#999999", lw=0.8, zorder=2)
        for _, ev in events.iterrows():
            rows = cells[(cells["track_id"] == ev["track_id"]) & (cells["t"] == ev["t"])]
            y = float(rows["donor_signal"].iloc[0]) if len(rows) else 0.0
            ax.plot(float(ev["t"]) * interval / div, y, marker="v", ms=8, ls="none",
                    color=colour.get(int(ev["track_id"]), "black"), mec="black", zorder=4)
            ax.annotate(str(ev["event_id"]), (float(ev["t"]) * interval / div, y),
                        textcoords="offset points", xytext=(0, 7), ha="center", fontsize=8)
        ax.plot([], [], marker="v", ls="none", color="black", label="event onset (id)")
        ax.plot([], [], color="#999999", lw=0.8, label="recipients without events")
        ax.set_xlabel(f"time ({unit})")
        ax.set_ylabel("donor signal in recipient\n(summed, background-free, a.u.)")
        ax.set_title("Donor signal per recipient track")
        ax.legend(loc="upper left", ncols=2 if len(with_events) > 4 else 1, frameon=False)
        ax.spines[["top", "right"]].set_visible(False)
        return _save(fig, path)


def _overview(cells: pd.DataFrame, events: pd.DataFrame, frames: _Frames | None,
              labels: _Labels, t: int, shape_yx: tuple[int, int], scale_um: float,
              is_3d: bool, path: Path) -> str:
    """Frame ``t`` (max over z): recipient outlines and ids, bridges, all events."""
    height, width = shape_yx
    with matplotlib.rc_context(_RC):
        aspect = height / max(width, 1)
        fig = Figure(figsize=(6.0, 6.0 * aspect + 0.5), layout="constrained")
        ax = fig.subplots()
        image = frames.get(t) if frames is not None else None
        if image is not None:
            ax.imshow(_composite(image[0], image[1], _limits([image[0]]), _limits([image[1]])),
                      interpolation="nearest")
        else:
            ax.imshow(np.zeros((height, width)), cmap="gray", vmin=0, vmax=1)
        recipients = labels.plane("recipients", t) if labels else None
        if recipients is not None:
            for label in np.unique(recipients[recipients > 0]):
                _outline(ax, recipients == label, _OUTLINE, 0.9)
        bridges = labels.plane("bridges", t) if labels else None
        if bridges is not None:
            _overlay_mask(ax, bridges > 0, _BRIDGE)
        for _, row in cells[cells["t"] == t].iterrows():
            ax.text(float(row["x"]), float(row["y"]),
                    str(int(row["track_id"])), color="white", ha="center", va="center",
                    fontsize=8, fontweight="bold")
        for _, ev in events.iterrows():
            ax.plot(float(ev["x"]), float(ev["y"]), marker="o", ms=11, mfc="none",
                    mec=OKABE_ITO["orange"], mew=1.8)
            ax.annotate(f"e{ev['event_id']}", (float(ev["x"]), float(ev["y"])),
                        textcoords="offset points", xytext=(7, 7), color=OKABE_ITO["orange"],
                        fontsize=8, fontweight="bold")
        ax.plot([], [], color=_OUTLINE, label="recipient outline (track id)")
        ax.plot([], [], color=_BRIDGE, lw=2, label="bridge skeleton")
        ax.plot([], [], marker="o", ls="none", mfc="none", mec=OKABE_ITO["orange"],
                label="event (all frames, id)")
        ax.legend(loc="upper left", fontsize=8, framealpha=0.8)
        bar = _nice_length(width * scale_um / 5)
        _scale_bar(ax, bar / scale_um, f"{bar:g} µm", width)
        ax.set_xlim(-0.5, width - 0.5)
        ax.set_ylim(height - 0.5, -0.5)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"Overview, frame t={t}" + (" (max over z)" if is_3d else ""))
        return _save(fig, path)


# ----------------------------------------------------------------------------------
# HTML
# ----------------------------------------------------------------------------------
_CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:1em auto;padding:0 1em;color:#111}
table{border-collapse:collapse;margin:0.5em 0}
td,th{border:1px solid #bbb;padding:0.25em 0.6em;text-align:left}
td.value{text-align:right;font-variant-numeric:tabular-nums}
img{max-width:100%;height:auto;display:block;margin:0.4em 0}
.note{background:#fff7d6;border-left:4px solid #E69F00;padding:0.4em 0.8em}
figure{margin:1em 0}
figcaption{font-size:0.9em;color:#333}
"""


def _summary_rows(s: dict) -> list[tuple[str, str, Any, str]]:
    """(key, label, value, unit) rows of the summary table."""
    routes = s["routes"]
    onsets = ", ".join(_fmt(v) for v in s["onset_times_s"]) or "–"
    return [
        ("frames", "Frames", s["frames"], ""),
        ("frame_interval_s", "Frame interval", s["frame_interval_s"], "s"),
        ("recipients", "Recipients (tracks)", s["recipients"], "cells"),
        ("positive_recipients", "Positive recipients", s["positive_recipients"], "cells"),
        ("percent_positive", "Positive recipients", s["percent_positive"], "%"),
        ("events", "Transfer events", s["events"], "events"),
        ("recipient_hours", "Recipient-hours observed", s["recipient_hours"], "h"),
        ("events_per_recipient_hour", "Events per recipient-hour",
         s["events_per_recipient_hour"], "events / (cell · h)"),
        ("onset_median_s", "Onset time, median", s["onset_median_s"], "s"),
        ("onset_times_s", "Onset times", onsets, "s"),
        ("route_tnt", "Route: tunneling nanotube (tnt)", routes["tnt"], "events"),
        ("route_contact", "Route: contact", routes["contact"], "events"),
        ("route_unknown", "Route: unknown", routes["unknown"], "events"),
        ("bridges", "Bridges (unique)", s["bridges"], "bridges"),
        ("bridges_per_cell", "Bridges per recipient", s["bridges_per_cell"], "per cell"),
        ("bridge_length_median_um", "Bridge length, median", s["bridge_length_median_um"],
         "µm"),
        ("bridge_length_iqr_um", "Bridge length, IQR (Q3 − Q1)", s["bridge_length_iqr_um"],
         "µm"),
        ("bridge_length_q1_um", "Bridge length, Q1", s["bridge_length_q1_um"], "µm"),
        ("bridge_length_q3_um", "Bridge length, Q3", s["bridge_length_q3_um"], "µm"),
    ]


def _img(src: str, alt: str, caption: str) -> str:
    return (f'<figure><img src="report/{html.escape(src)}" alt="{html.escape(alt)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _build(folder: Path, results: Results, out: Path, movie_path: Path | None,
           progress: Callable[[str], None] | None) -> str:
    """Draw the figures into ``out`` and return the HTML page."""
    run = results.run
    summary = movie_summary(results, run)
    events = _counted_events(results.events).sort_values(["t", "event_id"], kind="stable")
    cells = results.cells
    notes: list[str] = []
    shape = [int(v) for v in run.get("shape_tczyx") or []]
    scale = [float(v) for v in run.get("scale_zyx_um") or (1.0, 1.0, 1.0)]
    labels = _Labels(folder)
    if not labels:
        notes.append("labels.zarr is missing or unreadable: no outlines or bridges drawn.")
    if len(shape) != 5 and labels:
        rec = labels.group["recipients"]
        shape = [int(rec.shape[0]), 2, *(int(v) for v in rec.shape[1:])]
    if len(shape) != 5:
        t_max = int(cells["t"].max()) + 1 if len(cells) else 1
        y_max = int(max(cells["y"].max() if len(cells) else 1, 1)) + 1
        x_max = int(max(cells["x"].max() if len(cells) else 1, 1)) + 1
        shape = [t_max, 2, 1, y_max, x_max]
    n_frames, is_3d = shape[0], shape[2] > 1

    source = movie_path if movie_path is not None else (run.get("input") or {}).get("path")
    movie, why = (None, "run.json names no input movie") if source is None else _open_movie(
        Path(source), run)
    frames = None
    if movie is None:
        notes.append(f"Movie not available ({why}): the gallery and overview show labels only, "
                     "without image crops.")
    else:
        frames = _Frames(movie, (results.params.input.mito_channel,
                                 results.params.input.membrane_channel))
    try:
        gallery = []
        shown = events.head(MAX_GALLERY_EVENTS)
        for i, (_, ev) in enumerate(shown.iterrows()):
            if progress:
                progress(f"event {i + 1}/{len(shown)}")
            name = _event_strip(ev, cells, frames, labels, scale[1], (shape[3], shape[4]),
                                n_frames, is_3d,
                                out / f"event_{int(ev['event_id']):04d}.png")
            gallery.append(_img(name, f"event {ev['event_id']}",
                                f"Event {ev['event_id']}: recipient {ev['track_id']}, onset "
                                f"t={ev['t']} ({_fmt(float(ev['time_s']))} s), route "
                                f"{ev['route']}, score {_fmt(float(ev['score']))}."))
        omitted = len(events) - len(shown)
        traces = _traces(cells, events, summary["frame_interval_s"], out / "traces.png")
        middle = n_frames // 2
        overview = _overview(cells, events, frames, labels, middle, (shape[3], shape[4]),
                             scale[1], is_3d, out / "overview.png")
    finally:
        if movie is not None:
            movie.close()

    title = f"mtrack report: {folder.name}"
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        (f"<p>Results folder: <code>{html.escape(str(folder))}</code><br>"
         f"Movie: <code>{html.escape(str(source))}</code><br>"
         f"mtrack {html.escape(str((run.get('versions') or {}).get('mtrack', '?')))}; "
         f"pixel size {_fmt(scale[1])} µm, z step {_fmt(scale[0])} µm, frame interval "
         f"{_fmt(summary['frame_interval_s'])} s; shape (T, C, Z, Y, X) "
         f"{html.escape(str(tuple(shape)))}.</p>"),
    ]
    parts += [f'<p class="note">{html.escape(n)}</p>' for n in notes]
    parts.append('<h2>Summary</h2><table id="summary"><tr><th>quantity</th><th>value</th>'
                 "<th>unit</th></tr>")
    for key, label, value, unit in _summary_rows(summary):
        text = value if isinstance(value, str) else _fmt(value)
        parts.append(f'<tr id="summary-{key}"><td>{html.escape(label)}</td>'
                     f'<td class="value">{html.escape(text)}</td>'
                     f"<td>{html.escape(unit)}</td></tr>")
    parts.append("</table><p>Events rejected in review are not counted. Recipient-hours: "
                 "frames each recipient track is present × frame interval. Each bridge's "
                 "length is the median over the frames it is seen.</p>")
    parts.append("<h2>Overview</h2>")
    parts.append(_img(overview, "overview", (
        f"Frame t={middle}: mitochondria magenta, membrane green (white where both); "
        "recipient outlines yellow with track ids, bridge skeletons sky blue, events of all "
        "frames as orange circles. Colours from the Okabe-Ito palette; magenta/green "
        "separates for red-green colour blindness." if frames is not None else
        f"Frame t={middle}, labels only (movie not available): recipient outlines yellow, "
        "bridges sky blue, events orange.")))
    parts.append("<h2>Donor signal per recipient</h2>")
    parts.append(_img(traces, "donor signal traces", (
        "Summed background-free donor intensity inside each recipient (cells.csv "
        "donor_signal) vs time; recipients with events in colour, the others grey; "
        "triangles mark event onsets (event id above).")))
    parts.append(f"<h2>Event gallery ({len(gallery)} of {len(events)} events)</h2>")
    if frames is not None:
        parts.append("<p>Frames t−2 … t+3 around each onset, centred on the new donor object "
                     "(white circle at onset). Rows: mitochondria channel, membrane channel, "
                     "and their merge (mitochondria magenta, membrane green: colour-blind "
                     "safe). The recipient outline is yellow, bridge skeletons sky blue; "
                     "contrast is shared across each strip.</p>")
    else:
        parts.append("<p>The movie is not available, so the strips show the recipient "
                     "outline (yellow), bridges (sky blue) and the onset position (orange) "
                     "only.</p>")
    if not len(events):
        parts.append("<p>No transfer events.</p>")
    parts += gallery
    if omitted:
        parts.append(f'<p class="note">{omitted} more event{"s" * (omitted > 1)} not shown '
                     f"(the gallery shows the first {MAX_GALLERY_EVENTS} by onset); see "
                     "events.csv.</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_report(folder: str | os.PathLike, *, movie_path: str | os.PathLike | None = None,
                 overwrite: bool = True,
                 progress: Callable[[str], None] | None = None) -> Path:
    """Write ``report.html`` and its figures (``report/*.png``) into a results folder.

    Parameters
    ----------
    folder : str or PathLike
        A results folder written by ``mtrack run`` (``events.csv``, ``cells.csv``,
        ``params.yaml``, ``run.json``; ``bridges.csv`` and ``labels.zarr`` are used
        when present).
    movie_path : str or PathLike, optional
        The movie, when it has moved; default ``run.json["input"]["path"]``. Without a
        readable movie (or one whose shape differs from the analysed one) the report
        is still written, without image crops, and says so.
    overwrite : bool
        Replace an existing report (default); otherwise an existing one raises.
    progress : callable, optional
        Called with a short message before each event figure.

    Returns
    -------
    Path
        The ``report.html`` written.

    Raises
    ------
    OutputError
        The folder is not a results folder (one line naming the missing files), or a
        report exists and ``overwrite`` is False, or the folder is not writable.

    Notes
    -----
    Everything is written into a hidden temporary folder inside ``folder`` and then
    renamed into place, so a failure leaves any previous report untouched and no
    partial files behind. The page is static: no scripts, no external files; images
    are referenced by relative paths.
    """
    folder = Path(folder)
    html_path, fig_dir = folder / "report.html", folder / "report"
    if not folder.is_dir():
        raise OutputError(f"{folder}: results folder not found")
    if not overwrite and (html_path.exists() or fig_dir.exists()):
        raise OutputError(f"{html_path}: report exists; pass overwrite=True to replace it")
    if not os.access(folder, os.W_OK):
        raise OutputError(f"{folder}: not writable, cannot hold the report")
    results = load_results(folder)  # fails early, before anything is created
    tmp = Path(tempfile.mkdtemp(prefix=".report.partial-", dir=folder))
    try:
        (tmp / "report").mkdir()
        page = _build(folder, results, tmp / "report",
                      Path(movie_path) if movie_path else None, progress)
        (tmp / "report.html").write_text(page, encoding="utf-8")
        if fig_dir.exists():
            os.rename(fig_dir, tmp / "report.old")
        os.rename(tmp / "report", fig_dir)
        os.replace(tmp / "report.html", html_path)
    except BaseException:
        if not fig_dir.exists() and (tmp / "report.old").exists():
            os.rename(tmp / "report.old", fig_dir)  # put the previous figures back
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return html_path
