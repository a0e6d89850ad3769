"""Export (issue 9): the bundled model written as a diffusers DDPMPipeline, reloaded by diffusers alone, gives the
same network output and the same DDIM samples; what UNet2DModel cannot express is refused with the reason."""
import json
import re
import warnings
from pathlib import Path

import numpy as np
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


# ---- diffusers' own pipelines on an export (issue: "an exported model does not run in diffusers' own pipeline") ----
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from diffusers import DDIMPipeline


def unconditional_checkpoint(path: Path) -> Path:
    """A small unconditional U-Net (8×8 grey) with random weights (its zero-initialised output layer perturbed too, so
    that ε̂ is far from 0 and x̂_0 gets clipped), saved as our checkpoint with the linear schedule and T = 100 (so
    that DDPM's all-T-steps runs stay short)."""
    cfg = ddpm.UNetConfig(image_size=8, base_channels=16, channel_mult=(1, 2), attention_resolutions=(4,), groups=8)
    torch.manual_seed(0)
    model = ddpm.UNet(cfg).eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.1)
    ddpm.save_checkpoint(path, model=model, ema_model=None, diffusion_config=ddpm.DiffusionConfig(T=100), class_names=[],
                         step=7, data={"name": "noise"})
    return path


@pytest.fixture(scope="module")
def unconditional(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("uncond")
    src = unconditional_checkpoint(tmp / "uncond.safetensors")
    out = tmp / "uncond_diffusers"
    assert export_main([str(src), "--out", str(out)]) == 0
    return load_checkpoint(src), out


def as_pipeline_images(images: torch.Tensor) -> np.ndarray:
    """Our (N, C, H, W) in [-1, 1] as the pipelines' output_type="np": (N, H, W, C) in [0, 1]."""
    return ((images + 1) / 2).clamp(0, 1).permute(0, 2, 3, 1).numpy()


def test_unconditional_card_runs_diffusers_pipelines_as_ddpm_sample_does(unconditional):
    """The README's snippet as it is: DDIMPipeline(use_clipped_model_output=True) gives ddpm.sample's DDIM images
    (DDIM-50, 16 images, seed 0); DDPMPipeline runs its T steps; without the option DDIM gives other images."""
    ck, out = unconditional
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ns = run_card(card_code(out))
        plain = ns["ddim"](batch_size=16, num_inference_steps=50, eta=0.0, generator=torch.Generator().manual_seed(0),
                           output_type="np").images
    ours = as_pipeline_images(ddpm.generate(ck.model, ck.diffusion, sampler="ddim", steps=50, n=16, seed=0).images)
    diff, off = np.abs(ours - ns["ddim_images"]).max(), np.abs(ours - plain).max()
    print(f"DDIMPipeline DDIM-50 vs ddpm.generate: max diff {diff:.1e} with use_clipped_model_output=True, "
          f"{off:.2f} without")
    assert diff <= 1e-4
    assert off >= 0.05            # the README's reason to pass the option: diffusers' default is another DDIM
    assert ns["ddpm_images"].shape == (16, 8, 8, 1) and np.isfinite(ns["ddpm_images"]).all()


def test_ddpm_pipeline_runs_an_unconditional_export_with_the_product_sampler(unconditional):
    """DDPMPipeline draws x_T and then every step's noise from its one generator; the product's sampler fed the same
    draws (x_T, then sample_loop's noise from the same generator) gives the same images."""
    from ddpm.samplers import make_sampler
    from ddpm.sampling import sample_loop
    ck, out = unconditional
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe = DDPMPipeline.from_pretrained(out)
    theirs = pipe(batch_size=3, num_inference_steps=100, generator=torch.Generator().manual_seed(5),
                  output_type="np").images                                               # all T = 100 steps
    g = torch.Generator().manual_seed(5)
    x_T = torch.randn((3, 1, 8, 8), generator=g)
    with torch.no_grad():
        x0, _ = sample_loop(lambda x, t: ck.model(x, t, None), make_sampler("ddpm", ck.diffusion), x_T, g)
    diff = np.abs(as_pipeline_images(x0) - theirs).max()
    print(f"DDPMPipeline (T = 100 steps) vs the product's DDPM sampler on the same draws: max diff {diff:.1e}")
    assert diff <= 1e-3


def card_code(out: Path) -> str:
    text = (out / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) == 1, blocks
    return blocks[0]


def run_card(code: str, **replace: str) -> dict:
    for old, new in replace.items():
        assert old in code, old
        code = code.replace(old, new)
    ns: dict = {}
    exec(compile(code, "README.md", "exec"), ns)
    return ns


def test_conditional_export_says_why_the_pipelines_cannot_sample_it(exported):
    _, out = exported
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe = DDPMPipeline.from_pretrained(out)
    text = (out / "README.md").read_text(encoding="utf-8")
    with pytest.raises(ValueError, match="class_labels should be provided") as err:     # what diffusers says, as
        pipe(batch_size=1, num_inference_steps=2)                                     # the README quotes it
    assert str(err.value).splitlines()[0].strip().rstrip(".") in text


def test_conditional_card_loop_gives_the_images_of_its_ddpm_sample_command(exported, tmp_path):
    """The README's loop with its own settings against the `python -m ddpm.sample` command the README names."""
    from ddpm.sample import main as sample_main
    ck, out = exported
    ns = run_card(card_code(out))
    command = re.search(r"`python -m ddpm\.sample (--ckpt \S+ .*?)` writes", (out / "README.md").read_text()).group(1)
    argv = command.split()
    argv[argv.index("--ckpt") + 1] = str(BUNDLED)
    assert sample_main(argv + ["--out", str(tmp_path / "grid.png"), "--quiet"]) == 0
    cli = torch.from_numpy(np.load(tmp_path / "grid.npz")["images"])
    diff = (ns["images"] - (cli + 1) / 2).abs().max().item()
    print(f"README loop (DDIM-50, η=0, w=1) vs its ddpm.sample command: max diff {diff:.1e}")
    assert diff <= 1e-4


def test_conditional_card_loop_with_guidance_and_eta_matches_generate(exported):
    ck, out = exported
    ns = run_card(card_code(out), **{"seed, steps, eta, w = 0, 50, 0.0, 1.0": "seed, steps, eta, w = 4, 20, 0.5, 2.0",
                                     "labels = torch.arange(10)": "labels = torch.tensor([3, 3, 7, 1])"})
    ours = ddpm.generate(ck.model, ck.diffusion, sampler="ddim", steps=20, eta=0.5, n=4, labels=[3, 3, 7, 1],
                         guidance_scale=2.0, seed=4)
    diff = (ns["images"] - (ours.images + 1) / 2).abs().max().item()
    print(f"README loop (DDIM-20, η=0.5, w=2) vs ddpm.generate: max diff {diff:.1e}")
    assert diff <= 1e-4


@pytest.mark.slow
def test_conditional_card_loop_as_ddpm_matches_the_ddpm_sampler(exported):
    """The README's last sentence: DDPMScheduler, set_timesteps(T), step(eps, t, x, generator=noise)."""
    ck, out = exported
    ns = run_card(card_code(out), **{
        "labels = torch.arange(10)": "labels = torch.tensor([3, 7])",
        "DDIMScheduler": "DDPMScheduler", "scheduler.set_timesteps(steps)": "scheduler.set_timesteps(1000)",
        "eta=eta, use_clipped_model_output=True, ": "", "seed, steps, eta, w = 0, 50, 0.0, 1.0":
        "seed, steps, eta, w = 2, 0, 0.0, 1.0"})
    ours = ddpm.generate(ck.model, ck.diffusion, sampler="ddpm", n=2, labels=[3, 7], seed=2)
    diff = (ns["images"] - (ours.images + 1) / 2).abs().max().item()
    print(f"README loop as DDPM (1000 steps) vs ddpm.generate(sampler='ddpm'): max diff {diff:.1e}")
    assert diff <= 1e-3
