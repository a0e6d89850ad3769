"""Each diagnostic check passes a healthy case and flags a deliberately broken one.

Models here are untrained tiny U-Nets or small wrappers with a known answer (an oracle that returns the true
noise, a model that always lands on one image, one that outputs huge ε), so no test depends on training luck.
"""
import math

import pytest
import torch
import torch.nn.functional as F

from ddpm import DiffusionConfig, GaussianDiffusion, Trajectory, UNet, UNetConfig, make_betas
from ddpm.data import DEFAULT_HOLDOUT, DEFAULT_SPLIT_SEED, load_dataset, recorded_holdout
from diagnostics import features
from diagnostics.checks import (CheckResult, capture_steps_for, check_diversity, check_memorisation,
                                check_model_basics, check_noise_prediction, check_performance, check_sample_quality,
                                check_schedule, check_smoothness, check_x0_range, draw_samples, edge_energy,
                                feature_net_mismatch, mode_settings, nearest_distances, scaled_timesteps,
                                split_real_data, worst_verdict)
from diagnostics.thresholds import DEFAULT_THRESHOLDS, Thresholds



@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", image_size=16)


def tiny_unet(num_classes=0, image_size=8, seed=0):
    torch.manual_seed(seed)
    cfg = UNetConfig(image_size=image_size, in_channels=1, base_channels=8, channel_mult=(1, 2), num_res_blocks=1,
                     attention_resolutions=(), num_heads=1, groups=4, num_classes=num_classes)
    return UNet(cfg).eval()


class Wrapper(torch.nn.Module):
    """A stand-in network with a U-Net's interface (config, parameters) and a hand-written forward."""

    def __init__(self, fn, image_size=8, num_classes=0):
        super().__init__()
        self.inner = tiny_unet(num_classes, image_size)
        self.config = self.inner.config
        self.fn = fn

    def forward(self, x, t, y=None):
        return self.fn(x, t, y)


def gaussian_blur(x, sigma):
    r = max(1, int(math.ceil(3 * sigma)))
    k = torch.exp(-torch.arange(-r, r + 1).float() ** 2 / (2 * sigma ** 2))
    k = k / k.sum()
    x = F.pad(x, (r, r, r, r), mode="replicate")
    x = F.conv2d(x, k.view(1, 1, 1, -1))
    return F.conv2d(x, k.view(1, 1, -1, 1))


# ------------------------------------------------------------------------------------------------ helpers
def test_scaled_timesteps_match_the_seed_at_T_1000_and_scale():
    assert scaled_timesteps(1000, (0, .25, .5, .75, 1)) == [0, 250, 500, 750, 999]
    assert scaled_timesteps(100, (1, .8, .6, .4, .2, 0)) == [99, 80, 60, 40, 20, 0]
    assert capture_steps_for([99, 74, 49, 24], 100) == [99, 74, 49, 24]


def test_worst_verdict_ignores_skips():
    assert worst_verdict(["ok", "skip", "warn"]) == "warn"
    assert worst_verdict(["ok", "fail", "warn"]) == "fail"
    assert worst_verdict(["skip", "skip"]) == "skip"
    with pytest.raises(ValueError):
        CheckResult("x", "X", "bad", "")


def test_thresholds_are_frozen_and_documented():
    with pytest.raises(Exception):
        DEFAULT_THRESHOLDS.beta0_warn = 1.0
    assert DEFAULT_THRESHOLDS.beta0_warn == 0.01 and DEFAULT_THRESHOLDS.alphabar_T_warn == 0.01
    assert DEFAULT_THRESHOLDS.eps_mean_warn == 0.5 and DEFAULT_THRESHOLDS.eps_std_dev_warn == 0.5
    assert DEFAULT_THRESHOLDS.projected_seconds_warn == 60.0


# ------------------------------------------------------------------------------------------- model basics
def test_model_basics_ok_for_an_eval_model():
    r = check_model_basics(tiny_unet(), weights="ema")
    assert r.verdict == "ok", r.summary
    assert r.numbers["training_mode"] is False and r.numbers["parameters"] > 0 and r.fix is None
    assert r.numbers["param_std"] > 0 and r.numbers["nonfinite_values"] == 0


def test_model_basics_warns_in_train_mode():
    r = check_model_basics(tiny_unet().train(), weights="ema")
    assert r.verdict == "warn"
    assert "model.eval()" in str(r.fix)


def test_model_basics_fails_on_nan_weights():
    m = tiny_unet()
    with torch.no_grad():
        next(m.parameters())[0].fill_(float("nan"))
    r = check_model_basics(m)
    assert r.verdict == "fail" and r.numbers["nonfinite_values"] > 0
    assert r.numbers["nonfinite_tensors"]
    assert math.isfinite(r.numbers["param_mean"])     # statistics of the finite weights are still reported


def test_model_basics_warns_on_raw_weights_and_huge_weights():
    assert check_model_basics(tiny_unet(), weights="raw").verdict == "warn"
    m = tiny_unet()
    with torch.no_grad():
        next(m.parameters()).mul_(1e4)
    r = check_model_basics(m)
    assert r.verdict == "warn" and "learning rate" in str(r.fix)


# ----------------------------------------------------------------------------------------------- schedule
def test_schedule_ok_for_linear_1000_with_table():
    r = check_schedule(GaussianDiffusion(DiffusionConfig("linear", 1000)))
    assert r.verdict == "ok", r.summary
    assert r.numbers["beta_0"] == pytest.approx(1e-4)
    cols = [k for k in r.numbers["snr_table"][0] if k != "schedule"]
    assert cols == ["t=0", "t=250", "t=500", "t=750", "t=999"]
    names = [str(row["schedule"]) for row in r.numbers["sqrt_alphabar_table"]]
    assert names == ["this (linear)", "cosine", "quadratic", "sigmoid"]
    this, cos = r.numbers["sqrt_alphabar_table"][0], r.numbers["sqrt_alphabar_table"][1]
    assert this["t=0"] > this["t=500"] > this["t=999"]
    # √ᾱ_500 of the linear schedule is 0.2789 (Ho et al. β from 1e-4 to 0.02); cosine keeps more signal
    assert this["t=500"] == pytest.approx(0.2789, abs=1e-4) and cos["t=500"] > 0.6
    assert len(r.numbers["snr_curve"]["t"]) == len(r.numbers["snr_curve"]["cosine"])


def test_schedule_warns_when_alphabar_T_is_half():
    T = 100
    b = 1 - 0.5 ** (1 / T)                    # constant β with ∏(1 − β) = 0.5
    d = GaussianDiffusion(DiffusionConfig("custom", betas=[b] * T))
    r = check_schedule(d)
    assert r.numbers["alphabar_T"] == pytest.approx(0.5)
    assert r.verdict == "warn" and "ᾱ_T" in str(r.summary)
    assert "cosine" in str(r.fix) or "β_end" in str(r.fix)


def test_schedule_warns_on_large_beta0_and_fails_outside_0_1():
    assert check_schedule(torch.full((50,), 0.05, dtype=torch.float64)).verdict == "warn"
    bad = make_betas("linear", 10).clone()
    bad[3] = 1.5
    assert check_schedule(bad).verdict == "fail"


# ---------------------------------------------------------------------------------------- noise prediction
def oracle(diffusion, x0, objective):
    """A perfect network for a fixed batch x0: it knows x_0, so it recovers ε exactly."""
    def fn(x_t, t, y):
        sa = diffusion.sqrt_alphas_cumprod[t].view(-1, 1, 1, 1)
        s1 = diffusion.sqrt_one_minus_alphas_cumprod[t].view(-1, 1, 1, 1)
        eps = (x_t - sa * x0) / s1
        return {"eps": eps, "x0": x0.expand_as(x_t), "v": sa * eps - s1 * x0}[objective]
    return fn


@pytest.mark.parametrize("objective", ["eps", "x0", "v"])
def test_noise_prediction_ok_for_an_oracle(digits, objective):
    d = GaussianDiffusion(DiffusionConfig("linear", 200, objective=objective))
    x0 = digits.images[:32]
    r = check_noise_prediction(Wrapper(oracle(d, x0, objective), image_size=16), d, x0)
    assert r.verdict == "ok", r.summary
    assert [row["t"] for row in r.numbers["per_t"]] == [0, 50, 100, 150, 199]
    for row in r.numbers["per_t"]:
        if row["t"] > 0:
            assert row["eps_mse"] < 1e-3 and abs(row["eps_std"] - 1) < 0.2


@pytest.mark.parametrize("value", [0.0, 3.0])
def test_noise_prediction_flags_constant_output(digits, value):
    d = GaussianDiffusion(DiffusionConfig("linear", 200))
    r = check_noise_prediction(Wrapper(lambda x, t, y: torch.full_like(x, value), image_size=16), d,
                               digits.images[:32])
    assert r.verdict == "fail", r.summary
    assert r.numbers["mean_eps_mse_t_gt_0"] >= DEFAULT_THRESHOLDS.eps_mse_fail
    assert r.fix


def test_noise_prediction_warns_on_shifted_but_learnt_noise(digits):
    d = GaussianDiffusion(DiffusionConfig("linear", 200))
    x0 = digits.images[:32]
    good = oracle(d, x0, "eps")
    r = check_noise_prediction(Wrapper(lambda x, t, y: good(x, t, y) * 0.3, image_size=16), d, x0)
    assert r.verdict == "warn" and "std" in str(r.summary)   # std 0.3 off by 0.7 > 0.5; MSE 0.49 < 0.9


def test_noise_prediction_restores_train_mode(digits):
    d = GaussianDiffusion(DiffusionConfig("linear", 100))
    m = tiny_unet(image_size=16).train()
    check_noise_prediction(m, d, digits.images[:8])
    assert m.training


# ------------------------------------------------------------------------------------------------ x̂_0 range
def test_x0_range_ok_for_an_in_range_trajectory(digits):
    frames = digits.images[:16].unsqueeze(0).repeat(4, 1, 1, 1, 1)          # (F, N, C, H, W)
    traj = Trajectory([999, 600, 200, 0], frames, frames.clone())
    r = check_x0_range(traj, 1000)
    assert r.verdict == "ok", r.summary
    assert [row["judged"] for row in r.numbers["per_t"]] == [False, False, True, True]
    assert r.numbers["per_t"][-1]["frac_outside"] == 0.0


def test_x0_range_fails_far_outside(digits):
    frames = digits.images[:16].unsqueeze(0).repeat(4, 1, 1, 1, 1) * 10
    r = check_x0_range(Trajectory([999, 600, 200, 0], frames, frames), 1000)
    assert r.verdict == "fail" and r.numbers["final_absmax"] >= 9.9
    assert "objective" in str(r.fix)


def test_x0_range_ignores_early_steps_but_not_nan(digits):
    good = digits.images[:16]
    frames = torch.stack([good * 50, good, good])          # wild only at t = 999, where √ᾱ ≈ 0
    assert check_x0_range(Trajectory([999, 200, 0], frames, frames), 1000).verdict == "ok"
    nan = frames.clone()
    nan[-1, 0, 0, 0, 0] = float("nan")
    assert check_x0_range(Trajectory([999, 200, 0], nan, nan), 1000).verdict == "fail"


def test_x0_range_flags_a_model_with_huge_eps():
    d = GaussianDiffusion(DiffusionConfig("linear", 100))
    model = Wrapper(lambda x, t, y: torch.full_like(x, 50.0))
    batch = draw_samples(model, d, mode_settings(True, d.T, n=4, steps=10), seed=0)
    assert batch.trajectory is not None and len(batch.trajectory.timesteps) >= 4
    r = check_x0_range(batch.trajectory, d.T, batch.sampler)
    assert r.verdict == "fail"


# ----------------------------------------------------------------------------------------------- smoothness
def test_edge_energy_is_zero_for_flat_images():
    assert torch.allclose(edge_energy(torch.full((3, 1, 8, 8), -1.0)), torch.zeros(3))


def test_smoothness_ok_for_real_vs_real(digits):
    r = check_smoothness(digits.images[:300], digits.images[300:])
    assert r.verdict == "ok", r.summary
    assert r.numbers["ratio"] == pytest.approx(1.0, abs=0.1)


def test_smoothness_warns_on_blurred_samples(digits):
    blurred = gaussian_blur(digits.images[:300], 2.0)
    r = check_smoothness(blurred, digits.images[300:])
    assert r.verdict == "warn" and "over-smoothed" in str(r.summary)
    assert r.numbers["ratio"] < DEFAULT_THRESHOLDS.smooth_ratio_warn


def test_smoothness_warns_on_noise_and_skips_without_real(digits):
    noise = torch.randn(200, 1, 16, 16, generator=torch.Generator().manual_seed(0)).clamp(-1, 1)
    r = check_smoothness(noise, digits.images[:500])
    assert r.verdict == "warn" and "noisier" in str(r.summary)
    skipped = check_smoothness(noise, None, real_reason="folder gone")
    assert skipped.verdict == "skip" and "folder gone" in str(skipped.summary)


# ------------------------------------------------------------------------------------------------ diversity
def test_nan_samples_fail_smoothness_and_diversity(digits):
    x = digits.images[:20].clone()
    x[3, 0, 0, 0] = float("nan")
    assert check_smoothness(x, digits.images[100:400]).verdict == "fail"
    r = check_diversity(x, digits.images[100:400])
    assert r.verdict == "fail" and r.numbers["nonfinite_samples"] == 1


def test_diversity_ok_for_real_vs_real_per_class(digits):
    a, b = digits.images[:400], digits.images[400:900]
    r = check_diversity(a, b, digits.labels[:400], digits.labels[400:900], digits.class_names)
    assert r.verdict == "ok", r.summary
    assert len(r.numbers["per_class"]) == 10
    assert r.numbers["pairwise_ratio"] == pytest.approx(1.0, abs=0.15)


def test_diversity_fails_when_every_sample_is_one_image(digits):
    same = digits.images[:1].repeat(64, 1, 1, 1)
    r = check_diversity(same, digits.images[:500])
    assert r.verdict == "fail" and "collapse" in str(r.summary).lower()
    assert "mode collapse" in str(r.fix)
    assert check_diversity(same).verdict == "fail"                    # no real data: the absolute rule


def test_diversity_fails_when_each_class_is_one_image(digits):
    # one fixed image per class: the overall spread looks fine, the per-class spread is zero
    labels = torch.arange(10).repeat(8)
    protos = torch.stack([digits.images[digits.labels == c][0] for c in range(10)])
    r = check_diversity(protos[labels], digits.images[:600], labels, digits.labels[:600], digits.class_names)
    assert r.numbers["pairwise_ratio"] > 0.5
    assert r.verdict == "fail" and r.numbers["min_class_ratio"] < 0.01


def test_diversity_fails_for_a_model_that_ignores_the_noise(digits):
    """A network that always steers DDIM onto the same image, whatever x_T."""
    d = GaussianDiffusion(DiffusionConfig("linear", 100))
    target = digits.images[:1, :, ::2, ::2].contiguous()              # (1, 1, 8, 8)

    def fn(x_t, t, y):                                                 # ε̂ that makes x̂_0 = target
        sa = d.sqrt_alphas_cumprod[t].view(-1, 1, 1, 1)
        s1 = d.sqrt_one_minus_alphas_cumprod[t].view(-1, 1, 1, 1)
        return (x_t - sa * target) / s1

    batch = draw_samples(Wrapper(fn), d, mode_settings(True, d.T, n=16, steps=10), seed=3)
    real8 = digits.images[:300, :, ::2, ::2]
    r = check_diversity(batch.images, real8)
    assert r.verdict == "fail", r.summary


# ---------------------------------------------------------------------------------------------- performance
def test_performance_numbers_are_sane():
    d = GaussianDiffusion(DiffusionConfig("linear", 100))
    r = check_performance(tiny_unet(), d, batch=8, memory_batch_sizes=(1, 8), repeats=1, ddim_steps=10)
    n = r.numbers
    assert r.verdict in ("ok", "warn")
    assert 0 < n["seconds_per_call_batch1"] < 10 and 0 < n["seconds_per_call_batch"] < 10
    assert n["ddpm_seconds_per_batch"] == pytest.approx(100 * n["seconds_per_call_batch"])
    assert n["ddim_seconds_per_batch"] == pytest.approx(10 * n["seconds_per_call_batch"])
    mem = n["memory_by_batch"]
    assert [m["batch"] for m in mem] == [1, 8] and 0 < mem[0]["bytes"] < mem[1]["bytes"]
    assert "estimate" in str(n["memory_method"])
    assert [row["steps"] for row in n["steps_table"]] == [10, 50, 100]


def test_performance_suggests_ddim_when_ddpm_is_slow():
    d = GaussianDiffusion(DiffusionConfig("linear", 100))
    slow = check_performance(tiny_unet(), d, batch=2, memory_batch_sizes=(1,), repeats=1,
                             thresholds=Thresholds(projected_seconds_warn=0.0))
    assert slow.verdict == "warn" and "DDIM" in str(slow.fix)
    fast = check_performance(tiny_unet(), d, batch=2, memory_batch_sizes=(1,), repeats=1,
                             thresholds=Thresholds(projected_seconds_warn=1e9))
    assert fast.verdict == "ok" and fast.fix is None


# ------------------------------------------------------------------------------------------------ quality
class FakeExtractor:
    name, dataset, image_size, in_channels, num_classes = "mnist-cnn-64", "mnist", 28, 1, 10


def test_quality_skips_when_the_feature_net_does_not_fit(digits):
    data = {"name": "digits", "image_size": 16, "channels": 1}
    reason = feature_net_mismatch(FakeExtractor(), data)
    assert "mnist" in str(reason) and "digits" in str(reason)
    r = check_sample_quality(digits.images[:10], None, digits, None, FakeExtractor(), data=data)
    assert r.verdict == "skip" and "mnist" in str(r.summary) and not r.numbers
    other = FakeExtractor()
    other.dataset, other.image_size = "digits", 8
    assert "8×8" in str(feature_net_mismatch(other, data))


def test_quality_on_real_images_is_near_its_floor(digits):
    ext = features.load_feature_net()
    train, held = digits.split(0.2, seed=0)
    fake, fake_labels = held.images[:200], held.labels[:200]
    r = check_sample_quality(fake, fake_labels, train, held, ext,
                             data={"name": "digits", "image_size": 16, "channels": 1})
    assert r.verdict == "ok", r.summary
    assert r.n == 200 and r.numbers["conditional_accuracy"] > 0.8
    assert "n=200" in str(r.numbers["captions"]["fid"]) and ext.name in str(r.numbers["captions"]["fid"])
    # unseen real images are "at the floor": within 2σ of it, σ its spread across independent draws
    sigma = r.numbers["fid_floor_std"]
    assert sigma > 0 and any(str(n).startswith("at the floor: FID") for n in r.notes), r.notes
    assert abs(r.numbers["fid_matched"] - r.numbers["fid_floor"]) <= 2 * sigma


def test_quality_warns_on_visibly_noisy_images_at_the_floors_n(digits):
    # σ = 0.3 pixel noise is plain to see on a digit; it scores FID ≈ 3.9 at n = 359, which the old
    # fid_abs_ok = 5 let through (measurements in thresholds.py)
    train, held = digits.split(0.2, seed=0)
    noise = torch.randn(held.images.shape, generator=torch.Generator().manual_seed(0))
    noisy = (held.images + 0.3 * noise).clamp(-1, 1)
    r = check_sample_quality(noisy, held.labels, train, held, features.load_feature_net(),
                             data={"name": "digits", "image_size": 16, "channels": 1})
    assert r.verdict == "warn" and "its floor" in str(r.summary), r.summary
    assert r.numbers["fid_matched"] > r.numbers["fid_floor"] + 2 * r.numbers["fid_floor_std"]   # beyond its noise
    assert not any(str(n).startswith("at the floor") for n in r.notes)
    assert any("real-vs-real floor is the FID of" in str(n) and "never seen" in str(n) for n in r.notes)


# ------------------------------------------------------------------------------------------- memorisation
def test_nearest_distances_find_the_closest_image():
    pool = torch.zeros(3, 1, 2, 2)
    pool[1] += 1.0
    pool[2] -= 1.0
    d, idx = nearest_distances(torch.full((2, 1, 2, 2), 0.9), pool, chunk=1)
    assert idx.tolist() == [1, 1] and d.tolist() == pytest.approx([0.2, 0.2])


def test_memorisation_flags_a_generator_that_returns_training_images(digits):
    train, held = digits.split(0.2, seed=0)
    r = check_memorisation(train.images[:64], train.images, held.images)
    assert r.verdict == "warn" and "copy" in str(r.summary) and r.fix
    assert r.numbers["nn_ratio"] == pytest.approx(0.0, abs=1e-6) and r.numbers["frac_near_copies"] == 1.0
    assert r.numbers["closest"][0]["distance"] == pytest.approx(0.0, abs=1e-6)
    # copies under a little noise are still copies (σ = 0.1: half the distance a new real image keeps)
    noisy = (train.images[:64] + 0.1 * torch.randn(64, 1, 16, 16, generator=torch.Generator().manual_seed(0)))
    assert check_memorisation(noisy.clamp(-1, 1), train.images, held.images).verdict == "warn"


def test_memorisation_ok_for_new_real_images_and_skips_without_a_heldout_split(digits):
    train, held = digits.split(0.2, seed=0)
    r = check_memorisation(held.images[::2], train.images, held.images[1::2])
    assert r.verdict == "ok", r.summary
    assert 0.8 < r.numbers["nn_ratio"] < 1.25 and r.numbers["frac_near_copies"] < 0.05
    assert r.numbers["heldout_frac_near_copies"] == pytest.approx(0.01, abs=0.01)
    skipped = check_memorisation(held.images, train.images, None, real_reason="no data here")
    assert skipped.verdict == "skip" and "no data here" in str(skipped.summary)


def test_one_holdout_rule_read_from_the_checkpoints_record(digits):
    assert recorded_holdout({"holdout": 0.3, "split_seed": 1, "num_images": 1258}) == (0.3, 1)
    default = (DEFAULT_HOLDOUT, DEFAULT_SPLIT_SEED)                   # older records, or trained on every image
    assert recorded_holdout(None) == recorded_holdout({}) == recorded_holdout({"holdout": 0.0}) == default
    for bad in ({"holdout": "abc"}, {"holdout": 1.5}, {"holdout": -0.2}, {"holdout": 0.2, "split_seed": "x"}):
        with pytest.raises(ValueError, match="hold"):
            recorded_holdout(bad)
    train, held = digits.split_as_recorded({"holdout": 0.3, "split_seed": 1})
    ref_train, ref_held = digits.split(0.3, seed=1)
    assert torch.equal(train.images, ref_train.images) and torch.equal(held.labels, ref_held.labels)
    damaged = split_real_data(digits, {"holdout": 1.5})
    assert damaged.heldout is None and "(0, 1)" in str(damaged.notes[0])


def test_split_real_data_follows_the_checkpoint(digits):
    s = split_real_data(digits, {"holdout": 0.2, "split_seed": 0, "num_images": 1438})
    assert (len(s.reference), len(s.heldout)) == (1438, 359) and not s.heldout_seen and not s.notes
    old = split_real_data(digits, {"num_images": len(digits)})          # an older checkpoint: trained on all
    assert old.heldout_seen and "every image" in str(old.notes[0])
    assert split_real_data(digits, {"holdout": 0.0}).heldout_seen
    other = split_real_data(digits, {"holdout": 0.3, "split_seed": 1, "num_images": 1258})
    assert len(other.heldout) == len(digits) - 1258 and not other.heldout_seen and not other.notes
