"""Colour (issue: colour in the diagnostics): the RGB feature network shipped for emoji, the colour check beside its
real-vs-real floor, grey/colour mix-ups refused or converted and counted, and a diffusers model with the layout of
google/ddpm-cifar10-32 (random weights) through loading, sampling at parity with diffusers and a report."""
from __future__ import annotations

import io
import json
import types
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import ddpm
from ddpm import load_checkpoint
from ddpm.data import load_dataset
from ddpm.messages import MessageError, render
from diagnostics.checks.colour import (ColourStats, check_colour, colour_distance, colour_stats, saturation,
                                       saturation_distance, to_unit_rgb)
from diagnostics.features import default_feature_net, evaluate_accuracy, load_feature_net
from diagnostics.reference import load_reference, shipped_net_fits

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from diffusers import DDIMPipeline, DDPMPipeline, DDPMScheduler, UNet2DModel

EMOJI_NET = Path(__file__).resolve().parents[1] / "checkpoints" / "features_emoji.safetensors"


@pytest.fixture(scope="module")
def emoji():
    """(train, held-out) of emoji at 32×32: the split every emoji model and its feature network use."""
    return load_dataset("emoji", image_size=32).split()


# ----------------------------------------------------------------------------------------- feature network
def test_shipped_emoji_feature_network_scores_what_it_records(emoji):
    """The file loads, names the split it held out, and its recorded accuracy is what it scores on that held-out
    split here (a count over 373 images: equal up to one image, which another CPU's rounding may flip)."""
    train, held = emoji
    net = load_feature_net(EMOJI_NET)
    assert (net.dataset, net.image_size, net.in_channels, net.num_classes) == ("emoji", 32, 3, 9)
    assert (net.holdout_fraction, net.split_seed) == (0.2, 0)
    assert net.meta["n_train"] == len(train) == 1489 and net.meta["n_test"] == len(held) == 373
    assert net.class_names == held.class_names
    acc = evaluate_accuracy(net.net, held.images, held.labels)
    print(f"features_emoji: recorded {net.test_accuracy:.4f}, computed {acc:.4f} on {len(held)} held-out images")
    assert abs(acc - net.test_accuracy) <= 1 / len(held) + 1e-9
    assert acc > 1.5 / 9                          # far above chance: it recognises the groups
    # the report picks it for an emoji model as it picks the MNIST one for mnist
    assert default_feature_net("emoji") == EMOJI_NET
    assert shipped_net_fits(held) is None


# ---------------------------------------------------------------------------------------------- the check
def test_colour_distance_is_the_frechet_formula_in_float64():
    from scipy.linalg import sqrtm
    rng = np.random.default_rng(0)
    mk = lambda: ColourStats(rng.random(3), (lambda a: a @ a.T / 3)(rng.normal(size=(3, 3))), np.ones(256) / 256,
                             np.ones((3, 32)) / 32, 0.5)
    a, b = mk(), mk()
    d2 = np.sum((a.mean - b.mean) ** 2) + np.trace(a.cov + b.cov - 2 * np.real(sqrtm(a.cov @ b.cov)))
    assert colour_distance(a, b) == pytest.approx(np.sqrt(d2), rel=1e-9)
    assert colour_distance(a, a) <= 1e-6                 # d² is 0 to float64 rounding (~1e-14), d its root


def test_stats_and_saturation_distance_against_their_definitions():
    from scipy.stats import wasserstein_distance
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(4, 3, 8, 8, generator=g) * 2 - 1, torch.rand(5, 3, 8, 8, generator=g) ** 2 * 2 - 1
    sx, sy = colour_stats(x), colour_stats(y)
    pixels = ((x.double() + 1) / 2).permute(0, 2, 3, 1).reshape(-1, 3).numpy()
    assert np.allclose(sx.mean, pixels.mean(0), atol=1e-12)
    assert np.allclose(sx.cov, np.cov(pixels.T, bias=True), atol=1e-12)
    assert sx.mean_saturation == pytest.approx(((pixels.max(1) - pixels.min(1)) / pixels.max(1)).mean(), rel=1e-12)
    px = pixels.max(1)
    assert np.allclose(saturation(to_unit_rgb(x)).ravel(), (px - pixels.min(1)) / px)   # HSV's S = (max − min)/max
    exact = wasserstein_distance(saturation(to_unit_rgb(x)).ravel(), saturation(to_unit_rgb(y)).ravel())
    assert abs(saturation_distance(sx, sy) - exact) <= 1 / 256            # binned on 256 bins of [0, 1]


def _shifted(x: torch.Tensor, how: str) -> torch.Tensor:
    grey = x.mean(1, keepdim=True)
    return {"grey": grey.expand_as(x), "bgr": x.flip(1), "oversaturated": grey + 5.0 * (x - grey)}[how].clamp(-1, 1)


def test_real_held_out_images_pass_and_shifted_colours_do_not(emoji):
    """64 held-out real images (unseen by the split's reference) are ok, unweighted and weighted to class-cycled
    labels; the same images turned grey fail, with R and B swapped or oversaturated they are flagged."""
    train, held = emoji
    idx = torch.randperm(len(held), generator=torch.Generator().manual_seed(1))[:64]
    real = check_colour(held.images[idx], None, train, held, seed=1)
    print("real:", real.summary)
    assert real.verdict == "ok" and real.summary.key == "check.colour.ok" and real.fix is None
    assert real.numbers["colour_ratio"] < 2.5 and real.numbers["saturation_ratio"] < 2.5
    assert [r["channel"] for r in real.numbers["per_channel"]] == ["red", "green", "blue"]
    # 7 of each class, as the runner cycles the classes of a conditional model: the reference is reweighted
    per_class = torch.cat([torch.nonzero(held.labels == c).flatten()[:7] for c in range(9)])
    balanced = check_colour(held.images[per_class], held.labels[per_class], train, held, seed=1)
    assert balanced.verdict == "ok", str(balanced.summary)
    assert any("class counts" in str(n) for n in balanced.notes)
    grey = check_colour(_shifted(held.images[idx], "grey"), None, train, held, seed=1)
    assert grey.verdict == "fail" and grey.numbers["generated_mean_saturation"] == pytest.approx(0.0, abs=1e-6)
    assert {m.key for m in _parts(grey.summary)} == {"check.colour.off", "check.colour.washed_out"}
    bgr = check_colour(_shifted(held.images[idx], "bgr"), None, train, held, seed=1)
    assert bgr.verdict in ("warn", "fail") and "check.colour.off" in {m.key for m in _parts(bgr.summary)}
    assert "check.colour.fix_off" in {m.key for m in _parts(bgr.fix)}
    over = check_colour(_shifted(held.images[idx], "oversaturated"), None, train, held, seed=1)
    assert over.verdict in ("warn", "fail") and "check.colour.oversaturated" in {m.key for m in _parts(over.summary)}
    assert "check.colour.fix_oversaturated" in {m.key for m in _parts(over.fix)}
    for r in (real, balanced, grey, bgr, over):                    # every message renders in English and 中文
        for m in (r.summary, r.threshold, r.fix, *r.notes):
            if m is not None:
                assert render(m, "en") and render(m, "zh") != render(m, "en")


def _parts(m) -> list:
    """The sentences of a message joined by diagnostics.text.sentences."""
    if m.key == "text.sentences":
        return _parts(m.values["first"]) + _parts(m.values["then"])
    return [m]


def test_grey_models_skip_the_colour_check_saying_why(emoji):
    train, held = emoji
    r = check_colour(torch.zeros(4, 1, 32, 32), None, train, held)
    assert r.verdict == "skip" and r.summary.key == "check.colour.skip_grey" and "grey" in str(r.summary)
    r = check_colour(torch.zeros(4, 3, 32, 32), None, None, None, real_reason="no data")
    assert r.verdict == "skip" and "no data" in str(r.summary)


def test_edge_energy_sees_an_edge_between_two_colours_of_equal_channel_mean():
    """Sobel per channel: red beside green has a flat channel mean (no edge in grey) but two edges of height 2 in
    [-1, 1]; on grey images, or RGB with R = G = B, it is the grey edge energy."""
    from diagnostics.checks import edge_energy
    x = torch.full((1, 3, 8, 8), -1.0)
    x[0, 0, :, :4], x[0, 1, :, 4:] = 1.0, 1.0                       # red | green
    assert torch.equal(x.mean(1), torch.full((1, 8, 8), -1 / 3))
    # each of R and G steps by 2 between columns 3 and 4: |Sobel_x| = (1 + 2 + 1)·2 = 8 on those two columns
    assert edge_energy(x).item() == pytest.approx((8 * 2 * 8) * 2 / (3 * 64))
    g = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    assert torch.allclose(edge_energy(g.expand(-1, 3, -1, -1)), edge_energy(g))


# --------------------------------------------------------------------------------- grey and colour mix-ups
def _ck(channels: int, size: int = 16):
    return types.SimpleNamespace(unet_config=types.SimpleNamespace(image_size=size, in_channels=channels))


def test_grey_reference_for_a_colour_model_and_the_reverse_are_refused_with_what_to_give():
    with pytest.raises(MessageError) as e:
        load_reference("digits", _ck(3))
    assert e.value.message.key == "reference.grey_for_colour" and "--reference emoji" in str(e.value)
    with pytest.raises(MessageError) as e:
        load_reference("emoji", _ck(1))
    assert e.value.message.key == "reference.colour_for_grey" and "--reference digits" in str(e.value)
    ds, meta = load_reference("emoji", _ck(3))                       # the right ones load
    assert ds.channels == 3 and meta["channels"] == 3
    assert load_reference("digits", _ck(1))[0].channels == 1


def _png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def test_a_folder_mixing_grey_and_colour_images_is_converted_and_counted(tmp_path):
    rng = np.random.default_rng(0)
    greys = [rng.integers(0, 256, (8, 8), dtype=np.uint8) for _ in range(3)]
    colours = [rng.integers(0, 256, (8, 8, 3), dtype=np.uint8) for _ in range(2)]
    for i, a in enumerate(greys):
        (tmp_path / "mixed" / "grey").mkdir(parents=True, exist_ok=True)
        (tmp_path / "mixed" / "grey" / f"{i}.png").write_bytes(_png(a))
    for i, a in enumerate(colours):
        (tmp_path / "mixed" / "colour").mkdir(parents=True, exist_ok=True)
        (tmp_path / "mixed" / "colour" / f"{i}.png").write_bytes(_png(a))
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        rgb = load_dataset(str(tmp_path / "mixed"))
        grey = load_dataset(str(tmp_path / "mixed"), channels=1)
    assert rgb.channels == 3 and len(rgb) == 5 and rgb.class_names == ["colour", "grey"]
    (note,) = [n for n in rgb.notes if n.key == "data.note_mixed_channels"]
    assert (note.values["grey"], note.values["colour"], note.values["n"]) == (3, 2, 3)
    assert "3 grey and 2 colour" in str(note) and "converted 3 of them to RGB" in str(note)
    g = rgb.images[rgb.labels == 1]                                  # grey images replicated into R = G = B
    assert torch.equal(g[:, 0], g[:, 1]) and torch.equal(g[:, 1], g[:, 2])
    assert torch.equal(g[:, 0], torch.from_numpy(np.stack(greys)).float() / 127.5 - 1)
    (note,) = [n for n in grey.notes if n.key == "data.note_mixed_channels"]
    assert note.values["n"] == 2 and "to grey" in str(note)
    luma = (torch.from_numpy(np.stack(colours)).double() * torch.tensor([0.299, 0.587, 0.114], dtype=torch.float64)
            ).sum(-1) / 127.5 - 1                                   # ITU-R 601, as PIL's "L"
    assert (grey.images[grey.labels == 0][:, 0].double() - luma).abs().max() < 1e-5
    # a grey model takes it only as grey; a colour model takes it as colour
    with pytest.raises(MessageError, match="is in colour"):
        load_reference(str(tmp_path / "mixed"), _ck(1, 8))
    assert load_reference(str(tmp_path / "mixed"), _ck(3, 8))[0].channels == 3


# -------------------------------------------------------------------- a foreign colour model (diffusers)
# google/ddpm-cifar10-32's unet/config.json, with its widths (128, 256, 256, 256) shrunk 8× for CPU speed: the same
# block types, attention at 16×16 only (the second down block, the third up block), two ResNet layers per block.
CIFAR10_UNET = dict(sample_size=32, in_channels=3, out_channels=3, block_out_channels=(16, 32, 32, 32),
                    layers_per_block=2,
                    down_block_types=("DownBlock2D", "AttnDownBlock2D", "DownBlock2D", "DownBlock2D"),
                    up_block_types=("UpBlock2D", "UpBlock2D", "AttnUpBlock2D", "UpBlock2D"), attention_head_dim=None,
                    downsample_padding=0, flip_sin_to_cos=False, freq_shift=1, norm_eps=1e-6, norm_num_groups=16,
                    mid_block_scale_factor=1, act_fn="silu", center_input_sample=False,
                    time_embedding_type="positional")
# and its scheduler_config.json
CIFAR10_SCHEDULER = dict(num_train_timesteps=1000, beta_schedule="linear", beta_start=0.0001, beta_end=0.02,
                         clip_sample=True, variance_type="fixed_large")


@pytest.fixture(scope="module")
def cifar_layout(tmp_path_factory):
    """(folder, pipeline): random weights (seed 0) saved with save_pretrained, as a Hub download would be laid out."""
    torch.manual_seed(0)
    unet = UNet2DModel(**CIFAR10_UNET).eval()
    pipe = DDPMPipeline(unet=unet, scheduler=DDPMScheduler(**CIFAR10_SCHEDULER))
    folder = tmp_path_factory.mktemp("cifar") / "ddpm-cifar10-32-layout"
    pipe.save_pretrained(folder)
    return folder, pipe


def test_cifar10_layout_loads_and_ddim_samples_as_ddimpipeline(cifar_layout):
    folder, pipe = cifar_layout
    ck = load_checkpoint(folder)
    assert ck.image_shape == (3, 32, 32) and ck.num_classes == 0
    assert ck.sampling_defaults.variance == "fixed_large" and ck.sampling_defaults.clip_denoised is True
    assert ck.unet_config.attention_resolutions == (16,)
    x, t = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0)), torch.tensor([3, 990])
    with torch.no_grad():
        assert torch.equal(ck.model(x, t), pipe.unet(x, t).sample)
    ours = ddpm.generate(ck.model, ck.diffusion, sampler="ddim", steps=10, eta=0.0, n=2, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ddim = DDIMPipeline(unet=pipe.unet, scheduler=pipe.scheduler)
        theirs = ddim(batch_size=2, num_inference_steps=10, eta=0.0, generator=torch.Generator().manual_seed(3),
                      output_type="np").images                         # (N, H, W, C) in [0, 1]
    diff = np.abs(((ours.images + 1) / 2).clamp(0, 1).permute(0, 2, 3, 1).numpy() - theirs)
    print(f"cifar10 layout, DDIM-10 from the same generator: |ours - DDIMPipeline| max {diff.max():.1e}, "
          f"mean {diff.mean():.1e}")
    # Measured 2.5e-4 at most (mean 1e-5) in float32: random weights predict no noise, so x̂_0 at large t lies far
    # outside [-1, 1] and amplifies rounding of the schedule (diffusers keeps ᾱ in float32, ours derives the
    # coefficients in float64); run in float64 end to end the two loops agree to 1e-5, and to 9e-7 given the same
    # ᾱ. 1e-3 is a quarter of one 8-bit level; a wrong convention (spacing, clipping, ε from the clipped x̂_0) is
    # off by more than 1e-2 (tests/test_diffusers_format.py).
    assert diff.max() <= 1e-3 and diff.mean() <= 1e-4 and theirs.std() > 0.05


def test_cifar10_layout_ddpm_loop_equals_ddpmpipeline_on_the_same_draws(cifar_layout, tmp_path):
    """DDPMPipeline runs all T steps; with the same UNet and a 25-step linear scheduler (fixed_large, as google's),
    the product's DDPM sampler fed the pipeline's draws (x_T, then every step's noise) gives its images."""
    from ddpm.samplers import make_sampler
    from ddpm.sampling import sample_loop
    _, pipe = cifar_layout
    short = DDPMPipeline(unet=pipe.unet, scheduler=DDPMScheduler(**{**CIFAR10_SCHEDULER, "num_train_timesteps": 25,
                                                                    "beta_end": 0.3}))
    short.save_pretrained(tmp_path / "short")
    short.set_progress_bar_config(disable=True)
    ck = load_checkpoint(tmp_path / "short")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = short(batch_size=2, generator=torch.Generator().manual_seed(5), num_inference_steps=25,
                       output_type="np").images                         # all T = 25 steps
    g = torch.Generator().manual_seed(5)
    x_T = torch.randn((2, 3, 32, 32), generator=g)
    with torch.no_grad():
        x0, _ = sample_loop(lambda x, t: ck.model(x, t, None), make_sampler("ddpm", ck.diffusion), x_T, g)
    diff = np.abs(((x0 + 1) / 2).clamp(0, 1).permute(0, 2, 3, 1).numpy() - theirs).max()
    print(f"cifar10 layout, DDPM-25 on the same draws: max |ours - DDPMPipeline| = {diff:.1e}")
    assert diff <= 1e-4


def test_cifar10_layout_gets_a_report_against_the_emoji_reference(cifar_layout, tmp_path, monkeypatch):
    """python -m diagnostics report FOLDER --reference emoji: the reference stands in for the data the model never
    recorded, the shipped emoji feature network scores it, and the colour check runs (random weights: not ok).
    Quick mode with its real-data passes cut to a few images (noise, timing, generalisation), so that a 32×32
    U-Net's report fits a unit test's time on a CPU; what runs is the CLI's own path."""
    from dataclasses import replace
    import diagnostics.report
    from diagnostics.__main__ import main
    from diagnostics.checks.runner import mode_settings
    small = lambda *a, **kw: replace(mode_settings(*a, **kw), noise_n=8, timing_batch=2, timing_repeats=1,   # noqa
                                     memory_batch_sizes=(1,), generalisation_n=8, generalisation_draws=1)
    monkeypatch.setattr(diagnostics.report, "mode_settings", small)
    folder, _ = cifar_layout
    out = tmp_path / "report"
    assert main(["report", str(folder), "--quick", "--n", "9", "--steps", "4", "--reference", "emoji",
                 "--no-progress", "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    checks = {c["key"]: c for c in report["checks"]}
    assert report["settings"]["real_data"].startswith("emoji: 1862 images")
    assert checks["colour"]["verdict"] in ("warn", "fail"), checks["colour"]["summary"]    # noise is not an emoji
    assert checks["sample_quality"]["verdict"] != "skip", checks["sample_quality"]["summary"]
    assert "emoji-cnn" in json.dumps(checks["sample_quality"])


def test_saturation_is_called_over_or_washed_out_only_when_the_means_say_so():
    """At equal means a saturation distance is a difference of spread: neither 'oversaturated' nor 'washed out'."""
    from diagnostics.checks.colour import _saturation_problem
    v = dict(d=0.0, floor=1.0, ratio=0.0, channel="red", shift=0.0, w_floor=0.00585)
    key = lambda gen, real, w: _saturation_problem({**v, "sat_gen": gen, "sat_real": real, "w": w,
                                                    "w_ratio": w / 0.00585})[0].key
    assert key(0.25, 0.25, 0.0265) == "check.colour.saturation_spread"      # the emoji model's report
    assert key(0.40, 0.25, 0.16) == "check.colour.oversaturated"
    assert key(0.10, 0.25, 0.16) == "check.colour.washed_out"


def test_the_colour_check_draws_its_channel_and_saturation_histograms():
    """The committed colour model's report: every RGB channel's histogram, samples against real, and saturation."""
    import json
    from pathlib import Path

    from diagnostics.checks import CheckResult
    from diagnostics.plots import draw_figures
    report = json.loads((Path(__file__).resolve().parents[1] / "docs/report_emoji/report.json").read_text())
    check = CheckResult.from_dict(next(c for c in report["checks"] if c["key"] == "colour"))
    drawn = draw_figures(check)
    assert not drawn.not_drawn and len(drawn.figures) == 2
    channels, saturation = drawn.figures
    hist = check.numbers["channel_histograms"]
    assert len(channels.data) == 6 and list(channels.data[0].y) == hist["generated"][0]
    assert list(channels.data[5].y) == hist["real"][2] and channels.data[5].line.dash == "dot"
    assert list(saturation.data[1].y) == check.numbers["saturation_histogram"]["real"]
    assert draw_figures(check, "zh").figures[0].layout.title.text.startswith("各 RGB 通道")
