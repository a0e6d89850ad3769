"""Plotly figures for the app: the live loss curve and sample quality against sampling steps."""
from __future__ import annotations

from typing import Sequence

import plotly.graph_objects as go

from .i18n import t

_LAYOUT = dict(template="plotly_white", height=340, margin=dict(l=60, r=20, t=40, b=50),
               legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0))
QUARTILE_NAMES = ("[0, T/4)", "[T/4, T/2)", "[T/2, 3T/4)", "[3T/4, T)")     # the first is shown as "t in [0, T/4)"


def empty_figure(message: str, title: str = "") -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper",
                       font=dict(size=14, color="#666"))
    fig.update_layout(**_LAYOUT, title=title)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def loss_figure(rows: Sequence[dict], title: str = "") -> go.Figure:
    """rows: metrics.jsonl entries. The mean loss, and the loss per quarter of the timesteps (dotted):
    small t (nearly clean images) is where a model keeps improving longest."""
    title = title or t("plot.loss_title")
    rows = [r for r in rows if r.get("loss") is not None]
    if not rows:
        return empty_figure(t("plot.loss_empty"), title)
    steps = [r["step"] for r in rows]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=steps, y=[r["loss"] for r in rows], mode="lines+markers", name=t("plot.loss_name"),
                             line=dict(width=2.5, color="#1f77b4"), marker=dict(size=4)))
    for k, name in enumerate(QUARTILE_NAMES):
        ys = [(r.get("loss_by_quartile") or [None] * 4)[k] for r in rows]
        if any(y is not None for y in ys):
            fig.add_trace(go.Scatter(x=steps, y=ys, mode="lines", name=t("plot.quartile") if k == 0 else name,
                                     line=dict(width=1, dash="dot")))
    fig.update_layout(**_LAYOUT, title=title, xaxis_title=t("plot.loss_x"), yaxis_title=t("plot.loss_y"))
    fig.update_yaxes(type="log", dtick="D2")
    return fig


def quality_figure(rows: Sequence[dict], title: str = "", metric: str = "fid", metric_label: str = "") -> go.Figure:
    """rows: diagnostics.sweep rows (series, network_calls, steps, fid, ...; older files: sampler, steps, eta).
    One line per sampler setting over network calls per image; the real-vs-real floor as a dashed line."""
    title, metric_label = title or t("plot.quality_title"), metric_label or t("plot.fid_y")
    rows = [r for r in rows if r.get(metric) is not None]
    if not rows:
        return empty_figure(t("plot.no_quality"), title)
    if metric == "fid" and all((r.get("fid_ratio") or {}).get("low") is not None for r in rows):
        return ratio_figure(rows, title)
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(_series(r), []).append(r)
    calls = lambda r: r.get("network_calls") or r["steps"]
    fig = go.Figure()
    for key, rs in sorted(groups.items()):
        rs = sorted(rs, key=calls)
        hover = [f"{key}<br>{t('plot.steps', n=r['steps'])}<br>{metric} {r[metric]:.3g}"
                 + (f"<br>{t('plot.network_calls', n=r['network_calls'])}" if r.get("network_calls") is not None
                    else "")
                 + (f"<br>{t('time.s', s=format(r['seconds'], '.1f'))}" if r.get("seconds") is not None else "")
                 + (f"<br>n = {r['n']}" if r.get("n") else "") for r in rs]
        fig.add_trace(go.Scatter(x=[calls(r) for r in rs], y=[r[metric] for r in rs], name=key,
                                 mode="lines+markers", marker=dict(size=9 if key.startswith("DDPM") else 6),
                                 hovertext=hover, hoverinfo="text"))
    floors = [r["fid_floor"] for r in rows if r.get("fid_floor") is not None]
    if floors and metric == "fid":
        floor = sum(floors) / len(floors)
        fig.add_hline(y=floor, line_dash="dash", line_color="#888",
                      annotation_text=t("plot.floor", floor=floor), annotation_position="top left")
    fig.update_layout(**_LAYOUT, title=title, xaxis_title=t("plot.quality_x"), yaxis_title=metric_label)
    return _calls_axis(fig, {calls(r) for r in rows})


def _series(r: dict) -> str:
    if r.get("series"):
        return r["series"]
    if r.get("sampler") == "ddpm":
        return f"DDPM ({r.get('variance') or 'fixed_small'})"
    return f"DDIM η={float(r.get('eta') or 0):g}"


def ratio_figure(rows: Sequence[dict], title: str = "") -> go.Figure:
    """Rows that carry FID / floor with its 95% interval (diagnostics.sweep, bench.quality_vs_steps): one line per
    sampler setting over network calls, each point with its interval as an error bar, and the real data at 1; the
    hover adds FID over DDPM-T's from the same starts (paired interval) where the run has it."""
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(_series(r), []).append(r)
    calls = lambda r: r.get("network_calls") or r["steps"]          # noqa: E731
    fig = go.Figure()
    for key, rs in sorted(groups.items()):
        rs = sorted(rs, key=calls)
        iv = [r["fid_ratio"] for r in rs]
        hover = [f"{key}<br>{t('plot.network_calls', n=calls(r))}<br>"
                 + t("plot.ratio_hover", est=i["estimate"], low=i["low"], high=i["high"], fid=r["fid"])
                 + ("<br>" + t("plot.vs_ddpm", est=r["ratio_to_ddpm"]["estimate"], low=r["ratio_to_ddpm"]["low"],
                                high=r["ratio_to_ddpm"]["high"]) if (r.get("ratio_to_ddpm") or {}).get("low")
                    is not None else "")
                 + (f"<br>n = {r['n']}" if r.get("n") else "") for r, i in zip(rs, iv)]
        fig.add_trace(go.Scatter(
            x=[calls(r) for r in rs], y=[i["estimate"] for i in iv], name=key, mode="lines+markers",
            marker=dict(size=9 if key.startswith("DDPM") else 6), hovertext=hover, hoverinfo="text",
            error_y=dict(type="data", symmetric=False, array=[i["high"] - i["estimate"] for i in iv],
                         arrayminus=[i["estimate"] - i["low"] for i in iv], thickness=1)))
    fig.add_hline(y=1.0, line_dash="dash", line_color="#888")
    # on a log axis an annotation's y is log10 of the value (add_hline's own annotation would sit at 10)
    fig.add_annotation(text=t("plot.floor_line"), x=0, xref="paper", y=0.0, yref="y", xanchor="left",
                       yanchor="bottom", showarrow=False, font=dict(color="#555"))
    fig.update_layout(**_LAYOUT, title=title or t("plot.quality_title"), xaxis_title=t("plot.quality_x"),
                      yaxis_title=t("plot.ratio_y"))
    fig.update_yaxes(type="log")                   # a ratio: 2× and 0.5× the same distance from the floor's 1
    return _calls_axis(fig, {calls(r) for r in rows})


LEGEND_ABOVE = 3          # more series than this: the legend goes under the plot, where it cannot cover the title
MIN_TICK_RATIO = 1.3      # labelled network calls at least this factor apart, so that their labels never overlap


def _calls_axis(fig: go.Figure, calls: set) -> go.Figure:
    """A log axis of network calls labelled at the calls the rows have (thinned so that labels keep apart; the
    largest is always labelled), and the legend under the plot when the series are many."""
    ticks: list = []
    for c in sorted(calls, reverse=True):
        if not ticks or ticks[-1] / c >= MIN_TICK_RATIO:
            ticks.append(c)
    ticks.reverse()
    fig.update_xaxes(type="log", tickvals=ticks, ticktext=[str(c) for c in ticks])
    if len(fig.data) > LEGEND_ABOVE:
        rows = -(-len(fig.data) // 2)                                  # two entries a line in the tab's column
        fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.22, x=0),
                          height=_LAYOUT["height"] + 22 * rows, margin=dict(_LAYOUT["margin"], b=70 + 22 * rows))
    return fig


def exposure_figure(curves: dict, title: str = "") -> go.Figure:
    """The sampler doctor's exposure-bias curves: δ_t = E‖x_t‖²/d sampled over the forward marginal's, minus 1,
    with ±2 standard errors, one line per sampler; t runs right to left as sampling does."""
    title = title or t("doctor.plot_title")
    fig = go.Figure()
    for name, cv in curves.items():
        band = [2 * se for se in cv.standard_error]
        fig.add_trace(go.Scatter(x=cv.timesteps, y=cv.delta, name=name, mode="lines+markers",
                                 error_y=dict(type="data", array=band, visible=True, thickness=1)))
    fig.add_hline(y=0.0, line_dash="dash", line_color="#888")
    fig.update_layout(**_LAYOUT, title=title, xaxis_title=t("doctor.plot_x"), yaxis_title=t("doctor.plot_y"))
    fig.update_xaxes(autorange="reversed")
    return fig
