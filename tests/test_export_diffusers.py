"""Export (issue 9): the bundled model written as a diffusers DDPMPipeline, reloaded by diffusers alone, gives the
same network output and the same DDIM samples; what UNet2DModel cannot express is refused with the reason."""
import json
import warnings
from pathlib import Path

import pytest
import torch

import ddpm
from ddpm import CheckpointError, load_checkpoint
from ddpm.export import export_diffusers, main as export_main

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from diffusers import DDIMScheduler, DDPMPipeline

BUNDLED = Path(__file__).resolve().parents[1] / "checkpoints" / "digits_tiny.safetensors"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "digits_tiny"
    assert export_main([str(BUNDLED), "--format", "diffusers", "--out", str(out)]) == 0
    return load_checkpoint(BUNDLED), out


def test_diffusers_alone_gives_the_same_network_output(exported):
    ck, out = exported
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe = DDPMPipeline.from_pretrained(out)
    g = torch.Generator().manual_seed(0)
    x, t = torch.randn(6, 1, 16, 16, generator=g), torch.tensor([0, 1, 250, 500, 750, 999])
    y = torch.tensor([0, 3, 7, 9, 10, 10])                     # 10 = the null label of classifier-free guidance
    with torch.no_grad():
        ours, theirs = ck.model(x, t, y), pipe.unet(x, t, class_labels=y).sample
    diff = (ours - theirs).abs().max().item()
    print(f"network output: max |ours - diffusers| = {diff:.2e} (outputs up to {ours.abs().max():.2f})")
    assert diff <= 1e-4
    assert torch.equal(pipe.scheduler.betas.double(), ck.diffusion.float64["betas"].float().double())
    assert pipe.scheduler.config.prediction_type == "epsilon" and pipe.scheduler.config.timestep_spacing == "trailing"


def test_diffusers_ddim_loop_gives_the_same_samples(exported):
    ck, out = exported
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe = DDPMPipeline.from_pretrained(out)
    labels = torch.arange(10)
    x_T = ddpm.initial_noise(10, (1, 16, 16), seed=5)
    ours = ddpm.generate(ck.model, ck.diffusion, sampler="ddim", steps=20, eta=0.0, n=10, labels=labels.tolist(),
                         x_T=x_T)
    sched = DDIMScheduler.from_config(pipe.scheduler.config)
    sched.set_timesteps(20)
    x = x_T.clone()
    with torch.no_grad():
        for t in sched.timesteps:
            eps = pipe.unet(x, t, class_labels=labels).sample
            x = sched.step(eps, t, x, eta=0.0, use_clipped_model_output=True).prev_sample
    assert ours.timesteps == sched.timesteps.tolist()
    diff = (ours.images - x.clamp(-1, 1)).abs().max().item()
    print(f"DDIM-20: max |ours - diffusers| = {diff:.2e}")
    assert diff <= 1e-3


def test_exported_folder_loads_back_with_its_null_class_and_names(exported, tmp_path):
    ck, out = exported
    back = load_checkpoint(out)
    assert back.class_names == ck.class_names and back.num_classes == 10 and back.guidance_unavailable is None
    assert back.step == ck.step and back.meta["data"]["name"] == "digits"
    res_a = ddpm.generate(ck.model, ck.diffusion, steps=10, n=4, labels=[1, 2], guidance_scale=2.0, seed=1)
    res_b = ddpm.generate(back.model, back.diffusion, steps=10, n=4, labels=[1, 2], guidance_scale=2.0, seed=1)
    assert (res_a.images - res_b.images).abs().max() <= 1e-3


def test_export_refuses_what_unet2dmodel_cannot_express_and_never_overwrites(exported, tmp_path):
    torch.manual_seed(0)
    cfg = ddpm.UNetConfig(image_size=8, base_channels=32, channel_mult=(1, 2), attention_resolutions=(8, 4))
    ck = ddpm.LoadedCheckpoint(ddpm.UNet(cfg).eval(), ddpm.GaussianDiffusion(), cfg, ddpm.DiffusionConfig(), [], 0,
                               {}, "odd.safetensors", "ema")
    with pytest.raises(CheckpointError, match=r"heads of \[8, 16\] channels .*one attention_head_dim"):
        export_diffusers(ck, tmp_path / "odd")
    assert not (tmp_path / "odd").exists()
    _, out = exported
    before = json.loads((out / "model_index.json").read_text())
    assert export_main([str(BUNDLED), "--out", str(out)]) == 2          # an existing folder is never overwritten
    assert json.loads((out / "model_index.json").read_text()) == before
