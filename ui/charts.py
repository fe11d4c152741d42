"""Plotly figures for the pages (plain data in, figure out)."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from seg_core.schemes.scheme import LabelScheme

LAYOUT = dict(margin=dict(l=10, r=10, t=40, b=10), height=320, legend=dict(orientation="h", y=-0.2))


def class_distribution(
    shares: Sequence[float], scheme: LabelScheme, title: str = "Pixel share per class"
) -> go.Figure:
    """Horizontal bars, one per class of `scheme` present, in its colours (log scale: rare classes matter)."""
    rows = [(c.name, share, c.hex) for c, share in zip(scheme.classes, shares, strict=True) if share > 0]
    rows.sort(key=lambda r: r[1])
    figure = go.Figure(
        go.Bar(
            x=[r[1] for r in rows],
            y=[r[0] for r in rows],
            orientation="h",
            marker=dict(color=[r[2] for r in rows], line=dict(color="#555", width=0.5)),
            hovertemplate="%{y}: %{x:.3%}<extra></extra>",
        )
    )
    figure.update_layout(
        title=title,
        xaxis=dict(type="log", tickformat=".2~%", title="share of pixels"),
        **{**LAYOUT, "height": max(300, 22 * len(rows) + 80)},
    )
    return figure


def curves(
    series: dict[str, tuple[Sequence[float], Sequence[float]]],
    title: str,
    x_title: str = "epoch",
    y_title: str = "",
) -> go.Figure:
    """Line chart of named (x, y) series."""
    figure = go.Figure()
    for name, (x, y) in series.items():
        figure.add_trace(
            go.Scatter(x=list(x), y=list(y), mode="lines+markers" if len(x) < 40 else "lines", name=name)
        )
    figure.update_layout(title=title, xaxis_title=x_title, yaxis_title=y_title, **LAYOUT)
    return figure


def confusion_heatmap(
    values: Sequence[Sequence[float]],
    labels: Sequence[str],
    title: str = "Confusion matrix (rows: truth, normalised)",
) -> go.Figure:
    figure = go.Figure(
        go.Heatmap(
            z=values,
            x=list(labels),
            y=list(labels),
            colorscale="Blues",
            zmin=0,
            zmax=1,
            hovertemplate="truth %{y}<br>predicted %{x}<br>%{z:.1%}<extra></extra>",
        )
    )
    figure.update_layout(
        title=title,
        xaxis=dict(title="predicted", tickangle=45),
        yaxis=dict(title="truth", autorange="reversed"),
        **{**LAYOUT, "height": 620},
    )
    return figure
