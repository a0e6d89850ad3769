"""The Sample tab's few-step options (demo/sampler_options.py): EDM Heun's churn, Restart's interval and ε scaling
reach generate() and are recorded in the run's settings; the other samplers ignore the options that are not theirs;
bad values get the core's message with the valid range, in the page's language.

The model is a tiny U-Net with random weights (its output depends on x_t, unlike the zero-initialised stand-in, with
which ε scaling would change nothing), uploaded as a user would."""
from __future__ import annotations

import json

import gradio as gr
import numpy as np
import pytest

from demo import i18n, sampler_options
from demo.tabs import sample

T = 100
pytestmark = pytest.mark.usefixtures("restore_torch_threads", "app_env")


@pytest.fixture(scope="module")
def random_ckpt(tmp_path_factory, randomize_unet):
    from ddpm import DiffusionConfig, UNet, preset_config, save_checkpoint
    model = randomize_unet(UNet(preset_config("tiny", image_size=8, base_channels=16, num_classes=10)))
    path = tmp_path_factory.mktemp("random") / "random.safetensors"
    save_checkpoint(path, model=model, ema_model=None, diffusion_config=DiffusionConfig(T=T),
                    class_names=[str(i) for i in range(10)], step=0,
                    data={"name": "digits", "source": "digits", "image_size": 8, "channels": 1})
    return str(path)


def run(ckpt: str, sampler: str, steps: int, **options):
    v = sample.sample("bundled", ckpt, [], 1.0, sampler, steps, 0.0, 1.0, 1.0, 3, 2, **options)
    with np.load(v.files[1]) as z:
        return v, z["images"], json.loads(str(z["settings"]))


def test_churn_reaches_edm_heun_and_is_said(random_ckpt):
    plain, a, s0 = run(random_ckpt, "EDM Heun", 9)
    churned, b, s1 = run(random_ckpt, "EDM Heun", 9, churn=40, s_noise=1.003, churn_tmin=0.05, churn_tmax=50)
    assert s0["churn"]["s_churn"] == 0 and s1["churn"] == {"s_churn": 40, "s_tmin": 0.05, "s_tmax": 50,
                                                           "s_noise": 1.003}
    assert s1["network_calls"] == 9 and not np.array_equal(a, b)           # the same budget, other images
    assert "S_churn=40, S_t∈[0.05, 50], S_noise=1.003" in churned.info and "9 network calls" in churned.info
    assert "S_churn=0" in plain.info


def test_restart_options_reach_the_sampler(random_ckpt):
    v, a, s = run(random_ckpt, "Restart", 12, restart_k=2, restart_steps=1, restart_ode="euler",
                  restart_tmin=10, restart_tmax=60)
    assert s["restart"] == {"t_min": 10, "t_max": 60, "k": 2, "steps": 1, "ode": "euler"}
    assert s["network_calls"] == 12
    assert "K = 2 restarts of 1 euler steps over t ∈ [10, 60]" in v.info
    _, b, _ = run(random_ckpt, "Restart", 12, restart_k=0, restart_ode="euler")
    assert not np.array_equal(a, b)
    with i18n.use("zh"):
        zh, _, _ = run(random_ckpt, "Restart", 12, restart_k=2, restart_steps=1, restart_ode="euler")
    assert "在 s = σ/α ∈ [0.1, 2] 上重启 K = 2 次，每次 1 步 euler" in zh.info


def test_eps_scaling_applies_to_every_sampler_and_others_ignore_churn(random_ckpt):
    _, a, s0 = run(random_ckpt, "DDIM", 5)
    v, b, s1 = run(random_ckpt, "DDIM", 5, eps_scaling=1.02)
    assert s0["eps_scaling"] is None and s1["eps_scaling"] == {"b": 1.02, "k": 0.0}
    assert not np.array_equal(a, b) and "ε̂/1.02" in v.info
    _, c, s2 = run(random_ckpt, "DDIM", 5, churn=40, restart_k=3)       # not DDIM's options: no effect
    assert np.array_equal(a, c) and s2["churn"] is None and s2["restart"] is None
    _, _, s3 = run(random_ckpt, "DPM-Solver++", 6, eps_scaling=0.99)
    assert s3["eps_scaling"] == {"b": 0.99, "k": 0.0}


@pytest.mark.parametrize("sampler, steps, options, expected", [
    ("EDM Heun", 9, dict(churn=-1), "S_churn must be a finite number in [0, 10000] (got -1"),
    ("EDM Heun", 9, dict(s_noise=1.5), "S_noise must be in [1, 1.1] (got 1.5)"),
    ("EDM Heun", 9, dict(churn_tmin=2, churn_tmax=1), "the churn window needs 0 ≤ S_tmin ≤ S_tmax"),
    ("EDM Heun", 9, dict(churn="lots"), "S_churn must be a number"),
    ("Restart", 12, dict(restart_tmin=60, restart_tmax=10), "restart interval [t_min=60, t_max=10] lies outside"),
    ("Restart", 12, dict(restart_tmax=T), f"t_max={T}] lies outside the schedule"),
    ("Restart", 12, dict(restart_k=101), "restart K (how many restarts) must be an integer in [0, 100] (got 101)"),
    ("Restart", 9, dict(restart_k=5), "K=5 restarts of 2 heun steps cost 20 network calls"),
    ("Restart", 12, dict(restart_ode="rk4"), "restart ode must be one of ['heun', 'euler'] (got 'rk4')"),
    ("Restart", 12, dict(restart_tmin=2.5), "whole number"),
    ("DDIM", 5, dict(eps_scaling=3), "ε scaling λ_t = b + k·t/T must stay in [0.5, 2] (got b=3"),
    ("DDIM", 5, dict(eps_scaling="x"), "ε scaling λ must be a number"),
])
def test_bad_options_are_refused_with_the_valid_range(random_ckpt, sampler, steps, options, expected):
    with pytest.raises(gr.Error) as e:
        run(random_ckpt, sampler, steps, **options)
    assert expected in str(e.value.message)


def test_a_core_refusal_in_chinese(random_ckpt):
    with i18n.use("zh"), pytest.raises(gr.Error) as e:
        run(random_ckpt, "Restart", 9, restart_k=5)
    text = str(e.value.message)
    assert "K=5" in text and "restarts of" not in text


def test_the_widgets_match_the_handler():
    """The accordion's widgets are the handler's extra inputs, in its order, at its defaults (then the guidance
    interval's two boxes, then gradio's progress)."""
    import inspect
    params = inspect.signature(sample.sample).parameters
    assert list(params)[-len(sampler_options.NAMES) - 3:-3] == sampler_options.NAMES
    assert list(params)[-3:-1] == ["guidance_s_lo", "guidance_s_hi"]
    assert all(params[name].default == getattr(sampler_options.DEFAULTS, name) for name in sampler_options.NAMES)
    with gr.Blocks():
        widgets = sampler_options.build(T)
    assert [getattr(widgets, name).value for name in sampler_options.NAMES] == \
        [getattr(sampler_options.DEFAULTS, name) for name in sampler_options.NAMES]
