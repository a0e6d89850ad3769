"""diffusers models in (issue 9): a UNet2DModel + DDPMScheduler made and trained by diffusers alone loads into the
same LoadedCheckpoint as ours, samples as diffusers' own scheduler loop does, and every refusal has its message."""
import json
import os
import pickle
import shutil
import stat
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

import ddpm
from ddpm import CheckpointError, load_checkpoint
from ddpm.formats.diffusers_config import scheduler_to_diffusion
from tests.diffusers_fixtures import UNET_KW, train_pipeline

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from diffusers import DDIMScheduler, DDPMScheduler, UNet2DModel


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(folder, pipeline): trained 40 steps by a plain diffusers loop, saved with save_pretrained."""
    folder = tmp_path_factory.mktemp("diffusers") / "pipe"
    return folder, train_pipeline(folder, steps=40)


def zip_folder(folder: Path, out: Path, wrap: str = "") -> Path:
    with zipfile.ZipFile(out, "w") as zf:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                zf.write(p, str(Path(wrap) / p.relative_to(folder)) if wrap else str(p.relative_to(folder)))
    return out


def diffusers_ddim(scheduler, unet, x_T: torch.Tensor, steps: int, **step_kw) -> torch.Tensor:
    """diffusers' own DDIM loop (DDIMPipeline's body) from a given x_T."""
    sched = DDIMScheduler.from_config(scheduler.config)
    sched.set_timesteps(steps)
    x = x_T.clone()
    with torch.no_grad():
        for t in sched.timesteps:
            x = sched.step(unet(x, t).sample, t, x, eta=0.0, **step_kw).prev_sample
    return x


def test_pipeline_folder_loads_as_a_loaded_checkpoint(trained):
    folder, pipe = trained
    ck = load_checkpoint(folder)
    assert ck.source == "diffusers DDPMPipeline folder"
    assert ck.image_shape == (1, 8, 8) and ck.num_classes == 0 and ck.class_names == []
    assert ck.diffusion_config.T == 1000 and ck.diffusion_config.objective == "eps"
    # the schedule is the scheduler's own: ᾱ equal to diffusers' within float32 rounding
    assert torch.allclose(ck.diffusion.alphas_cumprod, pipe.scheduler.alphas_cumprod, rtol=1e-5, atol=1e-7)
    # the scheduler's settings are this model's sampling defaults
    d = ck.sampling_defaults
    assert (d.spacing, d.clip_denoised, d.clip_range, d.variance) == ("leading", True, 1.0, "fixed_small")
    x, t = torch.randn(3, 1, 8, 8), torch.tensor([0, 500, 999])
    with torch.no_grad():
        assert torch.equal(ck.model(x, t), pipe.unet(x, t).sample)
    assert ck.guidance_unavailable.startswith("this model is unconditional")


@pytest.mark.parametrize("clip", [True, False])
def test_ddim20_equals_diffusers_own_loop(trained, tmp_path, clip):
    """DDIM-20 from the same x_T: ours at the model's defaults (the scheduler's leading spacing, its clip_sample, and
    with clipping the network's own ε̂, as diffusers' DDIMPipeline samples: use_clipped_model_output=False) against
    DDIMScheduler; asked for (eps_from_clipped=True) ours recomputes ε̂ from the clipped x̂_0 as
    use_clipped_model_output=True does."""
    folder, pipe = trained
    folder = _copy(folder, tmp_path)
    cfg = {k: v for k, v in pipe.scheduler.config.items() if k != "_use_default_values"}  # else from_config resets them
    cfg["clip_sample"] = clip
    (folder / "scheduler" / "scheduler_config.json").write_text(json.dumps(cfg))
    ck = load_checkpoint(folder)
    x_T = ddpm.initial_noise(8, (1, 8, 8), seed=3)
    ours = ddpm.generate(ck.model, ck.diffusion, sampler="ddim", steps=20, eta=0.0, n=8, x_T=x_T)
    assert ours.settings["spacing"] == "leading" and ours.settings["clip_denoised"] is clip
    scheduler = DDPMScheduler.from_config(cfg)
    assert scheduler.config.clip_sample is clip
    theirs = diffusers_ddim(scheduler, pipe.unet, x_T, 20).clamp(-1, 1)                  # DDIMPipeline's default
    diff = (ours.images - theirs).abs().max().item()
    print(f"DDIM-20 clip_sample={clip}: max |ours - diffusers| = {diff:.2e}")
    assert diff <= 1e-4
    assert ours.images.std() > 0.1          # not a degenerate all-equal output
    assert ours.settings["eps_from_clipped"] is (False if clip else None)
    asked = ddpm.generate(ck.model, ck.diffusion, sampler="ddim", steps=20, eta=0.0, n=8, x_T=x_T, eps_from_clipped=True)
    theirs_clipped = diffusers_ddim(scheduler, pipe.unet, x_T, 20, use_clipped_model_output=True).clamp(-1, 1)
    assert (asked.images - theirs_clipped).abs().max().item() <= 1e-4
    if clip:                                # the two conventions really differ on this model
        assert (asked.images - ours.images).abs().max().item() > 1e-2


def test_sample_cli_at_its_defaults_equals_diffusers_on_either_kind_of_cpu(trained, tmp_path, cpu_kind):
    """`python -m ddpm.sample --ckpt PIPELINE --sampler ddim --steps 20` with no --amp: fp32 on a CPU with native bf16
    as on one without, so it matches diffusers' own loop from the same x_T whatever CPU the user has (bf16 there
    was 6e-2 away)."""
    from ddpm.sample import main as sample_main
    folder, pipe = trained
    out = tmp_path / "grid.png"
    assert sample_main(["--ckpt", str(folder), "--sampler", "ddim", "--steps", "20", "--n", "8", "--seed", "3",
                        "--out", str(out), "--quiet"]) == 0
    saved = np.load(out.with_suffix(".npz"))
    assert json.loads(str(saved["settings"]))["precision"] == "fp32"
    x_T = torch.from_numpy(saved["x_T"])
    assert torch.equal(x_T, ddpm.initial_noise(8, (1, 8, 8), seed=3))
    assert pipe.scheduler.config.clip_sample is True                  # diffusers' default: the convention matters
    theirs = diffusers_ddim(pipe.scheduler, pipe.unet, x_T, 20).clamp(-1, 1)           # as DDIMPipeline samples
    diff = (torch.from_numpy(saved["images"]) - theirs).abs().max().item()
    assert diff <= 1e-4, f"{cpu_kind}: max |ours - diffusers| = {diff:.2e}"
    assert theirs.std() > 0.1


def test_bare_unet_folder_with_scheduler_beside_it_and_zips(trained, tmp_path):
    folder, pipe = trained
    bare = tmp_path / "bare"
    pipe.unet.save_pretrained(bare)
    pipe.scheduler.save_pretrained(bare)
    x, t = torch.randn(2, 1, 8, 8), torch.tensor([5, 700])
    with torch.no_grad():
        want = pipe.unet(x, t).sample
        for path in (bare, zip_folder(folder, tmp_path / "pipe.zip"), zip_folder(folder, tmp_path / "w.zip", "mine"),
                     zip_folder(bare, tmp_path / "bare.zip")):
            ck = load_checkpoint(path)
            assert torch.equal(ck.model(x, t), want), path
    assert load_checkpoint(tmp_path / "pipe.zip").source == "diffusers DDPMPipeline .zip"
    assert load_checkpoint(bare).source == "diffusers UNet2DModel folder"


def test_scheduler_mapping_matches_diffusers_for_every_schedule():
    for kw in (dict(beta_schedule="linear"), dict(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012),
               dict(beta_schedule="squaredcos_cap_v2"), dict(beta_schedule="sigmoid"),
               dict(trained_betas=torch.linspace(1e-4, 0.05, 200).tolist(), num_train_timesteps=200)):
        for pred, objective in (("epsilon", "eps"), ("sample", "x0"), ("v_prediction", "v")):
            sched = DDPMScheduler(prediction_type=pred, **kw)
            dcfg, _ = scheduler_to_diffusion(dict(sched.config, _class_name="DDPMScheduler"), "s")
            diff = ddpm.GaussianDiffusion(dcfg)
            assert dcfg.objective == objective
            assert torch.allclose(diff.alphas_cumprod, sched.alphas_cumprod, rtol=1e-5, atol=1e-7), kw
    cfg = dict(DDPMScheduler(variance_type="fixed_large", timestep_spacing="trailing", clip_sample=False,
                             clip_sample_range=2.0).config)
    _, d = scheduler_to_diffusion(cfg, "s")
    assert (d.variance, d.spacing, d.clip_denoised, d.clip_range) == ("fixed_large", "trailing", False, 2.0)


def test_class_conditional_unet_takes_labels_and_says_why_no_guidance(tmp_path):
    pipe = train_pipeline(tmp_path / "cond", steps=2, num_class_embeds=3)
    ck = load_checkpoint(tmp_path / "cond")
    assert ck.num_classes == 3 and ck.class_names == ["0", "1", "2"]
    assert "no null label" in ck.guidance_unavailable
    x_T = ddpm.initial_noise(3, (1, 8, 8), seed=0)
    res = ddpm.generate(ck.model, ck.diffusion, steps=5, n=3, labels=[0, 1, 2], x_T=x_T)
    assert res.labels.tolist() == [0, 1, 2]
    with torch.no_grad():     # the labels reach diffusers' class embedding
        t = torch.full((3,), 999)
        assert torch.equal(ck.model(x_T, t, torch.tensor([0, 1, 2])),
                           pipe.unet(x_T, t, class_labels=torch.tensor([0, 1, 2])).sample)
    with pytest.raises(ValueError, match="guidance_scale must be 1 for this model: .*no null label"):
        ddpm.generate(ck.model, ck.diffusion, steps=5, n=3, labels=[0, 1, 2], guidance_scale=2.0)
    with pytest.raises(ValueError, match="no null class: give labels"):
        ddpm.generate(ck.model, ck.diffusion, steps=5, n=3)


# ------------------------------------------------------------------------------------------------- refusals
def _copy(folder: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "copy"
    shutil.copytree(folder, dst)
    return dst


def _edit(path: Path, **kw) -> None:
    cfg = json.loads(path.read_text())
    cfg.update(kw)
    path.write_text(json.dumps(cfg))


class _Payload:
    def __reduce__(self):
        return (os.system, (f"touch {os.environ['PAYLOAD_MARK']}",))


def test_pickled_weights_refused_with_how_to_convert_and_never_opened(trained, tmp_path, monkeypatch):
    folder, _ = trained
    mark = tmp_path / "payload_ran"
    monkeypatch.setenv("PAYLOAD_MARK", str(mark))
    d = _copy(folder, tmp_path)
    (d / "unet" / "diffusion_pytorch_model.safetensors").unlink()
    (d / "unet" / "diffusion_pytorch_model.bin").write_bytes(pickle.dumps(_Payload()))
    for path in (d, zip_folder(d, tmp_path / "pickled.zip")):
        with pytest.raises(CheckpointError, match=r"pickle \(diffusion_pytorch_model.bin\).*never opened.*"
                                                  r"safe_serialization=True"):
            load_checkpoint(path)
    assert not mark.exists()


@pytest.mark.parametrize("case, edit, message", [
    ("missing scheduler", lambda d: (d / "scheduler" / "scheduler_config.json").unlink(),
     "no scheduler_config.json.*scheduler.save_pretrained"),
    ("weights do not match", lambda d: _edit(d / "unet" / "config.json", block_out_channels=[16, 48]),
     "the weights do not fit the UNet2DModel its config.json describes.*up_blocks|down_blocks|mid_block"),
    ("learned variance without its output", lambda d: _edit(d / "scheduler" / "scheduler_config.json",
                                                             variance_type="learned_range"),
     "variance_type='learned_range' needs a UNet2DModel with out_channels = 2"),
    ("learned (not range) variance", lambda d: _edit(d / "scheduler" / "scheduler_config.json", variance_type="learned"),
     "variance_type='learned' is not supported"),
    ("thresholding", lambda d: _edit(d / "scheduler" / "scheduler_config.json", thresholding=True),
     "thresholding=True .*not supported"),
    ("unknown schedule", lambda d: _edit(d / "scheduler" / "scheduler_config.json", beta_schedule="exp"),
     "beta_schedule='exp' is not supported"),
    ("prediction type", lambda d: _edit(d / "scheduler" / "scheduler_config.json", prediction_type="flow"),
     "prediction_type='flow' does not map"),
    ("scheduler class", lambda d: _edit(d / "scheduler" / "scheduler_config.json", _class_name="EulerDiscreteScheduler"),
     "_class_name='EulerDiscreteScheduler' is not a scheduler"),
    ("latent pipeline", lambda d: _edit(d / "model_index.json", _class_name="LDMPipeline",
                                        vqvae=["diffusers", "VQModel"]), "vqvae=.*latent diffusion"),
    ("text-conditioned pipeline", lambda d: _edit(d / "model_index.json", text_encoder=["transformers", "CLIPTextModel"]),
     "text_encoder=.*text-conditioned"),
    ("text-conditioned unet", lambda d: _edit(d / "unet" / "config.json", _class_name="UNet2DConditionModel"),
     "UNet2DConditionModel.*text-conditioned"),
    ("learned variance head", lambda d: _edit(d / "unet" / "config.json", out_channels=2),
     "out_channels=2 .*needs a scheduler with variance_type='learned_range'"),
    ("three output channels", lambda d: _edit(d / "unet" / "config.json", out_channels=3),
     "out_channels=3 is neither in_channels=1 nor twice it"),
    ("T=1e9", lambda d: _edit(d / "scheduler" / "scheduler_config.json", num_train_timesteps=10**9),
     "num_train_timesteps=1000000000 is outside"),
    ("sample_size", lambda d: _edit(d / "unet" / "config.json", sample_size=100_000), "sample_size=100000 is outside"),
    ("width", lambda d: _edit(d / "unet" / "config.json", block_out_channels=[16, 100_000]),
     r"block_out_channels\[1\]=100000 is outside"),
    ("classes", lambda d: _edit(d / "unet" / "config.json", num_class_embeds=15_000_000),
     "num_class_embeds=15000000 is outside"),
    ("fourier time embedding", lambda d: _edit(d / "unet" / "config.json", time_embedding_type="fourier"),
     "time_embedding_type='fourier' is not supported"),
])
def test_each_refusal_has_its_own_message(trained, tmp_path, case, edit, message):
    d = _copy(trained[0], tmp_path)
    edit(d)
    t0 = time.perf_counter()
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(d)
    assert time.perf_counter() - t0 < 2.0


def test_hub_id_offline_says_so_and_downloads_nothing(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(CheckpointError, match="Hugging Face Hub id .*offline.*`hf download google/ddpm-cifar10-32 "):
        load_checkpoint("google/ddpm-cifar10-32")
    assert not (tmp_path / "hf").exists() or not any((tmp_path / "hf").rglob("*.safetensors"))
    with pytest.raises(FileNotFoundError):      # a missing local file is still "not found", not a Hub id
        load_checkpoint("runs/none/model.safetensors")


def test_unsafe_zips_refused(trained, tmp_path):
    folder, _ = trained
    cases = {}
    p = cases["traversal"] = tmp_path / "traversal.zip"
    zip_folder(folder, p)
    with zipfile.ZipFile(p, "a") as zf:
        zf.writestr("../../evil.json", "{}")
    p = cases["symlink"] = tmp_path / "symlink.zip"
    zip_folder(folder, p)
    with zipfile.ZipFile(p, "a") as zf:
        info = zipfile.ZipInfo("unet/link.json")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    for name, message in (("traversal", "traversal"), ("symlink", "symbolic link")):
        with pytest.raises(CheckpointError, match=message):
            load_checkpoint(cases[name])
    assert not (tmp_path.parent / "evil.json").exists()
    bomb = zip_folder(folder, tmp_path / "bomb.zip")
    with zipfile.ZipFile(bomb, "a", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("unet/extra.safetensors", b"\0" * (20 * 2**20))    # 20 MB of zeros, ~20 kB in the zip
    limit = 2 * bomb.stat().st_size
    with pytest.raises(CheckpointError, match=r"member 'unet/extra.safetensors' unpacks to 20,971,520 bytes .*limit"):
        load_checkpoint(bomb, max_bytes=limit)
    with pytest.raises(CheckpointError, match="over the .* limit"):
        load_checkpoint(bomb, max_bytes=100)


@pytest.mark.slow
def test_report_on_the_zip_with_a_reference_set(trained, tmp_path, monkeypatch):
    """python -m diagnostics report PIPELINE.zip: without data the data checks are skipped saying what to give;
    with --reference digits (resized to the model's 8×8) they run, and --train-features trains a feature network
    on the labelled reference (the shipped one takes 16×16), cached by the reference's hash outside the checkout."""
    from diagnostics.__main__ import main
    monkeypatch.setenv("DDPM_WORKBENCH_CACHE", str(tmp_path / "cache"))
    z = zip_folder(trained[0], tmp_path / "pipe.zip")
    base = ["report", str(z), "--quick", "--n", "20", "--no-progress"]
    assert main(base + ["--out", str(tmp_path / "bare")]) == 0
    bare = {c["key"]: c for c in json.loads((tmp_path / "bare" / "report.json").read_text())["checks"]}
    for key in ("smoothness", "sample_quality", "memorisation"):
        assert bare[key]["verdict"] == "skip" and "--reference" in bare[key]["summary"], bare[key]["summary"]
    assert main(base + ["--out", str(tmp_path / "ref"), "--reference", "digits", "--train-features"]) == 0
    ref = json.loads((tmp_path / "ref" / "report.json").read_text())
    checks = {c["key"]: c for c in ref["checks"]}
    assert ref["settings"]["real_data"].startswith("digits: 1797 images")
    for key in ("smoothness", "memorisation", "noise_prediction", "sample_quality"):
        assert checks[key]["verdict"] != "skip", checks[key]["summary"]
    assert checks["sample_quality"]["numbers"]["fid"] > 0
    cached = list((tmp_path / "cache" / "features").glob("digits-1x8-*.safetensors"))
    assert len(cached) == 1
    # the cached network is reused, not retrained; without --train-features the report says what is missing
    from diagnostics.reference import load_reference, reference_feature_net
    real, _ = load_reference("digits", load_checkpoint(z))
    mtime = cached[0].stat().st_mtime_ns
    extractor, _ = reference_feature_net(real, train=True)
    assert extractor.image_size == 8 and cached[0].stat().st_mtime_ns == mtime
    extractor, missing = reference_feature_net(real, train=False)
    assert extractor is None and "takes 1×16×16 images" in missing and "--train-features" in missing


def test_commands_that_need_our_format_say_so_for_a_diffusers_zip(trained, tmp_path):
    from ddpm import read_metadata
    z = zip_folder(trained[0], tmp_path / "pipe.zip")
    for path in (z, trained[0]):
        with pytest.raises(CheckpointError, match="is a .zip or a diffusers folder, not a DDPM Workbench checkpoint; this needs a .safetensors"):
            read_metadata(path)
