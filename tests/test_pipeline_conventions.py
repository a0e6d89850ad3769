"""A model loaded from a diffusers pipeline samples as diffusers' own schedulers do when configured from that
pipeline's saved scheduler config (`XScheduler.from_config(DDPMScheduler.from_pretrained(folder).config)`): the
config's timestep_spacing ("leading" for a DDPMScheduler saved at its defaults) for DDIM, the solvers and Heun, its
clip_sample where the diffusers scheduler reads it (DDIM, Heun) and no clipping where it does not (DPM-Solver++,
UniPC). convention="workbench" gives this product's own conventions instead, and the settings name which ran.

Whole loops run in float32 with diffusers' own float32 tables on their side (only the betas are shared, through the
mapped config), so they agree to 2e-4, as in test_samplers_solvers.py; the two conventions differ by ≫ 1e-2.
"""
import json
import warnings

import pytest
import torch

import ddpm
from ddpm import load_checkpoint
from ddpm.diffusion import GaussianDiffusion
from ddpm.formats.diffusers_config import scheduler_to_diffusion
from ddpm.samplers import conventions, make_sampler
from ddpm.sampling import sample_loop
from tests.diffusers_fixtures import train_pipeline
from tests.diffusers_fixtures import TinyNet

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from diffusers import (DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler, HeunDiscreteScheduler,
                           UniPCMultistepScheduler)

THEIRS = {"ddim": DDIMScheduler, "dpmpp_2m": DPMSolverMultistepScheduler, "unipc": UniPCMultistepScheduler,
          "edm_heun": HeunDiscreteScheduler}


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield




def _saved_config(tmp_path, **kw) -> dict:
    """A DDPMScheduler saved with save_pretrained and read back, as a pipeline folder carries it."""
    DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear", **kw).save_pretrained(tmp_path)
    return DDPMScheduler.from_pretrained(tmp_path).config


def diffusers_loop(kind: str, config, model, x_T: torch.Tensor, steps: int) -> torch.Tensor:
    """diffusers' own loop with `XScheduler.from_config(config)` (Heun: `steps` network calls = 2·levels − 1)."""
    sched = THEIRS[kind].from_config(config)
    sched.set_timesteps((steps + 1) // 2 if kind == "edm_heun" else steps)
    heun = kind == "edm_heun"
    x = x_T * (sched.sigmas[0] ** 2 + 1).sqrt() if heun else x_T.clone()   # x̃ = x/α at the first level
    with torch.no_grad():
        for t in sched.timesteps:
            inp = sched.scale_model_input(x, t) if heun else x
            out = model(inp, t.repeat(len(x)))
            x = (sched.step(out, t, x, eta=0.0) if kind == "ddim" else sched.step(out, t, x)).prev_sample
    return x


@pytest.mark.parametrize("kind,steps", [("ddim", 10), ("dpmpp_2m", 10), ("unipc", 10), ("edm_heun", 9)])
@pytest.mark.parametrize("clip", [True, False])
def test_samplers_follow_the_saved_pipeline_config(tmp_path, kind, steps, clip):
    config = _saved_config(tmp_path, clip_sample=clip)
    assert config.timestep_spacing == "leading"                # what a pipeline saved at the defaults carries
    dcfg, defaults = scheduler_to_diffusion(dict(config), "test")
    d = GaussianDiffusion(dcfg, sampling_defaults=defaults)
    assert defaults.convention == "diffusers"
    net = TinyNet().eval()
    model = lambda x, t: net(x, t)                             # noqa: E731
    x_T = torch.randn((3, 1, 8, 8), generator=torch.Generator().manual_seed(1))
    smp = make_sampler(kind, d, steps=steps)
    assert smp.convention == "diffusers" and smp.network_calls == steps
    want_clip = clip if kind in ("ddim", "edm_heun") else False   # the solvers have no clip_sample
    assert smp.clip_denoised is want_clip
    ours, _ = sample_loop(model, smp, x_T)
    theirs = diffusers_loop(kind, config, model, x_T, steps)
    assert ours.abs().max() > 0.1
    torch.testing.assert_close(ours, theirs, rtol=0, atol=2e-4)
    # this product's own conventions, one option away: a different sampler (trailing / linspace, ε̂ from the
    # clipped x̂_0, solvers clipping), far from diffusers' images
    own, _ = sample_loop(model, make_sampler(kind, d, steps=steps, convention="workbench"), x_T)
    assert (own - theirs).abs().max() > 1e-2


def test_conventions_table():
    dcfg, defaults = scheduler_to_diffusion({"timestep_spacing": "leading", "clip_sample": True}, "t")
    config_d = GaussianDiffusion(dcfg, sampling_defaults=defaults)
    assert conventions(config_d) == conventions(config_d, "diffusers")
    c = conventions(config_d)
    assert (c.ddim_spacing, c.solver_spacing, c.solver_clip, c.eps_from_clipped) == ("leading", "leading", False, False)
    w = conventions(config_d, "workbench")
    assert (w.ddim_spacing, w.solver_spacing, w.solver_clip, w.eps_from_clipped) == ("trailing", "linspace", True, True)
    ours = GaussianDiffusion()
    assert conventions(ours).name == "workbench" and conventions(ours, "diffusers").solver_spacing == "trailing"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("diffusers") / "pipe"
    return folder, train_pipeline(folder, steps=40)


@pytest.mark.parametrize("kind", ["dpmpp_2m", "unipc"])
def test_a_loaded_pipeline_samples_as_its_own_schedulers(trained, kind):
    """The issue's case: a pipeline folder saved by diffusers; generate() at its defaults against diffusers' solver
    configured from that pipeline's scheduler (leading spacing, no clipping), with the pipeline's own U-Net."""
    folder, pipe = trained
    ck = load_checkpoint(folder)
    x_T = ddpm.initial_noise(6, (1, 8, 8), seed=2)
    res = ddpm.generate(ck.model, ck.diffusion, sampler=kind, steps=10, n=6, x_T=x_T)
    assert res.settings["spacing"] == "leading" and res.settings["convention"] == "diffusers"
    assert res.settings["clip_denoised"] is False and res.timesteps == [900, 810, 720, 630, 540, 450, 360, 270, 180, 90]
    config = json.loads((folder / "scheduler" / "scheduler_config.json").read_text())
    assert config["timestep_spacing"] == "leading"
    theirs = diffusers_loop(kind, DDPMScheduler.from_pretrained(folder, subfolder="scheduler").config,
                            lambda x, t: pipe.unet(x, t).sample, x_T, 10).clamp(-1, 1)
    diff = (res.images - theirs).abs().max().item()
    assert diff <= 1e-4, diff
    own = ddpm.generate(ck.model, ck.diffusion, sampler=kind, steps=10, n=6, x_T=x_T, convention="workbench")
    assert own.settings["convention"] == "workbench" and own.settings["spacing"] == "linspace"
    assert (own.images - theirs).abs().max().item() > 1e-2
