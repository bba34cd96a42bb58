"""Plotly figures of the analyses, built from the analysis frames and the statistics' answers.

Every function returns a plain JSON-ready dict (``figure_dict``: NaN becomes null) that the API
returns as is and the pages hand to Plotly.js. Nothing here queries the database.
"""

from __future__ import annotations

import base64
import datetime as dt
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from scipy import stats

#: Plotly template of every figure (light background prints well).
TEMPLATE = "plotly_white"
#: A colour-blind-safe qualitative palette (Okabe–Ito).
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")
HEMISPHERE_NAMES = {"L": "left hemisphere", "R": "right hemisphere"}
OUTCOME_LABELS = {
    "umn_total": "Penn UMN total (0-32)",
    "alsfrs_total": "ALSFRS-R total (0-48)",
    "band_contrast": "Band contrast (unitless)",
    "band_extent": "Band extent (fraction)",
    "laminar_contrast": "Laminar contrast (unitless)",
    "umn_bulbar": "UMN bulbar (0-4)",
    "umn_right_upper": "UMN right upper limb (0-7)",
    "umn_left_upper": "UMN left upper limb (0-7)",
    "umn_right_lower": "UMN right lower limb (0-7)",
    "umn_left_lower": "UMN left lower limb (0-7)",
    "kings_stage": "King's stage (1-4)",
    "mitos_stage": "MiToS stage (0-5)",
}
#: Times (months from V1) at which the numbers at risk are shown.
AT_RISK_STEP_MONTHS = 4


def figure_dict(figure: go.Figure) -> dict[str, Any]:
    """Return a figure as a JSON-ready dict: numpy arrays as plain lists, NaN as null.

    Plain lists rather than plotly's base64 typed arrays, so that any API client can read the
    numbers.
    """
    return _plain(figure.to_plotly_json())


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        if "bdata" in value and "dtype" in value:
            # plotly stores numeric arrays as base64 typed arrays: decode them to numbers.
            array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
            if "shape" in value:
                shape = [int(n) for n in str(value["shape"]).split(",")]
                array = array.reshape(shape)
            return _plain(array)
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (pd.Timestamp, dt.date)):
        return value.isoformat()
    return value


def colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def _label(outcome: str) -> str:
    return OUTCOME_LABELS.get(outcome, outcome.replace("_", " "))


def _mean_ci(values: pd.Series) -> tuple[float, float, float, int]:
    """Mean with a t-based 95% interval (NaN bounds with a single value)."""
    values = pd.to_numeric(values, errors="coerce").dropna()
    n = len(values)
    if n == 0:
        return math.nan, math.nan, math.nan, 0
    mean = float(values.mean())
    if n < 2:
        return mean, math.nan, math.nan, n
    half = float(stats.t.ppf(0.975, n - 1) * values.std(ddof=1) / math.sqrt(n))
    return mean, mean - half, mean + half, n


def spaghetti_data(frame: pd.DataFrame, *, outcome: str, by: str) -> pd.DataFrame:
    """Group means per visit with 95% CIs: ``level, visit_code, months, mean, ci_low, ci_high, n``."""
    rows = []
    data = frame.dropna(subset=[outcome, by, "months"])
    for (level, code), visit_rows in data.groupby([by, "visit_code"], sort=True):
        mean, low, high, n = _mean_ci(visit_rows[outcome])
        rows.append(
            {
                "level": level,
                "visit_code": code,
                "months": float(visit_rows["months"].mean()),
                "mean": mean,
                "ci_low": low,
                "ci_high": high,
                "n": n,
            }
        )
    columns = ["level", "visit_code", "months", "mean", "ci_low", "ci_high", "n"]
    return pd.DataFrame(rows, columns=columns).sort_values(["level", "months"])


def spaghetti(
    frame: pd.DataFrame,
    *,
    outcome: str,
    by: str,
    slopes: Sequence[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Cohort spaghetti plot: one thin line per subject, and each level's mean with 95% CI.

    Parameters
    ----------
    frame : analysis frame (``subject``, ``months``, ``visit_code``, ``outcome``, ``by``).
    slopes : optional ``slopes`` of ``fit_progression``, shown in the legend names.
    """
    figure = go.Figure()
    data = frame.dropna(subset=[outcome, by, "months"]).sort_values(["subject", "months"])
    levels = sorted(data[by].unique(), key=str)
    slope_of = {str(s["level"]): s for s in slopes or []}
    means = spaghetti_data(frame, outcome=outcome, by=by)
    for index, level in enumerate(levels):
        level_rows = data[data[by] == level]
        # One trace per level with gaps (None) between subjects keeps the figure light.
        xs: list[Any] = []
        ys: list[Any] = []
        texts: list[Any] = []
        for subject, rows in level_rows.groupby("subject", sort=False):
            xs += [*rows["months"].tolist(), None]
            ys += [*rows[outcome].tolist(), None]
            texts += [subject] * len(rows) + [None]
        figure.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                text=texts,
                mode="lines+markers",
                line={"width": 1, "color": colour(index)},
                marker={"size": 4},
                opacity=0.35,
                name=f"{level}: subjects",
                legendgroup=str(level),
                hovertemplate="%{text}<br>%{x:.1f} months: %{y}<extra></extra>",
            )
        )
        level_means = means[means["level"] == level]
        slope = slope_of.get(str(level))
        name = f"{level}: mean (95% CI)"
        if slope and slope.get("slope") is not None:
            name += f", slope {slope['slope']:.3g}/month"
        figure.add_trace(
            go.Scatter(
                x=level_means["months"],
                y=level_means["mean"],
                mode="lines+markers",
                line={"width": 3, "color": colour(index)},
                marker={"size": 8},
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": (level_means["ci_high"] - level_means["mean"]).tolist(),
                    "arrayminus": (level_means["mean"] - level_means["ci_low"]).tolist(),
                },
                name=name,
                legendgroup=str(level),
                customdata=level_means[["n", "visit_code"]].to_numpy().tolist(),
                hovertemplate="%{customdata[1]} (n = %{customdata[0]}): mean %{y:.3g}<extra></extra>",
            )
        )
    figure.update_layout(
        template=TEMPLATE,
        title=f"{_label(outcome)} over time by {by}",
        xaxis_title="Months from V1",
        yaxis_title=_label(outcome),
    )
    return figure_dict(figure)


def subject_timeline(frame: pd.DataFrame, events: pd.DataFrame | None = None) -> dict[str, Any]:
    """One subject's UMN total, ALSFRS-R total and band contrast over months, events marked.

    Parameters
    ----------
    frame : the subject's rows of the analysis frame.
    events : ``kind``, ``date``, ``months`` (from V1) of the subject's clinical events.
    """
    data = frame.sort_values("months")
    figure = make_subplots(
        rows=3,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.06,
        subplot_titles=("Penn UMN total", "ALSFRS-R total", "Band contrast"),
    )
    figure.add_trace(
        go.Scatter(x=data["months"], y=data["umn_total"], mode="lines+markers", name="UMN total"),
        row=1,
        col=1,
    )
    figure.add_trace(
        go.Scatter(
            x=data["months"], y=data["alsfrs_total"], mode="lines+markers", name="ALSFRS-R total"
        ),
        row=2,
        col=1,
    )
    for index, hemisphere in enumerate(("L", "R")):
        figure.add_trace(
            go.Scatter(
                x=data["months"],
                y=data[f"band_contrast_{hemisphere}"],
                mode="lines+markers",
                name=f"Band contrast, {HEMISPHERE_NAMES[hemisphere]}",
                line={"color": colour(index + 2)},
            ),
            row=3,
            col=1,
        )
    if events is not None and not events.empty:
        dated = events.dropna(subset=["months"])
        for _, event in dated.iterrows():
            figure.add_vline(x=float(event["months"]), line_dash="dot", line_color="#a40e26")
        figure.add_trace(
            go.Scatter(
                x=dated["months"],
                y=[0] * len(dated),
                mode="markers+text",
                text=dated["kind"].tolist(),
                textposition="top center",
                marker={"symbol": "x", "size": 10, "color": "#a40e26"},
                name="Clinical events",
                hovertemplate="%{text} at %{x:.1f} months<extra></extra>",
            ),
            row=2,
            col=1,
        )
    subject = str(data["subject"].iloc[0]) if not data.empty else ""
    figure.update_layout(template=TEMPLATE, title=f"Subject {subject}", height=720)
    figure.update_xaxes(title_text="Months from V1", row=3, col=1)
    return figure_dict(figure)


def at_risk_table(
    km_groups: Sequence[dict[str, Any]], times: Sequence[float]
) -> list[dict[str, Any]]:
    """Numbers at risk per level at the given months (``[{level, months: [...], n: [...]}]``).

    From the event table of ``kaplan_meier``: the number at risk at time t is the number at risk
    at the first tabulated time at or after t (nobody leaves between tabulated times).
    """
    table = []
    for group in km_groups:
        months = np.asarray(group["at_risk"]["months"], dtype=float)
        counts = np.asarray(group["at_risk"]["n"], dtype=int)
        n_at = []
        for t in times:
            later = np.nonzero(months >= t)[0]
            n_at.append(int(counts[later[0]]) if len(later) else 0)
        table.append({"level": group["level"], "months": list(times), "n": n_at})
    return table


def kaplan_meier_figure(
    km_groups: Sequence[dict[str, Any]], *, event: str, origin: str = "V1"
) -> dict[str, Any]:
    """Kaplan–Meier curves with 95% bands, censoring ticks and a numbers-at-risk table below."""
    horizon = max(
        (max(g["curve"]["months"] or [0]) for g in km_groups),
        default=0.0,
    )
    times = [float(t) for t in np.arange(0, horizon + 1e-9, AT_RISK_STEP_MONTHS)]
    figure = make_subplots(
        rows=2, cols=1, shared_xaxes=True, row_heights=[0.78, 0.22], vertical_spacing=0.08
    )
    for index, group in enumerate(km_groups):
        curve = group["curve"]
        name = f"{group['level']} (n = {group['n']}, events {group['events']})"
        figure.add_trace(
            go.Scatter(
                x=curve["months"] + curve["months"][::-1],
                y=curve["ci_high"] + curve["ci_low"][::-1],
                fill="toself",
                fillcolor=colour(index),
                opacity=0.15,
                line={"width": 0, "shape": "hv"},
                hoverinfo="skip",
                showlegend=False,
                legendgroup=str(group["level"]),
                name=f"{group['level']} 95% CI",
            ),
            row=1,
            col=1,
        )
        figure.add_trace(
            go.Scatter(
                x=curve["months"],
                y=curve["survival"],
                mode="lines",
                line={"shape": "hv", "color": colour(index), "width": 2},
                name=name,
                legendgroup=str(group["level"]),
                hovertemplate="%{x:.1f} months: %{y:.2f}<extra></extra>",
            ),
            row=1,
            col=1,
        )
    for index, row in enumerate(at_risk_table(km_groups, times)):
        figure.add_trace(
            go.Scatter(
                x=row["months"],
                y=[str(row["level"])] * len(times),
                mode="text",
                text=[str(n) for n in row["n"]],
                textfont={"color": colour(index)},
                showlegend=False,
                name=f"At risk: {row['level']}",
                hovertemplate="%{y}: %{text} at risk at %{x} months<extra></extra>",
            ),
            row=2,
            col=1,
        )
    figure.update_layout(
        template=TEMPLATE,
        title=f"Time to {event.replace('_', ' ')} from {origin}",
        height=560,
    )
    figure.update_yaxes(title_text="Event-free probability", range=[0, 1.02], row=1, col=1)
    figure.update_yaxes(title_text="At risk", row=2, col=1)
    figure.update_xaxes(title_text=f"Months from {origin}", row=2, col=1)
    return figure_dict(figure)


def forest(terms: Sequence[dict[str, Any]], *, title: str = "Cox model") -> dict[str, Any]:
    """Forest plot of hazard ratios with 95% CIs on a log axis (reference line at 1)."""
    usable = [t for t in terms if t.get("hazard_ratio") is not None]
    hr = [t["hazard_ratio"] for t in usable]
    figure = go.Figure(
        go.Scatter(
            x=hr,
            y=[t["term"] for t in usable],
            mode="markers",
            marker={"size": 10, "symbol": "square", "color": colour(0)},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": [
                    (t["ci_high"] - t["hazard_ratio"]) if t.get("ci_high") is not None else None
                    for t in usable
                ],
                "arrayminus": [
                    (t["hazard_ratio"] - t["ci_low"]) if t.get("ci_low") is not None else None
                    for t in usable
                ],
            },
            customdata=[[t.get("p")] for t in usable],
            name="Hazard ratio (95% CI)",
            hovertemplate="%{y}: HR %{x:.2f}, p = %{customdata[0]:.3g}<extra></extra>",
        )
    )
    figure.add_vline(x=1, line_dash="dash", line_color="#555")
    if not usable:
        # An empty axis would read as "no effect": say that there is no model to show.
        figure.add_annotation(
            text="Cox model not estimated: see the notes beside the figure",
            xref="paper",
            yref="paper",
            x=0.5,
            y=0.5,
            showarrow=False,
            font={"size": 14},
        )
    figure.update_layout(
        template=TEMPLATE,
        title=title,
        xaxis={"type": "log", "title": "Hazard ratio (log scale)"},
        yaxis={"autorange": "reversed"},
        height=max(260, 90 + 50 * len(usable)),
    )
    return figure_dict(figure)


def roc(diagnostic: dict[str, Any]) -> dict[str, Any]:
    """ROC curve of a continuous marker (from ``diagnostic_accuracy``) with the chance line.

    A binary marker (no ROC) is drawn as its single operating point.
    """
    figure = go.Figure()
    auc = diagnostic.get("auc")
    if diagnostic.get("roc"):
        curve = diagnostic["roc"]
        name = f"ROC, AUC {auc:.2f}" if auc is not None else "ROC"
        if diagnostic.get("auc_ci_low") is not None:
            name += f" (95% CI {diagnostic['auc_ci_low']:.2f}-{diagnostic['auc_ci_high']:.2f})"
        figure.add_trace(
            go.Scatter(
                x=curve["fpr"],
                y=curve["tpr"],
                mode="lines+markers",
                line={"shape": "hv", "color": colour(0), "width": 2},
                customdata=[[t] for t in curve["thresholds"]],
                name=name,
                hovertemplate="threshold %{customdata[0]:.3g}: sensitivity %{y:.2f}, "
                "1 - specificity %{x:.2f}<extra></extra>",
            )
        )
    sensitivity = diagnostic["sensitivity"]["estimate"]
    specificity = diagnostic["specificity"]["estimate"]
    figure.add_trace(
        go.Scatter(
            x=[1 - specificity],
            y=[sensitivity],
            mode="markers",
            marker={"size": 12, "color": colour(1), "symbol": "diamond"},
            name="Operating point",
        )
    )
    figure.add_trace(
        go.Scatter(
            x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dash", "color": "#888"}, name="Chance"
        )
    )
    figure.update_layout(
        template=TEMPLATE,
        title=f"Diagnostic accuracy of {diagnostic.get('marker', 'the marker')}",
        xaxis={"title": "1 - specificity", "range": [0, 1]},
        yaxis={"title": "Sensitivity", "range": [0, 1.02], "scaleanchor": "x"},
    )
    return figure_dict(figure)


def band_umn_data(frame: pd.DataFrame) -> pd.DataFrame:
    """Long frame per hemisphere: ``subject, visit_code, group, hemisphere, contralateral_umn,
    band_contrast``."""
    parts = []
    for hemisphere in ("L", "R"):
        part = frame[["subject", "visit_code", "group", "site"]].copy()
        part["hemisphere"] = hemisphere
        part["contralateral_umn"] = frame[f"contralateral_umn_{hemisphere}"]
        part["band_contrast"] = frame[f"band_contrast_{hemisphere}"]
        parts.append(part)
    columns = [
        "subject",
        "visit_code",
        "group",
        "site",
        "hemisphere",
        "contralateral_umn",
        "band_contrast",
    ]
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts, ignore_index=True)[columns].dropna(
        subset=["contralateral_umn", "band_contrast"]
    )


def band_umn_scatter(frame: pd.DataFrame) -> dict[str, Any]:
    """Band contrast of each hemisphere against the contralateral limbs' UMN subscore."""
    data = band_umn_data(frame)
    figure = make_subplots(
        rows=1,
        cols=2,
        shared_yaxes=True,
        subplot_titles=(
            "Left hemisphere vs right limbs' UMN",
            "Right hemisphere vs left limbs' UMN",
        ),
    )
    groups = sorted(data["group"].dropna().unique(), key=str)
    for column, hemisphere in enumerate(("L", "R"), start=1):
        for index, group in enumerate(groups):
            rows = data[(data["hemisphere"] == hemisphere) & (data["group"] == group)]
            figure.add_trace(
                go.Scatter(
                    x=rows["contralateral_umn"],
                    y=rows["band_contrast"],
                    mode="markers",
                    marker={"color": colour(index), "size": 7, "opacity": 0.75},
                    name=str(group),
                    legendgroup=str(group),
                    showlegend=column == 1,
                    text=(rows["subject"] + " " + rows["visit_code"]).tolist(),
                    hovertemplate="%{text}: UMN %{x}, contrast %{y:.3f}<extra></extra>",
                ),
                row=1,
                col=column,
            )
        figure.update_xaxes(title_text="Contralateral limb UMN (0-14)", row=1, col=column)
    figure.update_yaxes(title_text="Band contrast", row=1, col=1)
    figure.update_layout(template=TEMPLATE, title="Band contrast vs contralateral UMN burden")
    return figure_dict(figure)


def harmonization_boxes(raw: pd.DataFrame, harmonized: pd.DataFrame) -> dict[str, Any]:
    """Per-site box plots of band contrast before and after ComBat harmonization."""
    figure = make_subplots(
        rows=1,
        cols=2,
        shared_yaxes=True,
        subplot_titles=("Before harmonization", "After ComBat across scanners"),
    )
    sites = sorted(set(raw["site"].dropna()) | set(harmonized["site"].dropna()))
    for column, data in enumerate((raw, harmonized), start=1):
        for index, site in enumerate(sites):
            values = data.loc[data["site"] == site, "band_contrast"].dropna()
            figure.add_trace(
                go.Box(
                    # An array, not a list: plotly checks a list element by element (about a
                    # second for 60,000 visits); the figure holds the same numbers either way.
                    y=values.to_numpy(dtype=float),
                    name=str(site),
                    marker_color=colour(index),
                    boxpoints="all",
                    jitter=0.4,
                    pointpos=0,
                    legendgroup=str(site),
                    showlegend=column == 1,
                ),
                row=1,
                col=column,
            )
    figure.update_yaxes(title_text="Band contrast (mean of hemispheres)", row=1, col=1)
    figure.update_layout(template=TEMPLATE, title="Band contrast per site")
    return figure_dict(figure)


def harmonization_data(raw: pd.DataFrame, harmonized: pd.DataFrame) -> pd.DataFrame:
    """Rows of both frames side by side: ``subject, visit_code, site, scanner, raw, harmonized``."""
    keys = ["subject", "visit_code"]
    left = raw[[*keys, "site", "scanner", "group", "band_contrast"]].rename(
        columns={"band_contrast": "band_contrast_raw"}
    )
    right = harmonized[[*keys, "band_contrast"]].rename(
        columns={"band_contrast": "band_contrast_harmonized"}
    )
    return left.merge(right, on=keys, how="left")
