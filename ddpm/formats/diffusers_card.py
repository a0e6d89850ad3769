"""The README.md (model card) written into every diffusers export: how diffusers' own pipelines run the folder,
and, for a class-conditional model, which diffusers' pixel pipelines cannot sample (they take no class labels), the
few-line diffusers loop that gives the images `python -m ddpm.sample` gives from the same seed.

What makes the two agree (tests/test_export_diffusers.py runs every snippet written here):
- x_T: both draw torch.randn((N, C, H, W), generator=torch.Generator().manual_seed(seed)) on the CPU.
- DDIM: the product recomputes ε̂ from the clipped x̂_0 (eps_from_clipped); diffusers' DDIMScheduler does so only
  with use_clipped_model_output=True, which DDIMPipeline passes on when asked. With η = 0 that is all: the
  images are the same. No scheduler config can ask for it: it is an argument of step(), not a config field.
- step noise (DDPM, DDIM with η > 0): the product draws it from a second generator seeded seed·1,000,003 + 1; the
  loop below does too. The pipelines draw it from their one generator after x_T, so their DDPM images are
  samples of the same model and sampler, not the same pixels.
"""
from __future__ import annotations

from pathlib import Path

# ddpm.sampling.generate seeds the step noise of its batch b (of up to 256 images, 128 under guidance) with
# seed · 1,000,003 + b + 1; the tests check the loop below against generate(), so a change there shows.
STEP_NOISE_SEED_FACTOR = 1_000_003
PREDICTION_NAMES = {"eps": "epsilon", "x0": "sample", "v": "v_prediction"}     # ours -> diffusers' prediction_type

CONDITIONAL_LOOP = '''```python
import torch
from diffusers import DDIMScheduler, UNet2DModel

folder = "{folder}"
labels = torch.arange({k})                 # one image of every class; the class names are listed above
seed, steps, eta, w = 0, 50, 0.0, 1.0      # w: classifier-free guidance scale (1 = conditional only{w_note})

unet = UNet2DModel.from_pretrained(folder, subfolder="unet").eval()
scheduler = DDIMScheduler.from_pretrained(folder, subfolder="scheduler")
scheduler.set_timesteps(steps)
x = torch.randn((len(labels), {c}, {size}, {size}), generator=torch.Generator().manual_seed(seed))
noise = torch.Generator().manual_seed(seed * {factor} + 1)    # the step noise, as ddpm.sample draws it
null = torch.full_like(labels, {null})                  # the null label: the unconditional pass of guidance
with torch.no_grad():
    for t in scheduler.timesteps:
        eps = unet(x, t, class_labels=labels).sample{half}
        if w != 1:
            eps_null = unet(x, t, class_labels=null).sample{half}
            eps = eps_null + w * (eps - eps_null)
        x = scheduler.step(eps, t, x, eta=eta, use_clipped_model_output={clipped}, generator=noise).prev_sample
images = (x.clamp(-1, 1) + 1) / 2          # (N, C, H, W) in [0, 1]
```'''

UNCONDITIONAL_RUN = '''```python
import torch
from diffusers import DDIMPipeline, DDPMPipeline

folder = "{folder}"
ddim = DDIMPipeline.from_pretrained(folder)
ddim_images = ddim(batch_size=16, num_inference_steps=50, eta=0.0, use_clipped_model_output={clipped},
                   generator=torch.Generator().manual_seed(0), output_type="np").images   # (16, H, W, C) in [0, 1]
ddpm = DDPMPipeline.from_pretrained(folder)
ddpm_images = ddpm(batch_size=16, num_inference_steps={T}, generator=torch.Generator().manual_seed(0),
                   output_type="np").images
```'''


def model_card(ck, folder: str | Path) -> str:
    """README.md for the export of the LoadedCheckpoint `ck` written to `folder`."""
    cfg, T = ck.unet_config, ck.diffusion_config.T
    defaults = ck.sampling_defaults
    clipped = bool(defaults.eps_from_clipped and defaults.clip_denoised)
    learned = bool(getattr(cfg, "learn_sigma", False))
    data = (ck.meta.get("data") or {}).get("name") or "its data"
    lines = ["---", "library_name: diffusers",
             f"tags: [ddpm, {'class-conditional' if cfg.num_classes else 'unconditional-image-generation'}]", "---",
             f"# {Path(ck.path).stem}: a DDPM exported by DDPM Workbench", "",
             f"{'A class-conditional' if cfg.num_classes else 'An unconditional'} U-Net (diffusers `UNet2DModel`) for "
             f"{cfg.image_size}×{cfg.image_size} images with {cfg.in_channels} channel(s), trained {ck.step:,} steps "
             f"on {data}; a `DDPMScheduler` with its exact noise schedule (T = {T}, `prediction_type` "
             f"{PREDICTION_NAMES.get(ck.diffusion_config.objective, ck.diffusion_config.objective)!r}). Exported by `python -m ddpm.export`; "
             "`model_index.json` keeps DDPM Workbench's own notes under `_ddpm_workbench` (diffusers ignores them).",
             ""]
    why = ("`use_clipped_model_output=True` makes DDIM recompute ε̂ from the clipped x̂₀, as DDPM Workbench samples "
           "this model; left out, diffusers keeps the network's ε̂, and the images differ wherever x̂₀ was clipped. "
           "It is an argument of the call (`DDIMPipeline(...)`, `DDIMScheduler.step`), not a scheduler config "
           "field, so no file in this folder can choose it for you.") if clipped else (
           "This model samples DDIM with the network's own ε̂ (`use_clipped_model_output=False`, diffusers' default).")
    if not cfg.num_classes:
        lines += ["## Sample with diffusers' own pipelines", "",
                  UNCONDITIONAL_RUN.format(folder=folder, clipped=clipped, T=T), "",
                  why + f" With η = 0 the DDIM images are the ones `python -m ddpm.sample --ckpt {Path(ck.path).name} "
                  "--sampler ddim --steps 50 --n 16 --seed 0` writes, to float round-off. `DDPMPipeline` with "
                  f"`num_inference_steps={T}` runs all T steps, as `ddpm.sample --sampler ddpm` does (its default, "
                  "1000, fits only a model of T = 1000); it draws x_T as `ddpm.sample` does but its step noise from "
                  "the same generator, where `ddpm.sample` uses a second one, so its images are samples of the same "
                  "sampler, not the same pixels.", ""]
        if learned:
            lines += ["This network also outputs its variance (2·C channels): `DDPMPipeline` reads it "
                      "(`variance_type='learned_range'`); DDIM needs only the first C channels, which "
                      "`DDIMPipeline` does not take apart, so sample DDIM with a loop over `unet(x, t).sample[:, :C]`.",
                      ""]
        return "\n".join(lines)
    k, null = cfg.num_classes, cfg.num_classes
    w_note = "; this model has no null label, so w must stay 1" if not cfg.has_null_class else ""
    names = ", ".join(f"{i} = {n}" for i, n in enumerate(ck.class_names))
    lines += ["## Sample with diffusers", "",
              "diffusers' pixel pipelines (`DDPMPipeline`, `DDIMPipeline`) take no class labels: "
              "`DDPMPipeline.from_pretrained` loads this folder, but calling the pipeline stops with \"class_labels "
              "should be provided when doing class conditioning\". Sample with diffusers' own U-Net and scheduler "
              "in a short loop instead:", "", f"Classes (`class_labels`): {names}; {null} is the null label of "
              "classifier-free guidance." if cfg.has_null_class else f"Classes (`class_labels`): {names}.", "",
              CONDITIONAL_LOOP.format(folder=folder, k=k, c=cfg.in_channels, size=cfg.image_size, null=null,
                                      factor=f"{STEP_NOISE_SEED_FACTOR:_}", clipped=clipped, w_note=w_note,
                                      half=f"[:, :{cfg.in_channels}]" if learned else ""), "",
              why + f" The images are the ones `python -m ddpm.sample --ckpt {Path(ck.path).name} --sampler ddim "
              f"--steps 50 --eta 0 --labels all --n {k} --guidance-scale 1 --seed 0` writes, to float "
              "round-off, for any seed, steps, η and w (up to 128 images at a time with w ≠ 1, 256 without: "
              "`ddpm.sample` draws the step noise of each such batch from its own generator). For DDPM (all "
              f"T = {T} steps) take `DDPMScheduler`, `set_timesteps({T})` and `scheduler.step(eps, t, x, "
              "generator=noise)`.", ""]
    return "\n".join(lines)
