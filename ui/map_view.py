"""The Map page's figure: photo points and mosaic footprints on a plain background with a scale,
coloured by flooded share; an optional base-map tile URL for machines with internet."""

from __future__ import annotations

import plotly.graph_objects as go

from seg_core.views.geomap import MapView

FLOOD_SCALE = [[0.0, "#d9f0d3"], [0.25, "#b39ddb"], [1.0, "#5e00b3"]]  # dry green -> Flooded violet


def _colour(share: float | None) -> str:
    """The FLOOD_SCALE colour of a flooded share (grey when unknown), for filled footprints."""
    if share is None:
        return "#9e9e9e"
    share = max(0.0, min(1.0, share))
    for (p0, c0), (p1, c1) in zip(FLOOD_SCALE, FLOOD_SCALE[1:], strict=False):
        if share <= p1:
            t = (share - p0) / (p1 - p0)
            rgb = [round(int(c0[k : k + 2], 16) * (1 - t) + int(c1[k : k + 2], 16) * t) for k in (1, 3, 5)]
            return "#" + "".join(f"{v:02x}" for v in rgb)
    return FLOOD_SCALE[-1][1]


def _hover(layer) -> str:
    props = layer.properties
    share = "unknown" if layer.flooded_share is None else f"{layer.flooded_share:.1%}"
    if layer.kind == "photo":
        gsd = f"{props['gsd_cm']} cm/px ({props['gsd_source']})" if props.get("gsd_cm") else "GSD unknown"
        return (
            f"<b>{layer.name}</b><br>flooded {share}<br>roofs {props.get('roofs_total')}, near flood "
            f"{props.get('roofs_exposed')}<br>vehicles {props.get('vehicles')}, boats {props.get('boats')}<br>{gsd}"
        )
    return f"<b>{layer.name}</b> (orthomosaic)<br>flooded {share}<br>model {props.get('model_gsd')}"


def map_figure(view: MapView, tile_url: str | None = None) -> go.Figure:
    """Plain metric plot by default (offline); a MapLibre map over `tile_url` tiles when given."""
    if tile_url:
        return _tile_figure(view, tile_url)
    figure = go.Figure()
    for index, layer in enumerate(view.layers):
        if layer.kind == "mosaic":
            figure.add_trace(
                go.Scatter(
                    x=layer.x,
                    y=layer.y,
                    fill="toself",
                    mode="lines",
                    fillcolor=_colour(layer.flooded_share),
                    line={"color": "#333", "width": 1},
                    opacity=0.8,
                    name=layer.name,
                    hoverinfo="text",
                    text=_hover(layer),
                    customdata=[index] * len(layer.x),
                )
            )
    mosaics = [(i, layer) for i, layer in enumerate(view.layers) if layer.kind == "mosaic"]
    if mosaics:  # a clickable square in each footprint (plotly reports no clicks on fills)
        figure.add_trace(
            go.Scatter(
                x=[sum(layer.x[:-1]) / (len(layer.x) - 1) for _, layer in mosaics],
                y=[sum(layer.y[:-1]) / (len(layer.y) - 1) for _, layer in mosaics],
                mode="markers",
                marker={
                    "symbol": "square",
                    "size": 16,
                    "color": "#fff",
                    "line": {"color": "#222", "width": 2},
                },
                name="mosaics",
                hoverinfo="text",
                text=[_hover(layer) for _, layer in mosaics],
                customdata=[i for i, _ in mosaics],
            )
        )
    photos = [(i, layer) for i, layer in enumerate(view.layers) if layer.kind == "photo"]
    if photos:
        figure.add_trace(
            go.Scatter(
                x=[layer.x[0] for _, layer in photos],
                y=[layer.y[0] for _, layer in photos],
                mode="markers",
                marker={
                    "size": 14,
                    "line": {"color": "#222", "width": 1},
                    "color": [layer.flooded_share or 0.0 for _, layer in photos],
                    "colorscale": FLOOD_SCALE,
                    "cmin": 0,
                    "cmax": 1,
                    "colorbar": {"title": "flooded", "tickformat": ".0%"},
                },
                name="photos",
                hoverinfo="text",
                text=[_hover(layer) for _, layer in photos],
                customdata=[i for i, _ in photos],
            )
        )
    lon, lat = view.centre
    figure.update_layout(
        height=520,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        showlegend=False,
        plot_bgcolor="#f7f7f4",
        xaxis={"title": f"metres east of {lat:.5f}, {lon:.5f}", "zeroline": False, "gridcolor": "#ddd"},
        yaxis={
            "title": "metres north",
            "scaleanchor": "x",
            "scaleratio": 1,
            "zeroline": False,
            "gridcolor": "#ddd",
        },
        clickmode="event+select",
        dragmode="pan",
    )
    return figure


def _tile_figure(view: MapView, tile_url: str) -> go.Figure:
    figure = go.Figure()
    for index, layer in enumerate(view.layers):
        lon, lat = layer.lon, layer.lat
        figure.add_trace(
            go.Scattermap(
                lon=lon,
                lat=lat,
                mode="markers" if layer.kind == "photo" else "lines",
                fill=None if layer.kind == "photo" else "toself",
                marker={"size": 12, "color": _colour(layer.flooded_share)},
                fillcolor=_colour(layer.flooded_share),
                hoverinfo="text",
                text=[_hover(layer)] * len(lon),
                customdata=[index] * len(lon),
                name=layer.name,
            )
        )
    figure.update_layout(
        height=520,
        margin={"l": 0, "r": 0, "t": 0, "b": 0},
        showlegend=False,
        map={
            "style": "white-bg",
            "center": {"lon": view.centre[0], "lat": view.centre[1]},
            "zoom": 16,
            "layers": [{"below": "traces", "sourcetype": "raster", "source": [tile_url]}],
        },
    )
    return figure
