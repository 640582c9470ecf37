"""Per-condition transfer rates, background from control movies, and the batch report.

An *experiment sheet* (CSV) names, for each movie of a batch, its ``condition`` and its
``role``; an optional ``label_type`` says how the donor mitochondria were labelled
(``dye`` or ``genetic``) and an optional ``control_for`` column names the sample
condition a control movie belongs to.

Roles
    ``sample``: donors and recipients co-cultured and filmed (the measurement).
    ``conditioned_medium`` and ``mixed_at_fixation`` (:data:`CONTROL_ROLES`): background
    controls. Transfer by cell contact cannot happen there (recipients see only the donors'
    medium, or donors and recipients meet only at fixation), so every event called in
    them is background: uptake from the medium, or co-localisation at fixation.
    ``donor_only`` and ``recipient_only``: single-label controls (bleed-through); they are
    listed but do not enter rates or background.

Matching controls to samples (one explicit rule)
    A control movie belongs to the sample condition named in its ``control_for`` cell
    when the sheet has that column and the cell is filled; otherwise to the sample
    condition with the same ``condition`` name. Nothing is matched by prefix or guess.
    The background rate of a condition is the pooled rate (all events over all
    recipient-hours) of the control-role movies matched to it.

Rates are events per recipient-hour: events counted over the sum, over recipient tracks,
of the time each track was present (frames present x frame interval). Intervals are
exact Poisson (Garwood) for rates, Wilson for proportions, and the exact conditional
binomial (ratio of two Poisson rates) for the empirical false-discovery estimate
``background rate / sample rate``.
"""

from __future__ import annotations

import html
import json
import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as _st

__all__ = [
    "CONDITION_COLUMNS",
    "CONTROL_ROLES",
    "LABEL_TYPES",
    "OKABE_ITO",
    "ROLES",
    "SheetError",
    "condition_table",
    "movie_counts",
    "proportion_ci",
    "rate_ci",
    "ratio_ci",
    "read_sheet",
    "sheet_movies",
    "write_batch_report",
]

ROLES = ("sample", "conditioned_medium", "mixed_at_fixation", "donor_only", "recipient_only")
CONTROL_ROLES = ("conditioned_medium", "mixed_at_fixation")
LABEL_TYPES = ("dye", "genetic")
REQUIRED_COLUMNS = ("movie", "condition", "role")

#: Okabe & Ito (2008) colour-blind safe palette.
OKABE_ITO = {
    "black": "#000000", "orange": "#E69F00", "sky_blue": "#56B4E9",
    "bluish_green": "#009E73", "yellow": "#F0E442", "blue": "#0072B2",
    "vermillion": "#D55E00", "reddish_purple": "#CC79A7",
}
_CYCLE = [OKABE_ITO[k] for k in ("blue", "orange", "bluish_green", "vermillion",
                                 "reddish_purple", "sky_blue", "yellow", "black")]
_ROUTE_COLOURS = {"tnt": OKABE_ITO["blue"], "contact": OKABE_ITO["orange"],
                  "unknown": "#999999"}

CONDITION_COLUMNS = [
    "condition", "role", "movies", "label_type", "events", "recipients",
    "positive_recipients", "recipient_hours", "rate_per_h", "rate_lo", "rate_hi",
    "percent_positive", "percent_positive_lo", "percent_positive_hi",
    "background_movies", "background_events", "background_hours", "background_rate_per_h",
    "background_lo", "background_hi", "fdr", "fdr_lo", "fdr_hi", "warnings",
]

NO_CONTROLS = "no controls"
DYE_WITHOUT_CM = "dye label without conditioned-medium control"


class SheetError(ValueError):
    """The experiment sheet cannot be used at all (unreadable, required columns missing)."""


# ----------------------------------------------------------------------------------
# confidence intervals
# ----------------------------------------------------------------------------------

def rate_ci(events: int, exposure: float, level: float = 0.95) -> tuple[float, float, float]:
    """Poisson rate with its exact (Garwood) confidence interval.

    Parameters
    ----------
    events : int
        Number of events observed.
    exposure : float
        Exposure the events were counted over (recipient-hours).
    level : float
        Confidence level (default 0.95).

    Returns
    -------
    rate, lo, hi : float
        ``events / exposure`` and the interval bounds, in events per unit exposure;
        all NaN when ``exposure`` is not positive. With 0 events the lower bound is 0
        and the upper ``-ln(alpha/2) / exposure`` (3.689 / exposure at 95 %).
    """
    k = int(events)
    if k < 0:
        raise ValueError(f"events must be >= 0, got {events}")
    if not exposure > 0:
        return (math.nan, math.nan, math.nan)
    alpha = 1.0 - level
    lo = 0.0 if k == 0 else _st.chi2.ppf(alpha / 2, 2 * k) / 2
    hi = _st.chi2.ppf(1 - alpha / 2, 2 * k + 2) / 2
    return (k / exposure, float(lo) / exposure, float(hi) / exposure)


def proportion_ci(successes: int, total: int,
                  level: float = 0.95) -> tuple[float, float, float]:
    """Proportion with its Wilson score interval.

    Parameters
    ----------
    successes, total : int
        ``successes`` out of ``total`` trials (e.g. positive recipients of all recipients).
    level : float
        Confidence level (default 0.95).

    Returns
    -------
    p, lo, hi : float
        Fractions in [0, 1]; all NaN when ``total`` is 0.
    """
    k, n = int(successes), int(total)
    if n <= 0:
        return (math.nan, math.nan, math.nan)
    if not 0 <= k <= n:
        raise ValueError(f"successes must be in [0, {n}], got {k}")
    z = _st.norm.ppf(1 - (1 - level) / 2)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (p, float(max(0.0, centre - half)), float(min(1.0, centre + half)))


def ratio_ci(events_num: int, exposure_num: float, events_den: int, exposure_den: float,
             level: float = 0.95) -> tuple[float, float, float]:
    """Ratio of two Poisson rates with the exact conditional (binomial) interval.

    Given the total ``n`` of both counts, the numerator count is binomial with
    ``p = R e1 / (R e1 + e0)``; the Clopper-Pearson interval of ``p`` maps to one for
    ``R = rate_num / rate_den``.

    Returns
    -------
    ratio, lo, hi : float
        ``hi`` is ``inf`` when ``events_den`` is 0; all NaN when both counts are 0 or
        an exposure is not positive.
    """
    x, y = int(events_num), int(events_den)
    if not (exposure_num > 0 and exposure_den > 0) or x + y == 0:
        return (math.nan, math.nan, math.nan)
    n, alpha = x + y, 1.0 - level
    p_lo = 0.0 if x == 0 else _st.beta.ppf(alpha / 2, x, n - x + 1)
    p_hi = 1.0 if x == n else _st.beta.ppf(1 - alpha / 2, x + 1, n - x)
    scale = exposure_den / exposure_num

    def odds(p: float) -> float:
        return math.inf if p >= 1 else p / (1 - p) * scale

    ratio = math.inf if y == 0 else (x / exposure_num) / (y / exposure_den)
    return (ratio, odds(float(p_lo)), odds(float(p_hi)))


# ----------------------------------------------------------------------------------
# the experiment sheet
# ----------------------------------------------------------------------------------

def _norm(value: Any) -> str:
    """A sheet cell as a clean lower-case token ('' for blanks)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return "_".join(str(value).strip().lower().replace("-", " ").split())


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).strip()


def _is_results(folder: Path) -> bool:
    return folder.is_dir() and all((folder / n).is_file()
                                   for n in ("run.json", "cells.csv", "events.csv"))


def _summary_map(root: Path) -> dict[str, tuple[str, str, str]]:
    """movie path -> (results folder, status, error) from ``root/summary.csv``."""
    path = root / "summary.csv"
    if not path.is_file():
        return {}
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError, pd.errors.ParserError):
        return {}
    out = {}
    for row in table.to_dict("records"):
        movie = row.get("movie", "")
        if movie:
            key = os.path.normpath(os.path.abspath(movie))
            out[key] = (row.get("results", ""), row.get("status", ""), row.get("error", ""))
    return out


def _resolve(movie: str, sheet_dir: Path, root: Path,
             summary: dict[str, tuple[str, str, str]]) -> tuple[Path | None, str]:
    """Results folder of a sheet's ``movie`` entry, or None and why not."""
    from .batch import result_names

    given = Path(movie).expanduser()
    absolute = given if given.is_absolute() else sheet_dir / given
    key = os.path.normpath(os.path.abspath(absolute))
    if key in summary:
        results, status, error = summary[key]
        if status == "failed":
            return None, f"failed in the batch ({error})" if error else "failed in the batch"
        if results and _is_results(Path(results)):
            return Path(results), ""
    candidates = [absolute, root / movie, root / result_names([given])[0]]
    for folder in candidates:
        if _is_results(folder):
            return folder, ""
    return None, f"no results folder (looked for {root / result_names([given])[0]})"


def _sheet_table(path: Path) -> pd.DataFrame:
    """The sheet as text columns with normalised names; unreadable -> SheetError."""
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True,
                            comment="#")
    except (OSError, UnicodeDecodeError, ValueError, pd.errors.ParserError) as err:
        detail = " ".join(str(err).split()) or err.__class__.__name__
        raise SheetError(f"{path}: cannot read the experiment sheet ({detail})") from None
    table.columns = [_norm(c) for c in table.columns]
    return table


def read_sheet(path: str | os.PathLike,
               results_root: str | os.PathLike | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Read an experiment sheet and find each movie's results folder.

    Parameters
    ----------
    path : path
        CSV with columns ``movie`` (a movie path as given to the batch, a results-folder
        path, or a results-folder name), ``condition`` and ``role`` (one of
        :data:`ROLES`; case, spaces and hyphens are forgiven), optionally ``label_type``
        (``dye`` or ``genetic``) and ``control_for`` (the sample condition a control
        movie belongs to). Relative paths are taken relative to the sheet's folder.
    results_root : path, optional
        Batch folder holding the results folders (default: the sheet's folder). Its
        ``summary.csv``, when present, maps movie paths to results folders.

    Returns
    -------
    sheet : DataFrame
        The valid rows: ``line`` (line number in the file), ``movie``, ``condition``,
        ``role``, ``label_type`` ('' when not given), ``control_for`` (the matched
        sample condition, see the module notes) and ``results`` (folder path).
    problems : list of str
        One line per dropped row (missing results folder, unknown role or label type,
        blank condition, repeated movie), each naming the file and line.

    Raises
    ------
    SheetError
        The file cannot be read or lacks a required column.
    """
    path = Path(path)
    root = Path(results_root) if results_root is not None else path.parent
    table = _sheet_table(path)
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise SheetError(f"{path}: experiment sheet lacks column(s) {', '.join(missing)} "
                         f"(needs {', '.join(REQUIRED_COLUMNS)}; optional label_type, "
                         f"control_for)")
    summary = _summary_map(root)
    rows, problems, seen = [], [], {}
    for i, rec in enumerate(table.to_dict("records")):
        line = i + 2  # header is line 1 (comment lines shift this; good enough to find it)
        movie, condition = _text(rec["movie"]), _text(rec["condition"])
        role, label = _norm(rec["role"]), _norm(rec.get("label_type", ""))
        where = f"{path}:{line}"
        if not movie:
            problems.append(f"{where}: no movie named; row skipped")
            continue
        if role not in ROLES:
            problems.append(f"{where}: movie '{movie}': unknown role '{_text(rec['role'])}' "
                            f"(expected one of {', '.join(ROLES)}); row skipped")
            continue
        if label and label not in LABEL_TYPES:
            problems.append(f"{where}: movie '{movie}': unknown label_type "
                            f"'{_text(rec.get('label_type'))}' (expected dye or genetic); "
                            f"row skipped")
            continue
        if not condition:
            problems.append(f"{where}: movie '{movie}': no condition given; row skipped")
            continue
        folder, why = _resolve(movie, path.parent, root, summary)
        if folder is None:
            problems.append(f"{where}: movie '{movie}': {why}; row skipped")
            continue
        key = os.path.normpath(os.path.abspath(folder))
        if key in seen:
            problems.append(f"{where}: movie '{movie}': same results as line {seen[key]}; "
                            f"row skipped")
            continue
        seen[key] = line
        control_for = _text(rec.get("control_for", "")) or condition
        rows.append({"line": line, "movie": movie, "condition": condition, "role": role,
                     "label_type": label, "control_for": control_for,
                     "results": str(folder)})
    columns = ["line", "movie", "condition", "role", "label_type", "control_for", "results"]
    return pd.DataFrame(rows, columns=columns), problems


# ----------------------------------------------------------------------------------
# counts of one movie
# ----------------------------------------------------------------------------------

def sheet_movies(path: str | os.PathLike) -> list[tuple[Path, float | None]]:
    """The movies an experiment sheet names, to analyse them: ``(path, bleed_through)``.

    Relative paths are taken from the sheet's folder; an optional ``bleed_through`` column
    gives each movie's membrane->mito coefficient (blank: none). Rows are not validated
    here (:func:`read_sheet` does, once the results exist); a missing ``movie`` column or
    a bad coefficient is a :class:`SheetError`.
    """
    path = Path(path)
    table = _sheet_table(path)
    if "movie" not in table.columns:
        raise SheetError(f"{path}: experiment sheet lacks column movie")
    movies = []
    for i, rec in enumerate(table.to_dict("records")):
        movie = _text(rec["movie"])
        if not movie:
            continue
        text = _text(rec.get("bleed_through", ""))
        try:
            k = float(text) if text else None
        except ValueError:
            k = -1.0
        if k is not None and not 0 <= k <= 1:
            raise SheetError(f"{path}:{i + 2}: bleed_through must be a number from 0 to 1, "
                             f"got '{text}'")
        movies.append(((path.parent / movie).absolute(), k))
    return movies


def movie_counts(results_folder: str | os.PathLike) -> dict[str, Any]:
    """Events, recipients and exposure of one results folder.

    Events rejected in review (``status`` column of ``events.csv``) are left out;
    accepted, added and unreviewed events count. A recipient is positive when at least
    one counted event lies in its track.

    Returns
    -------
    dict
        ``events`` (int), ``recipients`` (recipient tracks), ``positive_recipients``,
        ``frames`` (distinct frames with recipients), ``frame_interval_s``,
        ``recipient_hours`` (sum over tracks of frames present x frame interval / 3600),
        ``onset_s`` (list of counted events' ``time_s``), ``routes`` (route -> count)
        and ``reviewed`` (whether ``events.csv`` carries review statuses).

    Raises
    ------
    ValueError
        A table or ``run.json`` is missing, unreadable or lacks what is needed.
    """
    folder = Path(results_folder)
    try:
        run = json.loads((folder / "run.json").read_text())
        cells = pd.read_csv(folder / "cells.csv")
        events = pd.read_csv(folder / "events.csv", keep_default_na=False,
                             dtype={"route": str, "status": str, "bridge_id": str})
    except (OSError, ValueError, pd.errors.ParserError) as err:
        detail = " ".join(str(err).split()) or err.__class__.__name__
        raise ValueError(f"{folder}: cannot read the results ({detail})") from None
    interval = run.get("frame_interval_s") if isinstance(run, dict) else None
    if not isinstance(interval, (int, float)) or not interval > 0:
        raise ValueError(f"{folder}: run.json has no positive frame_interval_s")
    for column in ("track_id", "t"):
        if column not in cells.columns:
            raise ValueError(f"{folder}: cells.csv lacks column '{column}'")
    reviewed = "status" in events.columns and bool(
        (events["status"].astype(str).str.strip() != "").any())
    if "status" in events.columns:
        status = events["status"].astype(str).str.strip().str.lower()
        events = events[status != "rejected"]
    present = cells.drop_duplicates(["track_id", "t"]).groupby("track_id").size()
    tracks = set(present.index)
    if "track_id" in events.columns:
        ids = pd.to_numeric(events["track_id"], errors="coerce")
        positive = len(set(ids.dropna()) & tracks)
    else:
        positive = 0
    onset = (pd.to_numeric(events["time_s"], errors="coerce").dropna().tolist()
             if "time_s" in events.columns else [])
    routes = (events["route"].astype(str).str.strip().replace("", "unknown")
              .value_counts().to_dict() if "route" in events.columns else {})
    return {
        "events": len(events),
        "recipients": len(present),
        "positive_recipients": int(positive),
        "frames": int(cells["t"].nunique()),
        "frame_interval_s": float(interval),
        "recipient_hours": float(present.sum() * interval / 3600.0),
        "onset_s": [float(v) for v in onset],
        "routes": {str(k): int(v) for k, v in routes.items()},
        "reviewed": reviewed,
    }


# ----------------------------------------------------------------------------------
# the per-condition table
# ----------------------------------------------------------------------------------

def _pool(counts: list[dict]) -> tuple[int, int, int, float]:
    return (sum(c["events"] for c in counts), sum(c["recipients"] for c in counts),
            sum(c["positive_recipients"] for c in counts),
            sum(c["recipient_hours"] for c in counts))


def condition_table(sheet: pd.DataFrame, counts: Mapping[str, Mapping[str, Any]],
                    level: float = 0.95) -> pd.DataFrame:
    """Rates per condition and control group, background and false-discovery estimates.

    Parameters
    ----------
    sheet : DataFrame
        Valid rows from :func:`read_sheet`.
    counts : mapping
        :func:`movie_counts` of each movie, keyed by the sheet's ``results`` value; rows
        without counts are left out.
    level : float
        Confidence level of every interval (default 0.95).

    Returns
    -------
    DataFrame
        :data:`CONDITION_COLUMNS`: one row per (condition, role) group, sample groups
        first. Sample rows carry the pooled background of their matched control movies
        (``background_*``), the empirical false-discovery estimate ``fdr`` = background
        rate / sample rate clipped to [0, 1] with its interval, and ``warnings``
        (``no controls`` leaves background and fdr blank; ``dye label without
        conditioned-medium control``). Rates are events per recipient-hour; percentages
        in %.
    """
    sheet = sheet[sheet["results"].astype(str).isin(list(counts))].copy()
    if "control_for" not in sheet.columns:
        sheet["control_for"] = sheet["condition"]
    if "label_type" not in sheet.columns:
        sheet["label_type"] = ""
    sheet["results"] = sheet["results"].astype(str)
    rows = []
    order = {r: i for i, r in enumerate(ROLES)}
    groups = sorted(sheet.groupby(["condition", "role"], sort=False).groups.items(),
                    key=lambda kv: (order[kv[0][1]], str(kv[0][0])))
    for (condition, role), index in groups:
        part = sheet.loc[index]
        n_events, n_rec, n_pos, hours = _pool([counts[r] for r in part["results"]])
        rate, lo, hi = rate_ci(n_events, hours, level)
        pp, pp_lo, pp_hi = proportion_ci(n_pos, n_rec, level)
        labels = sorted({x for x in part["label_type"] if x})
        row = {"condition": condition, "role": role, "movies": len(part),
               "label_type": ";".join(labels), "events": n_events, "recipients": n_rec,
               "positive_recipients": n_pos, "recipient_hours": hours, "rate_per_h": rate,
               "rate_lo": lo, "rate_hi": hi, "percent_positive": 100 * pp,
               "percent_positive_lo": 100 * pp_lo, "percent_positive_hi": 100 * pp_hi,
               "warnings": ""}
        if role == "sample":
            controls = sheet[(sheet["control_for"] == condition)
                             & sheet["role"].isin(CONTROL_ROLES)]
            warnings = []
            if controls.empty:
                warnings.append(f"{NO_CONTROLS}: no conditioned_medium or mixed_at_fixation "
                                f"movie for condition '{condition}', so its background and "
                                f"false-discovery estimate are not given")
            else:
                b_events, _, _, b_hours = _pool([counts[r] for r in controls["results"]])
                b_rate, b_lo, b_hi = rate_ci(b_events, b_hours, level)
                f, f_lo, f_hi = ratio_ci(b_events, b_hours, n_events, hours, level)
                row.update({"background_movies": len(controls),
                            "background_events": b_events, "background_hours": b_hours,
                            "background_rate_per_h": b_rate, "background_lo": b_lo,
                            "background_hi": b_hi,
                            "fdr": min(f, 1.0), "fdr_lo": min(f_lo, 1.0),
                            "fdr_hi": min(f_hi, 1.0)})
            if "dye" in labels and not (controls["role"] == "conditioned_medium").any():
                warnings.append(f"{DYE_WITHOUT_CM}: condition '{condition}' uses a dye label "
                                f"but has no conditioned_medium control, so uptake of "
                                f"dye or labelled material from the medium is not ruled out")
            row["warnings"] = " | ".join(warnings)
        rows.append(row)
    return pd.DataFrame(rows, columns=CONDITION_COLUMNS)


# ----------------------------------------------------------------------------------
# the batch report
# ----------------------------------------------------------------------------------

def _atomic_write(path: Path, write) -> None:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then rename it."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=120, layout="constrained")
    return fig, fig.add_subplot()


def _save(fig, path: Path) -> None:
    _atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))


def _plot_rates(table: pd.DataFrame, path: Path) -> None:
    samples = table[table["role"] == "sample"].reset_index(drop=True)
    fig, ax = _figure(max(4.0, 1.2 * len(samples) + 2), 3.6)
    for i, row in samples.iterrows():
        if pd.isna(row.get("background_rate_per_h")):
            ax.annotate("no controls", (i, 0), xytext=(0, 4), textcoords="offset points",
                        ha="center", va="bottom", fontsize=8, color=OKABE_ITO["vermillion"])
        else:
            ax.fill_between([i - 0.35, i + 0.35], row["background_lo"], row["background_hi"],
                            color=OKABE_ITO["vermillion"], alpha=0.25, linewidth=0,
                            label="background 95% CI (controls)" if i == 0 else None)
            ax.plot([i - 0.35, i + 0.35], [row["background_rate_per_h"]] * 2,
                    color=OKABE_ITO["vermillion"], linestyle="--", linewidth=1.2,
                    label="background rate" if i == 0 else None)
    if len(samples):
        rate = samples["rate_per_h"].to_numpy(float)
        err = np.vstack([rate - samples["rate_lo"].to_numpy(float),
                         samples["rate_hi"].to_numpy(float) - rate])
        ax.errorbar(np.arange(len(samples)), rate, yerr=err, fmt="o", capsize=5,
                    color=OKABE_ITO["blue"], label="sample rate, 95% CI")
    ax.set_xticks(np.arange(len(samples)), [str(c) for c in samples["condition"]])
    ax.set_xlim(-0.6, max(len(samples), 1) - 0.4)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("condition")
    ax.set_ylabel("transfer events per recipient-hour (1/h)")
    ax.set_title("Transfer rate per condition")
    if len(samples):
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=2, fontsize=8,
                  frameon=False)  # below the axes, never over a bar
    else:
        ax.text(0, 0.5, "no sample movies", ha="center", transform=ax.get_yaxis_transform())
    _save(fig, path)


def _plot_onsets(onsets: dict[str, list[float]], path: Path) -> None:
    names = list(onsets)
    fig, ax = _figure(6.0, max(2.4, 0.6 * len(names) + 1.4))
    rng = np.random.default_rng(0)
    for i, name in enumerate(names):
        values = np.asarray(onsets[name], float) / 60.0
        if values.size:
            q1, median, q3 = np.percentile(values, [25, 50, 75])
            ax.plot([q1, q3], [i, i], color=OKABE_ITO["black"], linewidth=5, alpha=0.35,
                    solid_capstyle="butt", label="interquartile range" if i == 0 else None)
            ax.plot([median], [i], marker="|", markersize=16, color=OKABE_ITO["black"],
                    linestyle="none", label="median" if i == 0 else None)
            ax.scatter(values, i + rng.uniform(-0.15, 0.15, values.size), s=10,
                       color=_CYCLE[i % len(_CYCLE)], alpha=0.7, linewidths=0)
        else:
            ax.text(0, i, "  no events", va="center", fontsize=8)
    ax.set_yticks(np.arange(len(names)), [f"{n} (n={len(onsets[n])})" for n in names])
    ax.set_ylim(-0.7, max(len(names), 1) - 0.3)
    ax.set_xlim(left=0)
    ax.set_xlabel("event onset time (min from movie start)")
    ax.set_title("Onset times of transfer events (sample movies)")
    if any(len(v) for v in onsets.values()):
        ax.legend(fontsize=8, frameon=False, loc="lower right")
    _save(fig, path)


def _plot_routes(routes: dict[str, dict[str, int]], path: Path) -> None:
    names = list(routes)
    kinds = [k for k in ("tnt", "contact", "unknown")
             if any(routes[n].get(k) for n in names)]
    kinds += sorted({k for n in names for k in routes[n]} - set(kinds))
    fig, ax = _figure(max(4.0, 1.1 * len(names) + 2.5), 3.6)
    bottom = np.zeros(len(names))
    totals = np.array([sum(routes[n].values()) for n in names], float)
    for j, kind in enumerate(kinds):
        share = np.array([routes[n].get(kind, 0) for n in names], float)
        share = np.divide(100 * share, totals, out=np.zeros_like(share), where=totals > 0)
        colour = _ROUTE_COLOURS.get(kind, _CYCLE[(j + 3) % len(_CYCLE)])
        ax.bar(np.arange(len(names)), share, bottom=bottom, color=colour, label=kind,
               edgecolor="white", linewidth=0.5)
        bottom += share
    ax.set_xticks(np.arange(len(names)),
                  [f"{n}\n(n={int(t)})" for n, t in zip(names, totals)])
    ax.set_ylim(0, 100)
    ax.set_xlabel("condition")
    ax.set_ylabel("share of events (%)")
    ax.set_title("Transfer routes (sample movies)")
    if kinds:
        ax.legend(title="route", fontsize=8, frameon=False, loc="center left",
                  bbox_to_anchor=(1.0, 0.5))
    _save(fig, path)


def _fmt(value: Any, digits: int = 3) -> str:
    """A number as printed in the report ('' for blanks)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return f"{float(value):.{digits}g}"


def _ci(row: pd.Series, mid: str, lo: str, hi: str) -> str:
    if pd.isna(row.get(mid)):
        return ""
    return (f'<span class="v">{_fmt(row[mid])}</span> '
            f'[<span class="v">{_fmt(row[lo])}</span>, <span class="v">{_fmt(row[hi])}</span>]')


_CSS = """
body{font-family:sans-serif;max-width:1100px;margin:1em auto;color:#111;line-height:1.4}
table{border-collapse:collapse;font-size:0.9em}td,th{border:1px solid #bbb;padding:3px 6px}
th{background:#eee}td.n{text-align:right}
.warn{background:#fff3d6;border-left:6px solid #E69F00;padding:0.5em 1em;margin:0.8em 0}
.prob{background:#fde8e1;border-left:6px solid #D55E00;padding:0.5em 1em;margin:0.8em 0}
img{max-width:100%;border:1px solid #ddd;margin:0.5em 0}
"""


def write_batch_report(batch_dir: str | os.PathLike, sheet_path: str | os.PathLike) -> Path:
    """Write ``batch_report.html``, its PNGs and ``conditions.csv`` into ``batch_dir``.

    Parameters
    ----------
    batch_dir : path
        Batch folder holding one results folder per movie (and ``summary.csv``).
    sheet_path : path
        Experiment sheet (see :func:`read_sheet`).

    Returns
    -------
    Path
        The HTML page. Every file is written under a temporary name and renamed; the
        page is written last, so it never points at missing images. Problems with the
        sheet or with single movies are listed on the page and those movies left out;
        the rest is still reported.

    Raises
    ------
    SheetError
        The sheet cannot be used at all.
    """
    batch_dir = Path(batch_dir)
    sheet, problems = read_sheet(sheet_path, batch_dir)
    counts: dict[str, dict] = {}
    for rec in sheet.to_dict("records"):
        try:
            counts[rec["results"]] = movie_counts(rec["results"])
        except ValueError as err:
            problems.append(f"{sheet_path}:{rec['line']}: movie '{rec['movie']}': {err}; "
                            f"row skipped")
    sheet = sheet[sheet["results"].isin(list(counts))]
    if sheet.empty:
        problems.append(f"{sheet_path}: no usable movies; the report is empty")
    table = condition_table(sheet, counts)
    samples = table[table["role"] == "sample"]
    for condition in sorted(set(sheet.loc[sheet["role"].isin(CONTROL_ROLES), "control_for"])
                            - set(samples["condition"])):
        problems.append(f"control movies for condition '{condition}', which has no sample "
                        f"movie: not used as a background")
    onsets: dict[str, list[float]] = {}
    routes: dict[str, dict[str, int]] = {}
    for condition in samples["condition"]:
        part = sheet[(sheet["condition"] == condition) & (sheet["role"] == "sample")]
        onsets[condition], routes[condition] = [], {}
        for r in part["results"]:
            onsets[condition] += counts[r]["onset_s"]
            for k, v in counts[r]["routes"].items():
                routes[condition][k] = routes[condition].get(k, 0) + v

    figures = {"rates": "batch_report_rates.png", "onsets": "batch_report_onsets.png",
               "routes": "batch_report_routes.png"}
    _plot_rates(table, batch_dir / figures["rates"])
    _plot_onsets(onsets, batch_dir / figures["onsets"])
    _plot_routes(routes, batch_dir / figures["routes"])
    _atomic_write(batch_dir / "conditions.csv", lambda tmp: table.to_csv(
        tmp, index=False, float_format="%.6g", lineterminator="\n"))

    esc = html.escape
    warnings = [w for ws in table["warnings"] if ws for w in ws.split(" | ")]
    parts = [(f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
             f"<title>mtrack batch report</title><style>{_CSS}</style></head><body>"),
             "<h1>mtrack batch report</h1>",
             (f"<p>Batch folder: <code>{esc(str(batch_dir))}</code>; experiment sheet: "
             f"<code>{esc(str(sheet_path))}</code>; {len(sheet)} movie(s) used.</p>")]
    if warnings:
        parts.append('<div class="warn" id="warnings"><h2>Warnings</h2><ul>'
                     + "".join(f"<li><strong>{esc(w)}</strong></li>" for w in warnings)
                     + "</ul></div>")
    if problems:
        parts.append('<div class="prob" id="problems"><h2>Problems with the input</h2><ul>'
                     + "".join(f"<li>{esc(p)}</li>" for p in problems) + "</ul></div>")
    head = ["condition", "role", "movies", "label", "events", "recipient-hours (h)",
            "rate (1/h) [95% CI]", "% positive [95% CI]", "background rate (1/h) [95% CI]",
            "false-discovery estimate [95% CI]"]
    body = []
    for _, row in table.iterrows():
        cells = [esc(str(row["condition"])), esc(row["role"]), _fmt(row["movies"]),
                 esc(row["label_type"]), _fmt(row["events"]), _fmt(row["recipient_hours"]),
                 _ci(row, "rate_per_h", "rate_lo", "rate_hi"),
                 _ci(row, "percent_positive", "percent_positive_lo", "percent_positive_hi"),
                 _ci(row, "background_rate_per_h", "background_lo", "background_hi"),
                 _ci(row, "fdr", "fdr_lo", "fdr_hi")]
        if row["role"] == "sample" and pd.isna(row.get("background_rate_per_h")):
            cells[8] = cells[9] = "no controls"
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    parts += ["<h2>Rates per condition</h2>",
              '<table id="conditions"><thead><tr>' + "".join(f"<th>{h}</th>" for h in head)
              + "</tr></thead><tbody>" + "".join(body) + "</tbody></table>",
              ("<p>Rate: transfer events per recipient-hour (events over the summed time each "
              "recipient track was present), exact Poisson 95% interval. Background: pooled "
              "rate of the conditioned_medium and mixed_at_fixation movies matched to the "
              "condition (by <code>control_for</code>, else the same <code>condition</code> "
              "name). False-discovery estimate: background rate / sample rate, clipped to "
              "[0, 1], exact ratio-of-Poisson interval. Full precision in "
              "<a href=\"conditions.csv\">conditions.csv</a>.</p>"),
              "<h2>Figures</h2>",
              (f'<img src="{figures["rates"]}" alt="transfer rate per condition with 95% '
              f'intervals and background band">'),
              f'<img src="{figures["onsets"]}" alt="event onset times per condition">',
              f'<img src="{figures["routes"]}" alt="route shares per condition">',
              "</body></html>\n"]
    out = batch_dir / "batch_report.html"
    _atomic_write(out, lambda tmp: tmp.write_text("\n".join(parts), encoding="utf-8"))
    return out
