"""Conversions between mtrack data and napari layer data tuples (no viewer, no Qt).

A napari *layer data tuple* is ``(data, kwargs, layer_type)``: what a reader returns and what
``viewer._add_layer_from_data(*tuple)`` (or ``napari.layers.Layer.create``) turns into a layer.

* :func:`movie_layers`: a :class:`~mtrack.io.Movie` as one lazy image layer per channel;
* :func:`results_layers`: a results folder as labels (recipients, donor objects), shapes
  (bridges as paths along their skeletons), tracks (recipients) and points (events, with the
  events table as features);
* :func:`events_table`: a points layer's data and features back to an ``events.csv`` table.

Layer axes are ``(t, y, x)`` for a 2D movie and ``(t, z, y, x)`` for a 3D one; coordinates
are pixel/voxel indices and each layer's ``scale`` is ``(1, [z,] y, x)`` with the spatial
steps in µm (one frame per step of the time axis). Every layer carries
``metadata["mtrack"]`` saying what it is.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numpy as np
import pandas as pd
import zarr
from scipy import sparse
from scipy.optimize import linear_sum_assignment
from scipy.sparse import csgraph
from scipy.spatial import cKDTree

from ..events import EVENT_COLUMNS
from ..io import Movie, _oneline
from ..results import BRIDGE_CSV_COLUMNS, CELL_CSV_COLUMNS

__all__ = [
    "EVENT_FEATURE_DEFAULTS",
    "META_KEY",
    "RESULTS_REQUIRED",
    "ROUTE_COLORS",
    "STATUS_COLORS",
    "LayerDataTuple",
    "channel_array",
    "events_table",
    "layer_scale_zyx",
    "movie_layers",
    "mtrack_meta",
    "read_events",
    "results_layers",
]

LayerDataTuple = tuple[Any, dict[str, Any], str]

#: key of a layer's metadata under which mtrack describes the layer
META_KEY = "mtrack"

#: face colour of an event point by ``status`` (used as the points' ``face_color_cycle``)
STATUS_COLORS: dict[str, str] = {
    "auto": "#ffd700",      # yellow: not reviewed yet
    "accepted": "#00e000",  # green
    "rejected": "#ff2020",  # red
    "added": "#2080ff",     # blue: a missed event added by the reviewer
    "": "#a0a0a0",          # grey: no status
}
#: border colour of an event point by ``route`` (the points' ``border_color_cycle``)
ROUTE_COLORS: dict[str, str] = {
    "tnt": "#00ffff",       # cyan, like the bridges
    "contact": "#ff8c00",   # orange
    "unknown": "#ffffff",   # white
    "": "#808080",          # grey: no route (added events)
}
#: feature values a point added in napari gets (``events_table`` numbers it and marks it added)
EVENT_FEATURE_DEFAULTS: dict[str, Any] = {
    **{c: np.nan for c in EVENT_COLUMNS},
    "event_id": -1, "track_id": -1, "t": 0, "persistence": -1,
    "route": "", "bridge_id": "", "status": "added",
}
#: files without which a folder is not a usable results folder
RESULTS_REQUIRED = ("events.csv", "cells.csv", "run.json")

_INT_EVENT_COLUMNS = ("event_id", "track_id", "t", "persistence")
_STR_EVENT_COLUMNS = ("route", "bridge_id", "status")
_ROLE_COLORMAPS = {"mito": "magenta", "membrane": "green"}
_OTHER_COLORMAPS = ("gray", "cyan")
_CONTRAST_PERCENTILES = (0.5, 99.9)
_CONTRAST_SAMPLES = 2_000_000  # pixels per sampled frame, at most
_CONTRAST_PLANES = 8  # planes per sampled 3D frame, at most
_EVENT_SIZE_PX = 8.0
_BRIDGE_MATCH_PX = 3.0  # skeleton centroid vs bridges.csv centroid
_SAME_COORD = 1e-6


# --------------------------------------------------------------------------- movies


class _ChannelReader:
    """Array-like view of one channel of a movie, ``(T, Y, X)`` or ``(T, Z, Y, X)``.

    Indexing reads only the requested planes of that channel from ``movie.data`` (in its
    stored axis order), so a dask array over it reads one channel of one frame per chunk.
    """

    def __init__(self, movie: Movie, channel: int, three_d: bool):
        n_t, _, n_z, n_y, n_x = movie.shape
        self.movie = movie
        self.channel = int(channel)
        self.axes = "TZYX" if three_d else "TYX"
        self.shape = (n_t, n_z, n_y, n_x) if three_d else (n_t, n_y, n_x)
        self.dtype = movie.dtype
        self.ndim = len(self.shape)

    def __getitem__(self, key: Any) -> np.ndarray:
        key = key if isinstance(key, tuple) else (key,)
        if any(k is Ellipsis or k is None for k in key) or len(key) > self.ndim:
            raise IndexError(f"unsupported index {key!r}")
        key = key + (slice(None),) * (self.ndim - len(key))
        squeeze = tuple(0 if isinstance(k, (int, np.integer)) else slice(None) for k in key)
        key = tuple(slice(int(k), int(k) + 1 if k != -1 else None)
                    if isinstance(k, (int, np.integer)) else k for k in key)
        wanted = dict(zip(self.axes, key))
        index, kept = [], []
        for axis in self.movie.axes:
            if axis == "C":
                index.append(self.channel)
            elif axis in wanted:
                index.append(wanted[axis])
                kept.append(axis)
            else:  # a stored Z of length 1 in a 2D movie
                index.append(0)
        block = np.asarray(self.movie.data[tuple(index)])
        missing = [a for a in self.axes if a not in kept]  # axes of length 1 not stored
        block = block.reshape(block.shape + (1,) * len(missing))
        block = block.transpose([(kept + missing).index(a) for a in self.axes])
        block = block[tuple(wanted[a] if a in missing else slice(None) for a in self.axes)]
        return block[squeeze]


def channel_array(movie: Movie, channel: int, *, three_d: bool | None = None) -> da.Array:
    """One channel of a movie as a lazy dask array, one frame per chunk.

    Parameters
    ----------
    movie : Movie
        The movie (file-backed or in memory); nothing is read here.
    channel : int
        Channel index.
    three_d : bool, optional
        Keep the Z axis; default: when the movie has more than one plane.

    Returns
    -------
    dask.array.Array
        ``(T, Y, X)`` (2D) or ``(T, Z, Y, X)`` (3D) in the movie's dtype; computing a chunk
        reads that channel of one frame only.
    """
    three_d = movie.is_3d if three_d is None else bool(three_d)
    reader = _ChannelReader(movie, channel, three_d)
    token = dask.base.tokenize(str(movie.source), id(movie), channel, reader.shape,
                               str(reader.dtype))
    return da.from_array(reader, chunks=(1, *reader.shape[1:]), asarray=False,
                         name=f"mtrack-channel-{token}",
                         meta=np.empty((0,) * reader.ndim, dtype=reader.dtype))


def _contrast_limits(data: da.Array) -> list[float]:
    """Robust display range from the first, middle and last frames (subsampled)."""
    n_t = data.shape[0]
    samples = []
    for t in sorted({0, n_t // 2, n_t - 1}):
        frame = data[t]
        if frame.ndim == 3 and frame.shape[0] > _CONTRAST_PLANES:  # a few planes of a volume
            frame = frame[:: math.ceil(frame.shape[0] / _CONTRAST_PLANES)]
        values = np.asarray(frame.compute(scheduler="synchronous")).ravel()
        values = values[:: max(1, values.size // _CONTRAST_SAMPLES)]
        if values.dtype.kind in "fc":
            values = values[np.isfinite(values)]
        samples.append(values)
    values = np.concatenate(samples)
    if values.size == 0:
        return [0.0, 1.0]
    lo, hi = (float(v) for v in np.percentile(values, _CONTRAST_PERCENTILES))
    if not hi > lo:
        lo, hi = float(values.min()), float(values.max())
    if not hi > lo:
        hi = lo + 1.0
    return [lo, hi]


def _layer_scale(scale_zyx: Sequence[float], three_d: bool) -> tuple[float, ...]:
    z, y, x = (float(v) for v in scale_zyx)
    return (1.0, z, y, x) if three_d else (1.0, y, x)


def movie_layers(movie: Movie, *, roles: tuple[int, int] = (0, 1)) -> list[LayerDataTuple]:
    """A movie as one lazy image layer per channel.

    Parameters
    ----------
    movie : Movie
        Lazily read movie (:func:`mtrack.io.open_movie` or :func:`mtrack.io.movie_from_array`).
    roles : tuple of 2 ints
        ``(mito, membrane)`` channel indices; the mito channel is shown in magenta and the
        membrane channel in green, others in gray then cyan.

    Returns
    -------
    list of (data, kwargs, "image")
        In channel order. ``data`` is :func:`channel_array` (``(T, Y, X)`` for a 2D movie,
        ``(T, Z, Y, X)`` for 3D, one frame per chunk); ``kwargs`` holds ``name`` (the channel
        name, or ``"channel c"``), ``scale`` (1 for t, µm for z, y, x), ``colormap``,
        ``blending="additive"``, ``contrast_limits`` (percentiles of a few frames; only those
        are read) and ``metadata={"mtrack": {"role", "channel", "source",
        "frame_interval", "scale_zyx"}}``.
    """
    mito, membrane = (int(r) for r in roles)
    scale = _layer_scale(movie.scale, movie.is_3d)
    others = iter(_OTHER_COLORMAPS * movie.shape[1])
    layers = []
    for c in range(movie.shape[1]):
        data = channel_array(movie, c)
        role = "mito" if c == mito else "membrane" if c == membrane else None
        name = movie.channel_names[c] if c < len(movie.channel_names) else ""
        name = str(name).strip() or f"channel {c}"
        kwargs = {
            "name": name,
            "scale": scale,
            "colormap": _ROLE_COLORMAPS[role] if role else next(others),
            "blending": "additive",
            "contrast_limits": _contrast_limits(data),
            "metadata": {META_KEY: {
                "role": role,
                "channel": c,
                "source": None if movie.source is None else str(movie.source),
                "frame_interval": float(movie.frame_interval),
                "scale_zyx": [float(v) for v in movie.scale],
            }},
        }
        layers.append((data, kwargs, "image"))
    return layers


# --------------------------------------------------------------------------- results


def read_events(path: str | Path) -> pd.DataFrame:
    """Read an ``events.csv`` as a table with :data:`~mtrack.events.EVENT_COLUMNS`.

    Missing columns are added blank; ``route``, ``bridge_id`` and ``status`` are strings
    (``""`` when blank; a blank or missing ``status`` is ``"auto"``), the other columns
    numbers (NaN when blank).

    Raises
    ------
    ValueError
        One line naming the file, if it cannot be parsed.
    """
    path = Path(path)
    try:
        table = pd.read_csv(path, dtype={c: str for c in _STR_EVENT_COLUMNS},
                            keep_default_na=False, na_values={
                                c: ["", "nan", "NaN"] for c in EVENT_COLUMNS
                                if c not in _STR_EVENT_COLUMNS})
    except pd.errors.EmptyDataError:
        table = pd.DataFrame(columns=EVENT_COLUMNS)
    except Exception as exc:
        raise ValueError(f"{path}: cannot read the events table ({_oneline(exc)})") from exc
    for column in EVENT_COLUMNS:
        if column not in table:
            table[column] = "" if column in _STR_EVENT_COLUMNS else np.nan
    for column in _STR_EVENT_COLUMNS:
        table[column] = table[column].fillna("").astype(str).str.strip()
    table.loc[table["status"] == "", "status"] = "auto"  # not reviewed
    for column in EVENT_COLUMNS:
        if column not in _STR_EVENT_COLUMNS:
            try:
                table[column] = pd.to_numeric(table[column])
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{path}: column {column!r} holds non-numeric values "
                                 f"({_oneline(exc)})") from exc
    return table[EVENT_COLUMNS].reset_index(drop=True)


def _read_run(folder: Path) -> dict[str, Any]:
    path = folder / "run.json"
    try:
        run = json.loads(path.read_text())
        shape = [int(v) for v in run["shape_tczyx"]]
        scale = [float(v) for v in run["scale_zyx_um"]]
        if len(shape) != 5 or len(scale) != 3:
            raise ValueError(f"shape_tczyx {shape} or scale_zyx_um {scale} has a wrong length")
    except Exception as exc:
        raise ValueError(f"{path}: not a readable mtrack run.json ({_oneline(exc)})") from exc
    run["shape_tczyx"], run["scale_zyx_um"] = shape, scale
    return run


def _read_csv(path: Path, columns: Sequence[str]) -> pd.DataFrame:
    try:
        table = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        table = pd.DataFrame(columns=list(columns))
    except Exception as exc:
        raise ValueError(f"{path}: cannot read the table ({_oneline(exc)})") from exc
    missing = [c for c in columns if c not in table]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)}")
    return table


def _order_path(points: np.ndarray) -> np.ndarray:
    """Order the pixels of one skeleton into a path (rows of ``(z, y, x)``).

    Pixels are joined to their 8-neighbours in y, x (in 3D a skeleton pixel sits in the plane
    where the bridge is brightest, so z may jump between neighbours). Each connected piece is
    walked along its longest shortest path (spurs are dropped); pieces are chained nearest
    end to nearest end.
    """
    n = len(points)
    if n < 2:
        return points
    pairs = cKDTree(points[:, 1:]).query_pairs(r=1.5, output_type="ndarray")
    weights = np.hypot(*(points[pairs[:, 0], 1:] - points[pairs[:, 1], 1:]).T) + 1e-6
    graph = sparse.coo_matrix((weights, (pairs[:, 0], pairs[:, 1])), shape=(n, n)).tocsr()
    n_pieces, piece = csgraph.connected_components(graph, directed=False)
    walks = []
    for k in range(n_pieces):
        nodes = np.flatnonzero(piece == k)
        if len(nodes) == 1:
            walks.append(points[nodes])
            continue
        dist = csgraph.dijkstra(graph, directed=False, indices=nodes[0])
        a = int(nodes[np.argmax(np.where(np.isfinite(dist[nodes]), dist[nodes], -1))])
        dist, pred = csgraph.dijkstra(graph, directed=False, indices=a,
                                      return_predecessors=True)
        b = int(nodes[np.argmax(np.where(np.isfinite(dist[nodes]), dist[nodes], -1))])
        walk = [b]
        while walk[-1] != a:
            walk.append(int(pred[walk[-1]]))
        walks.append(points[walk[::-1]])
    walks.sort(key=len, reverse=True)
    path = walks.pop(0)
    while walks:  # attach the piece whose end is nearest to either end of the path
        best = None
        for i, walk in enumerate(walks):
            for at_start in (False, True):
                for flip in (False, True):
                    w = walk[::-1] if flip else walk
                    end, other = (path[0], w[-1]) if at_start else (path[-1], w[0])
                    d = float(np.hypot(*(end[1:] - other[1:])))
                    if best is None or d < best[0]:
                        best = (d, i, at_start, w)
        _, i, at_start, w = best
        path = np.concatenate([w, path] if at_start else [path, w])
        walks.pop(i)
    return path


def _bridge_shapes(table: pd.DataFrame, labels: Any, three_d: bool
                   ) -> tuple[list[np.ndarray], pd.DataFrame]:
    """One path per bridge and frame, traced along its skeleton in ``labels`` (T, Z, Y, X).

    The skeleton label of a bridge is frame-local; it is matched to the ``bridges.csv`` row
    of that frame by the skeleton's voxel centroid (the table's ``z, y, x``).
    """
    paths, rows = [], []
    if labels is None or len(table) == 0:
        return paths, table.iloc[:0]
    for t, group in table.groupby("t", sort=True):
        t = int(t)
        if not 0 <= t < labels.shape[0]:
            continue
        frame = np.asarray(labels[t])
        coords = np.argwhere(frame > 0)
        if len(coords) == 0:
            continue
        values = frame[tuple(coords.T)]
        order = np.argsort(values, kind="stable")
        coords, values = coords[order], values[order]
        _, starts = np.unique(values, return_index=True)
        pieces = np.split(coords, starts[1:])
        centroids = np.array([p.mean(axis=0) for p in pieces])
        wanted = group[["z", "y", "x"]].to_numpy(float)
        cost = np.linalg.norm(wanted[:, None, :] - centroids[None, :, :], axis=2)
        for i, j in zip(*linear_sum_assignment(cost)):
            if cost[i, j] > _BRIDGE_MATCH_PX or len(pieces[j]) < 2:
                continue
            path = _order_path(pieces[j].astype(float))
            if not three_d:
                path = path[:, 1:]
            paths.append(np.column_stack([np.full(len(path), float(t)), path]))
            rows.append(group.index[i])
    return paths, table.loc[rows]


def _label_arrays(folder: Path) -> dict[str, Any]:
    """The arrays of ``labels.zarr`` (lazy zarr arrays), or {} when it is absent."""
    path = folder / "labels.zarr"
    if not path.is_dir():
        return {}
    try:
        group = zarr.open_group(str(path), mode="r")
        return {name: group[name] for name in ("recipients", "donors", "bridges")
                if name in group and isinstance(group[name], zarr.Array)}
    except Exception as exc:
        raise ValueError(f"{path}: cannot read the label images ({_oneline(exc)})") from exc


def results_layers(folder: str | Path, *, ndim: int | None = None) -> list[LayerDataTuple]:
    """A results folder as layers: labels, bridges, tracks and events.

    Parameters
    ----------
    folder : str or Path
        Folder written by ``mtrack run`` (``events.csv``, ``cells.csv``, ``run.json``;
        ``bridges.csv`` and ``labels.zarr`` are used when present).
    ndim : {2, 3}, optional
        Spatial dimensions of the layers: 2 gives ``(t, y, x)`` (only for a 2D movie), 3 gives
        ``(t, z, y, x)``; default from the movie's shape in ``run.json``.

    Returns
    -------
    list of layer data tuples
        In this order (later ones drawn on top), those whose data exist:

        * ``"recipients"`` and ``"donor objects"``: labels, lazy from ``labels.zarr`` (one
          frame per chunk; ids are frame-local);
        * ``"bridges"``: shapes, one ``path`` per bridge per frame along its skeleton pixels,
          features = the ``bridges.csv`` row (``bridge_id``, ``length_um``, ...), cyan;
        * ``"recipient tracks"``: tracks from ``cells.csv`` (``track_id, t, [z,] y, x``), the
          other columns as features (no such layer when no recipient was found);
        * ``"events"``: points at ``(t, [z,] y, x)`` of ``events.csv`` with the whole table
          (all :data:`~mtrack.events.EVENT_COLUMNS`, ``status`` included) as features, face
          colour by status (:data:`STATUS_COLORS`) and border colour by route
          (:data:`ROUTE_COLORS`); a point added in napari gets
          :data:`EVENT_FEATURE_DEFAULTS`.

        Every layer has ``scale`` ``(1, [z,] y, x)`` from ``run.json`` (``scale_zyx_um``) and
        ``metadata={"mtrack": {"results": str(folder), "kind": ..., "scale_zyx": [...],
        "frame_interval": s}}``; ``kind`` is ``recipients``, ``donors``, ``bridges``,
        ``tracks`` or ``events``.

    Raises
    ------
    ValueError
        One line naming the folder and the problem: a required file missing, a table or
        ``run.json`` unreadable, ``ndim=2`` for a 3D movie.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder}: not a folder")
    missing = [n for n in RESULTS_REQUIRED if not (folder / n).is_file()]
    if missing:
        raise ValueError(f"{folder}: incomplete mtrack results folder: "
                         f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing")
    run = _read_run(folder)
    n_z = run["shape_tczyx"][2]
    if ndim not in (None, 2, 3):
        raise ValueError(f"{folder}: ndim must be 2 or 3, got {ndim!r}")
    if ndim == 2 and n_z > 1:
        raise ValueError(f"{folder}: the movie is 3D ({n_z} planes); it cannot be shown with "
                         "ndim=2")
    three_d = n_z > 1 if ndim is None else ndim == 3
    scale_zyx = run["scale_zyx_um"]
    frame_interval = float(run.get("frame_interval_s") or 1.0)
    scale = _layer_scale(scale_zyx, three_d)
    space = ["z", "y", "x"] if three_d else ["y", "x"]

    def meta(kind: str) -> dict[str, Any]:
        return {META_KEY: {"results": str(folder), "kind": kind, "scale_zyx": list(scale_zyx),
                           "frame_interval": frame_interval}}

    events = read_events(folder / "events.csv")
    # parent_track_id came later: folders written before it still open
    cells = _read_csv(folder / "cells.csv",
                      [c for c in CELL_CSV_COLUMNS if c != "parent_track_id"])
    bridges_csv = folder / "bridges.csv"
    bridges = (_read_csv(bridges_csv, ["bridge_id", "t", "z", "y", "x"])
               if bridges_csv.is_file() else pd.DataFrame(columns=BRIDGE_CSV_COLUMNS))
    arrays = _label_arrays(folder)

    layers: list[LayerDataTuple] = []
    for key, name, opacity in (("recipients", "recipients", 0.35),
                               ("donors", "donor objects", 0.6)):
        if key in arrays:
            data = da.from_zarr(arrays[key])
            layers.append((data if three_d else data[:, 0],
                           {"name": name, "scale": scale, "opacity": opacity,
                            "metadata": meta(key)}, "labels"))

    if "bridges" in arrays:
        paths, rows = _bridge_shapes(bridges, arrays["bridges"], three_d)
        features = rows.drop(columns=[c for c in ("z", "y", "x") if c in rows])
        layers.append((paths, {
            "name": "bridges", "ndim": len(scale), "scale": scale, "shape_type": "path",
            "edge_color": "cyan", "edge_width": 1.0, "face_color": "transparent",
            "opacity": 0.9, "features": features.reset_index(drop=True),
            "metadata": meta("bridges")}, "shapes"))

    if len(cells):  # napari cannot make an empty tracks layer
        tracks = cells.sort_values(["track_id", "t"], kind="stable").reset_index(drop=True)
        track_data = tracks[["track_id", "t", *space]].to_numpy(float)
        lineage = (tracks.loc[tracks["parent_track_id"] > 0, ["track_id", "parent_track_id"]]
                   .drop_duplicates() if "parent_track_id" in tracks else tracks.iloc[:0])
        graph = {int(k): [int(p)] for k, p in lineage.itertuples(index=False)}
        layers.append((track_data, {
            "name": "recipient tracks", "scale": scale, "tail_length": 10, "tail_width": 2,
            "color_by": "track_id", "graph": graph,
            "features": tracks.drop(columns=["track_id", "t", "z", "y", "x"]),
            "metadata": meta("tracks")}, "tracks"))

    points = events[["t", *space]].to_numpy(float).reshape(-1, 1 + len(space))
    layers.append((points, {
        "name": "events", "ndim": len(scale), "scale": scale, "size": _EVENT_SIZE_PX,
        "symbol": "ring", "features": events, "feature_defaults": dict(EVENT_FEATURE_DEFAULTS),
        "face_color": "status", "face_color_cycle": dict(STATUS_COLORS),
        "border_color": "route", "border_color_cycle": dict(ROUTE_COLORS),
        "border_width": 0.15, "border_width_is_relative": True,
        "metadata": meta("events")}, "points"))
    return layers


# --------------------------------------------------------------------------- events back


def _blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip() == ""
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def events_table(layer_data: Any, features: Any, *, scale_zyx: Sequence[float] | None = None,
                 frame_interval: float | None = None) -> pd.DataFrame:
    """A points layer's data and features back to an ``events.csv`` table.

    Parameters
    ----------
    layer_data : array-like, shape (N, D)
        Point coordinates ``(t, y, x)`` (D = 3) or ``(t, z, y, x)`` (D = 4; with more axes
        the last four are used), in pixel/voxel indices: moved and added points are taken
        from here, not from the features.
    features : pandas.DataFrame or mapping, optional
        The layer's features, one row per point (missing columns count as blank).
    scale_zyx : sequence of 3 floats, optional
        Voxel size in µm; with it, ``z_um, y_um, x_um`` of moved and added points are
        computed. When None, it is inferred from the unmoved rows (``x_um / x``...).
    frame_interval : float, optional
        Seconds per frame, for ``time_s`` (inferred likewise when None).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`~mtrack.events.EVENT_COLUMNS`, one row per point in layer order.
        ``t`` is the rounded time coordinate; ``z`` is 0 for 2D data. A point whose
        ``event_id`` is blank, negative or repeats an earlier one is an *added* event: it gets
        the next free ``event_id`` (max + 1, ...), ``status="added"``, its coordinates and
        their physical values, and blank other columns. Rows of unmoved points keep their
        values as they were; a moved point gets new coordinates and physical coordinates.
        ``event_id``, ``track_id``, ``t`` and ``persistence`` are nullable integers.

    Raises
    ------
    ValueError
        If the data are not (N, D) coordinates with D >= 3, or features have another length.
    """
    coords = np.asarray(layer_data, dtype=float)
    if coords.ndim != 2 or (coords.shape[1] < 3 and len(coords)):
        raise ValueError(f"points must be an (N, 3) or (N, 4) array of (t, [z,] y, x), got "
                         f"shape {coords.shape}")
    n = len(coords)
    if features is None:
        features = pd.DataFrame(index=range(n))
    features = pd.DataFrame(features).reset_index(drop=True)
    if len(features) != n:
        if len(features.columns) == 0:
            features = pd.DataFrame(index=range(n))
        else:
            raise ValueError(f"{len(features)} feature rows for {n} points")
    table = features.reindex(columns=EVENT_COLUMNS).astype(object)
    if coords.shape[1] >= 4:
        t, z, y, x = coords[:, -4], coords[:, -3], coords[:, -2], coords[:, -1]
    elif n:
        t, y, x = coords[:, 0], coords[:, 1], coords[:, 2]
        z = np.zeros(n)
    else:
        t = z = y = x = np.zeros(0)
    t_frame = np.rint(t).astype(int)

    ids = [None if _blank(v) else float(v) for v in table["event_id"]]
    seen: set[float] = set()
    needs_id = np.zeros(n, bool)
    for i, v in enumerate(ids):
        if v is None or not math.isfinite(v) or v < 0 or v != int(v) or v in seen:
            needs_id[i] = True
        else:
            seen.add(v)
    status = table["status"].map(lambda s: "" if _blank(s) else str(s)).to_numpy(object)
    added = needs_id | (status == "added")  # an added event read back keeps its id
    next_id = int(max(seen)) + 1 if seen else 1
    for i in np.flatnonzero(needs_id):
        ids[i] = float(next_id)
        next_id += 1

    def column(name: str) -> np.ndarray:
        return pd.to_numeric(table[name], errors="coerce").to_numpy(float)

    old = {k: column(k) for k in ("t", "z", "y", "x")}
    old["z"] = np.where(np.isnan(old["z"]), 0.0, old["z"]) if coords.shape[1] < 4 else old["z"]
    moved = added | ~(np.isclose(old["t"], t_frame, rtol=0, atol=_SAME_COORD)
                      & np.isclose(old["z"], z, rtol=0, atol=_SAME_COORD)
                      & np.isclose(old["y"], y, rtol=0, atol=_SAME_COORD)
                      & np.isclose(old["x"], x, rtol=0, atol=_SAME_COORD))

    # physical steps: given, else inferred from the rows that keep their values
    steps = {}
    given = dict(zip(("z_um", "y_um", "x_um"), scale_zyx)) if scale_zyx is not None else {}
    if frame_interval is not None:
        given["time_s"] = frame_interval
    for phys, pix in (("time_s", t_frame), ("z_um", z), ("y_um", y), ("x_um", x)):
        if phys in given and given[phys] is not None:
            steps[phys] = float(given[phys])
            continue
        values = column(phys)
        ok = ~moved & np.isfinite(values) & (np.abs(pix) > 0.5)
        steps[phys] = float(np.median(values[ok] / pix[ok])) if ok.any() else math.nan

    out = table.copy()
    for name in EVENT_COLUMNS:
        if name in _STR_EVENT_COLUMNS:
            out[name] = out[name].map(lambda s: "" if _blank(s) else str(s))
    for name, pix in (("t", t_frame), ("z", z), ("y", y), ("x", x)):
        out.loc[moved, name] = pix[moved]
    for phys, pix in (("time_s", t_frame), ("z_um", z), ("y_um", y), ("x_um", x)):
        if moved.any():
            out.loc[moved, phys] = pix[moved] * steps[phys]
    if added.any():
        keep = {"event_id", "t", "z", "y", "x", "time_s", "z_um", "y_um", "x_um", "status"}
        for name in EVENT_COLUMNS:
            if name not in keep:
                out.loc[added, name] = "" if name in _STR_EVENT_COLUMNS else np.nan
        out.loc[added, "status"] = "added"
    out["event_id"] = ids
    for name in EVENT_COLUMNS:
        if name in _STR_EVENT_COLUMNS:
            continue
        values = pd.to_numeric(out[name], errors="coerce")
        if name in _INT_EVENT_COLUMNS:
            values = values.round().astype("Int64")
        out[name] = values
    if coords.shape[1] < 4:  # 2D: z is a plane index, 0
        out["z"] = out["z"].fillna(0)
    return out[EVENT_COLUMNS].reset_index(drop=True)


def mtrack_meta(metadata: Any) -> dict[str, Any]:
    """``metadata["mtrack"]`` of a layer (given its ``metadata``), or {} if there is none."""
    value = metadata.get(META_KEY) if isinstance(metadata, Mapping) else None
    return value if isinstance(value, dict) else {}


def layer_scale_zyx(kwargs: Mapping[str, Any]) -> tuple[list[float] | None, float | None]:
    """``(scale_zyx, frame_interval)`` of a layer from its kwargs (metadata, else its scale)."""
    info = mtrack_meta(kwargs.get("metadata"))
    scale_zyx = info.get("scale_zyx")
    frame_interval = info.get("frame_interval")
    scale = [float(v) for v in kwargs.get("scale")] if kwargs.get("scale") is not None else []
    if scale_zyx is None and any(v != 1.0 for v in scale[1:]):  # a calibrated layer
        if len(scale) >= 4:
            scale_zyx = scale[-3:]
        elif len(scale) == 3:
            scale_zyx = [1.0, *scale[-2:]]
    return (None if scale_zyx is None else [float(v) for v in scale_zyx],
            None if frame_interval is None else float(frame_interval))
