"""Plotly figures drawn from a CheckResult's numbers (never from tensors), so a report re-rendered from its
JSON gets the same figures. `draw_figures(result)` draws the figures that belong to a check; the report calls
it when it renders, so running the checks draws nothing and a result is never changed by drawing it. Titles,
axes and legend names are messages figure.* of diagnostics/locales, in the report's language; the numbers are the
same in both.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Callable

import plotly.graph_objects as go

from .checks.result import CheckResult
from .text import Message, msg, say


def figure_text(key: str, lang: str, **values) -> str:
    """A figure's title, axis or legend name (message figure.<key>) in `lang`."""
    return say(msg(f"figure.{key}", **values), lang)

HEIGHT = 340
_LAYOUT = dict(height=HEIGHT, margin=dict(l=60, r=20, t=50, b=50), template="plotly_white",
               legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0))


def _fig(title: str, xtitle: str, ytitle: str, **kw) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(title=dict(text=title, font=dict(size=14)), xaxis_title=xtitle, yaxis_title=ytitle, **_LAYOUT)
    fig.update_layout(**kw)
    return fig


def snr_figure(numbers: dict, lang: str = "en") -> go.Figure:
    """SNR_t = ᾱ_t/(1−ᾱ_t) on a log scale, this schedule beside the built-in ones at the same T."""
    curve = numbers["snr_curve"]
    w = lambda key, **kw: figure_text(key, lang, **kw)      # noqa: E731
    fig = _fig(w("snr_title", T=numbers["T"]), "t", w("snr_y"), yaxis_type="log")
    for name, ys in curve.items():
        if name == "t":
            continue
        this = name == "this"
        fig.add_trace(go.Scatter(x=curve["t"], y=[max(y, 1e-12) for y in ys], mode="lines",
                                 name=w("this", schedule=numbers["schedule"]) if this else name,
                                 line=dict(width=4 if this else 1.5, dash=None if this else "dot")))
    return fig


def noise_figure(numbers: dict, lang: str = "en") -> go.Figure:
    w = lambda key, **kw: figure_text(key, lang, **kw)      # noqa: E731
    rows = numbers["per_t"]
    ts = [r["t"] for r in rows]
    fig = _fig(w("noise_title"), "t", w("value"))
    fig.add_trace(go.Scatter(x=ts, y=[r["eps_mean"] for r in rows], mode="lines+markers", name=w("eps_mean")))
    fig.add_trace(go.Scatter(x=ts, y=[r["eps_std"] for r in rows], mode="lines+markers", name=w("eps_std")))
    fig.add_trace(go.Scatter(x=ts, y=[r["eps_mse"] for r in rows], mode="lines+markers", name="MSE(ε̂, ε)"))
    return fig


def x0_figure(numbers: dict, lang: str = "en") -> go.Figure:
    w = lambda key, **kw: figure_text(key, lang, **kw)      # noqa: E731
    rows = sorted(numbers["per_t"], key=lambda r: -r["t"])
    ts = [r["t"] for r in rows]
    fig = _fig(w("x0_title", sampler=numbers["sampler"].upper()), w("x0_x"), w("x0_y"), xaxis_autorange="reversed")
    fig.add_trace(go.Scatter(x=ts, y=[r["max"] for r in rows], mode="lines+markers", name=w("max")))
    fig.add_trace(go.Scatter(x=ts, y=[r["min"] for r in rows], mode="lines+markers", name=w("min")))
    fig.add_trace(go.Scatter(x=ts, y=[r["frac_outside"] for r in rows], mode="lines+markers", yaxis="y2",
                             name=w("frac_outside"), line=dict(dash="dot")))
    fig.add_hrect(y0=-1, y1=1, fillcolor="green", opacity=0.08, line_width=0)
    fig.update_layout(yaxis2=dict(title=w("outside_axis"), overlaying="y", side="right", range=[0, 1]),
                      yaxis_type="linear")
    return fig


def _histogram_figure(title: str, xtitle: str, histogram: dict, series: dict[str, str], lang: str) -> go.Figure:
    """Overlaid bars of histogram[key] for every key in series (key -> legend name), on shared bin_edges."""
    edges = histogram["bin_edges"]
    centers = [(a + b) / 2 for a, b in zip(edges[:-1], edges[1:])]
    fig = _fig(title, xtitle, figure_text("images", lang), barmode="overlay")
    for key, name in series.items():
        fig.add_trace(go.Bar(x=centers, y=histogram[key], name=name, opacity=0.6))
    return fig


def smoothness_figure(numbers: dict, lang: str = "en") -> go.Figure:
    w = lambda key, **kw: figure_text(key, lang, **kw)      # noqa: E731
    return _histogram_figure(w("smooth_title"), w("smooth_x"), numbers["histogram"],
                             {"real": w("real"), "generated": w("generated")}, lang)


def diversity_figure(numbers: dict, lang: str = "en") -> go.Figure:
    w = lambda key, **kw: figure_text(key, lang, **kw)      # noqa: E731
    per_class = numbers.get("per_class")
    if per_class:
        fig = _fig(w("div_class_title"), w("class"), w("div_class_y"), barmode="group")
        names = [html.escape(str(r["class"]), quote=False) for r in per_class]   # plotly draws tags in labels
        fig.add_trace(go.Bar(x=names, y=[r["real_pairwise_rms"] for r in per_class], name=w("real")))
        fig.add_trace(go.Bar(x=names, y=[r["generated_pairwise_rms"] for r in per_class], name=w("generated")))
        return fig
    fig = _fig(w("div_title"), w("statistic"), w("value"), barmode="group")
    stats = [w("pairwise"), w("pixel_std")]
    if "real_pairwise_rms" in numbers:
        fig.add_trace(go.Bar(x=stats, y=[numbers["real_pairwise_rms"], numbers["real_pixel_std"]], name=w("real")))
    fig.add_trace(go.Bar(x=stats, y=[numbers["generated_pairwise_rms"], numbers["generated_pixel_std"]],
                         name=w("generated")))
    return fig


def memorisation_figure(numbers: dict, lang: str = "en") -> go.Figure:
    w = lambda key, **kw: figure_text(key, lang, **kw)      # noqa: E731
    fig = _histogram_figure(w("mem_title"), w("mem_x"), numbers["histogram"],
                            {"heldout": w("heldout_never"), "generated": w("generated")}, lang)
    fig.add_vline(x=numbers["copy_radius"], line_dash="dash", line_color="#c62828",
                  annotation_text=w("copy_radius"), annotation_position="top right")
    return fig


def memory_figure(numbers: dict, lang: str = "en") -> go.Figure:
    w = lambda key, **kw: figure_text(key, lang, **kw)      # noqa: E731
    rows = [r for r in numbers["memory_by_batch"] if r.get("mib") is not None]
    fig = _fig(w("memory_title"), w("batch"), "MiB", xaxis_type="category")
    fig.add_trace(go.Bar(x=[str(r["batch"]) for r in rows], y=[r["mib"] for r in rows], name=w("activations")))
    return fig


def steps_figure(numbers: dict, lang: str = "en") -> go.Figure:
    w = lambda key, **kw: figure_text(key, lang, **kw)      # noqa: E731
    rows = numbers["steps_table"]
    fig = _fig(w("steps_title", batch=numbers["batch"]), w("steps_x"), w("seconds"), xaxis_type="log",
               yaxis_type="log")
    fig.add_trace(go.Scatter(x=[r["steps"] for r in rows], y=[r["seconds_per_batch"] for r in rows],
                             mode="lines+markers", name=w("per_batch")))
    return fig


def generalisation_figure(numbers: dict, lang: str = "en") -> go.Figure:
    """Denoising loss per band of t, training vs held-out images, with the relative gap on a second axis."""
    w = lambda key, **kw: figure_text(key, lang, **kw)      # noqa: E731
    rows = numbers["per_band"]
    bands = [r["band"] for r in rows]
    fig = _fig(w("gen_title"), w("band"), "MSE(ε̂, ε)", barmode="group", yaxis_type="log")
    fig.add_trace(go.Bar(x=bands, y=[r["train_loss"] for r in rows], name=w("training_images")))
    fig.add_trace(go.Bar(x=bands, y=[r["heldout_loss"] for r in rows], name=w("heldout_images")))
    bars = None if any(r.get("gap_relative_low") is None for r in rows) else dict(     # reports before the interval
        type="data", symmetric=False, thickness=1, arrayminus=[100 * (r["gap_relative"] - r["gap_relative_low"])
                                                              for r in rows],
        array=[100 * (r["gap_relative_high"] - r["gap_relative"]) for r in rows])
    fig.add_trace(go.Scatter(x=bands, y=[100 * r["gap_relative"] for r in rows], mode="lines+markers", yaxis="y2",
                             name=w("gap" if bars is None else "gap_interval"), line=dict(dash="dot"), error_y=bars))
    fig.update_layout(yaxis2=dict(title=w("gap_axis"), overlaying="y", side="right", zeroline=True))
    return fig


def likelihood_figure(numbers: dict, lang: str = "en") -> go.Figure:
    """The per-timestep VLB terms L_{t−1} (L_0 at t = 0) in bits/dim, training and held-out, log scale."""
    w = lambda key, **kw: figure_text(key, lang, **kw)      # noqa: E731
    per_t = numbers["per_t"]
    fig = _fig(w("vlb_title", stride=numbers["stride"]), "t", w("vlb_y"), yaxis_type="log")
    for key, name in (("training", w("training_images")), ("heldout", w("heldout_images"))):
        if key in per_t:
            fig.add_trace(go.Scatter(x=per_t["t"], y=[max(v, 1e-12) for v in per_t[key]], mode="lines+markers",
                                     name=name, marker=dict(size=4)))
    fig.add_annotation(x=0, y=0.98, xref="paper", yref="paper", showarrow=False, xanchor="left",
                       text=w("vlb_note"))
    return fig


def sampler_figure(numbers: dict, lang: str = "en") -> go.Figure:
    """FID / floor of each candidate sampler at the same network calls, with its 95% interval; 1 = real data."""
    w = lambda key, **kw: figure_text(key, lang, **kw)      # noqa: E731
    rows = [r for r in numbers["samplers"] if r["fid_ratio"] is not None]
    fig = _fig(w("sampler_title", calls=numbers["calls"], n=numbers["n_per_sampler"]), w("sampler_x"), w("sampler_y"))
    known = [r for r in rows if r["fid_ratio_low"] is not None]
    fig.add_trace(go.Scatter(
        x=[r["sampler"] for r in known], y=[r["fid_ratio"] for r in known], mode="markers", name=w("sampler_y"),
        error_y=dict(type="data", symmetric=False, array=[r["fid_ratio_high"] - r["fid_ratio"] for r in known],
                     arrayminus=[r["fid_ratio"] - r["fid_ratio_low"] for r in known])))
    fig.add_hline(y=1.0, line_dash="dot", annotation_text=w("sampler_floor"))
    return fig


def exposure_figure(numbers: dict, lang: str = "en") -> go.Figure:
    """The exposure-bias curve δ_t = E‖x_t‖² / its forward-process value − 1 along each recorded path."""
    w = lambda key, **kw: figure_text(key, lang, **kw)      # noqa: E731
    fig = _fig(w("exposure_title"), "t", "δ_t")
    for name, c in numbers["exposure"].items():
        fig.add_trace(go.Scatter(x=c["t"], y=c["delta"], mode="lines+markers", name=name, marker=dict(size=4)))
    fig.add_hline(y=0.0, line_dash="dot")
    fig.update_xaxes(autorange="reversed")
    return fig


def _colour_histograms(h: dict, title: str, xtitle: str, lang: str, channels) -> go.Figure:
    """h = {"bin_edges", "generated", "real"}; one solid (samples) and one dotted (real) line per channel, where
    channels lists (name or None, colour or None, index into h's values or None for values that are one histogram)."""
    w = lambda key, **kw: figure_text(key, lang, **kw)      # noqa: E731
    edges = h["bin_edges"]
    centres = [(a + b) / 2 for a, b in zip(edges[:-1], edges[1:])]
    fig = _fig(title, xtitle, w("colour_y"))
    for channel, colour, i in channels:
        for key, dash in (("generated", "solid"), ("real", "dot")):
            name = w(key) if channel is None else f"{channel} · {w(key)}"
            fig.add_trace(go.Scatter(x=centres, y=h[key] if i is None else h[key][i], mode="lines", name=name,
                                     line=dict(color=colour, dash=dash)))
    return fig


def colour_figure(numbers: dict, lang: str = "en") -> go.Figure:
    """Each RGB channel's pixel histogram, samples (solid) against the real images (dotted), share of pixels."""
    w = lambda key, **kw: figure_text(key, lang, **kw)      # noqa: E731
    return _colour_histograms(numbers["channel_histograms"], w("colour_title"), w("colour_x"), lang,
                             [(w("channel_red"), "#d62728", 0), (w("channel_green"), "#2ca02c", 1),
                              (w("channel_blue"), "#1f77b4", 2)])


def saturation_figure(numbers: dict, lang: str = "en") -> go.Figure:
    """The HSV saturation histogram of the samples against the real images'."""
    w = lambda key, **kw: figure_text(key, lang, **kw)      # noqa: E731
    return _colour_histograms(numbers["saturation_histogram"], w("saturation_title"), w("saturation_x"), lang,
                             [(None, None, None)])


FIGURES: dict[str, list[Callable[[dict, str], go.Figure]]] = {
    "schedule": [snr_figure],
    "noise_prediction": [noise_figure],
    "x0_range": [x0_figure],
    "smoothness": [smoothness_figure],
    "diversity": [diversity_figure],
    "memorisation": [memorisation_figure],
    "performance": [steps_figure, memory_figure],
    "generalisation": [generalisation_figure],
    "likelihood": [likelihood_figure],
    "sampler": [sampler_figure, exposure_figure],
    "colour": [colour_figure, saturation_figure],
}


@dataclass
class CheckFigures:
    """The figures of one check, and the ones that could not be drawn from its numbers (with why)."""
    figures: list[go.Figure] = field(default_factory=list)
    not_drawn: list[Message] = field(default_factory=list)


def draw_figures(result: CheckResult, lang: str = "en") -> CheckFigures:
    """The figures for this check (none for a skipped one), titled in `lang`; a figure that fails to draw is left
    out and named."""
    out = CheckFigures()
    if result.verdict == "skip":
        return out
    for make in FIGURES.get(result.key, []):
        try:
            out.figures.append(make(result.numbers, lang))
        except (KeyError, TypeError, ValueError) as e:
            out.not_drawn.append(msg("common.figure_not_drawn", name=make.__name__, error=f"{type(e).__name__}: {e}"))
    return out
