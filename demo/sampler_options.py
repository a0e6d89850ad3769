"""The few-step samplers' options in the Sample tab (ddpm.stochastic, issue 24): EDM Heun's churn (S_churn, its
window S_tmin..S_tmax in s = σ/α, S_noise), Restart's interval, K, steps and ODE, and ε scaling for every sampler.
One accordion of widgets (`build`), one parser from widget values to generate()'s keyword arguments (`parse`) and one
description of what ran (`describe`). The valid ranges are the core's: a value out of them is refused with the
core's message, which names the range (each range is stated there only); a widget value that is not a number gets
the app's own message first."""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import gradio as gr

from ddpm.stochastic import RESTART_ODES, Churn, EpsScaling, RestartSpec

from . import common as c
from .i18n import L, t

MAX_CHURN_SLIDER = 100          # the slider's end (the core takes up to 1e4; γ saturates at √2 − 1 long before)
MAX_RESTART_K_SLIDER = 10       # the sliders' ends; an API caller may send up to the core's limits below
MAX_RESTART_STEPS_SLIDER = 10


@dataclass
class SamplerOptions:
    """The widgets (field names: generate()'s options as `parse` takes them), at their defaults: the plain
    samplers (S_churn = 0, K = 1 restart of 2 Heun steps on the authors' interval, no ε scaling)."""
    churn: Any = 0.0
    churn_tmin: Any = ""              # empty ("" or None): the window is every step
    churn_tmax: Any = ""
    s_noise: Any = 1.0
    restart_k: Any = 1
    restart_steps: Any = 2
    restart_tmin: Any = ""            # empty ("" or None): the levels nearest s = 0.1 and s = 2
    restart_tmax: Any = ""
    restart_ode: Any = "heun"
    eps_scaling: Any = 1.0


DEFAULTS = SamplerOptions()
NAMES = [f.name for f in fields(SamplerOptions)]       # the order of the extra inputs of the Sample tab's event


def _number(name: str, value: Any, integer: bool = False) -> float | int:
    """A widget value as a number (a whole one if `integer`), else the app's message naming the field; its range is
    the core's to check (ddpm.stochastic), so each range is stated in one place."""
    return c.number(name, value, -math.inf, math.inf, integer=integer)


_optional = c.optional_number        # an empty box as None


def parse(sampler: str, options: SamplerOptions = DEFAULTS) -> dict:
    """generate()'s churn / restart / eps_scaling for `sampler` (generate()'s name): churn only for edm_heun, restart
    only for restart (the other samplers ignore those widgets), ε scaling for every sampler (λ = 1: off).
    A value that is not a number: the app's message; one out of range: the core's, with the valid range (the
    restart interval against the model's schedule and the call budget are checked when the sampler is built)."""
    o = options
    out: dict = {}
    try:
        out["eps_scaling"] = EpsScaling(_number("name.eps_scaling", o.eps_scaling))
        if sampler == "edm_heun":
            tmin, tmax = _optional("name.churn_tmin", o.churn_tmin), _optional("name.churn_tmax", o.churn_tmax)
            out["churn"] = Churn(_number("name.churn", o.churn), 0.0 if tmin is None else tmin,
                                 math.inf if tmax is None else tmax, _number("name.s_noise", o.s_noise))
        elif sampler == "restart":
            out["restart"] = RestartSpec(_optional("name.restart_tmin", o.restart_tmin, integer=True),
                                         _optional("name.restart_tmax", o.restart_tmax, integer=True),
                                         _number("name.restart_k", o.restart_k, integer=True),
                                         _number("name.restart_steps", o.restart_steps, integer=True),
                                         str(o.restart_ode))
    except ValueError as e:                       # the core's MessageError: which value, and its valid range
        raise c.core_error(e) from None
    return out


def describe(options: dict) -> str:
    """What `parse`'s options are, for the run's description ("" when every option is off): churn and ε scaling as
    symbols (the same in both languages), Restart's in the page's language."""
    parts = []
    if options.get("churn") is not None:
        parts.append(str(options["churn"]))
    r = options.get("restart")
    if r is not None:
        parts.append(t("sample.restart_options", k=r.k, n=r.steps, ode=r.ode, interval=_interval(r)))
    eps = options.get("eps_scaling")
    if eps is not None and not eps.off:
        parts.append(f"ε̂/λ_t, λ_t = {eps.b:g} + {eps.k:g}·t/T" if eps.k else f"ε̂/{eps.b:g}")
    return ", ".join(parts)


def _interval(r: RestartSpec) -> str:
    if r.t_min is None and r.t_max is None:
        return "s = σ/α ∈ [0.1, 2]"
    lo = "s≈0.1" if r.t_min is None else r.t_min
    hi = "s≈2" if r.t_max is None else r.t_max
    return f"t ∈ [{lo}, {hi}]"


def build(T: int) -> SamplerOptions:
    """The accordion of options (call inside the Sample tab's column); closed: the defaults are the plain samplers."""
    d = DEFAULTS
    with gr.Accordion(L("sample.options_title"), open=False, elem_id="sample-options"):
        gr.Markdown(L("sample.options_how"))
        with gr.Row():
            churn = gr.Slider(0, MAX_CHURN_SLIDER, value=d.churn, step=1, label=L("sample.churn"),
                              info=L("sample.churn_info"), elem_id="sample-churn")
            s_noise = gr.Slider(1.0, 1.1, value=d.s_noise, step=0.001, label=L("sample.s_noise"),
                                info=L("sample.s_noise_info"))
        with gr.Row():
            churn_tmin = c.optional_box("sample.churn_tmin", "sample.churn_window_empty", "sample.churn_window_info")
            churn_tmax = c.optional_box("sample.churn_tmax", "sample.churn_window_empty")
        with gr.Row():
            restart_k = gr.Slider(0, MAX_RESTART_K_SLIDER, value=d.restart_k, step=1, label=L("sample.restart_k"),
                                  info=L("sample.restart_k_info"), elem_id="sample-restart-k")
            restart_steps = gr.Slider(1, MAX_RESTART_STEPS_SLIDER, value=d.restart_steps, step=1,
                                      label=L("sample.restart_steps"), info=L("sample.restart_steps_info"))
        with gr.Row():
            restart_tmin = c.optional_box("sample.restart_tmin", "sample.restart_interval_empty",
                                          "sample.restart_interval_info", last=T - 1)
            restart_tmax = c.optional_box("sample.restart_tmax", "sample.restart_interval_empty")
            restart_ode = gr.Radio(list(RESTART_ODES), value=d.restart_ode, label=L("sample.restart_ode"),
                                   info=L("sample.restart_ode_info"))
        eps_scaling = gr.Number(d.eps_scaling, label=L("sample.eps_scaling"), info=L("sample.eps_scaling_info"),
                                minimum=0.5, maximum=2.0, step=0.001, elem_id="sample-eps-scaling")
    return SamplerOptions(churn, churn_tmin, churn_tmax, s_noise, restart_k, restart_steps, restart_tmin,
                          restart_tmax, restart_ode, eps_scaling)
