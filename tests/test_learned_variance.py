"""Improved DDPM's learned variance (Nichol & Dhariwal 2021): the U-Net's extra output, eq. 15 in the DDPM step
against diffusers' DDPMScheduler(variance_type="learned_range") in float64, the hybrid loss and its stop-gradient,
importance-sampled t, guidance, checkpoints (old ones unchanged, resume refusals), the CLI end to end and the
diffusers export / import.
"""
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import ddpm
from ddpm import DiffusionConfig, GaussianDiffusion, SamplingDefaults, UNet, UNetConfig, load_checkpoint
from ddpm.checkpoint import CheckpointError, load_train_state, save_checkpoint
from ddpm.coefficients import learned_range_log_variance, split_variance
from ddpm.samplers import DDPMSampler
from ddpm.sampling import GuidedModel, generate, initial_noise
from ddpm.train import TrainConfig, main, train
from ddpm.vlb_loss import HYBRID_LAMBDA, ImportanceTimesteps, training_losses
from ddpm.likelihood import vlb_term_bpd

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel

F64 = torch.float64
PREDICTION_TYPE = {"eps": "epsilon", "x0": "sample", "v": "v_prediction"}
SHAPE = (3, 2, 4, 4)                                        # C = 2 image channels, so the output has 4
SMALL = dict(data="digits", image_size=8, preset="tiny", base_channels=16, batch_size=16, sample_every=0, T=50,
             log_every=1, save_every=0)


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _diffusers_pair(schedule, objective, clip, T=1000):
    d = GaussianDiffusion(DiffusionConfig(schedule=schedule, T=T, objective=objective), dtype=F64)
    theirs = DDPMScheduler(num_train_timesteps=T, trained_betas=d.float64["betas"].numpy(),
                           variance_type="learned_range", clip_sample=clip, prediction_type=PREDICTION_TYPE[objective])
    b = d.float64["betas"]                      # their float32 tables replaced by float64 ones (as tests/test_samplers)
    theirs.betas, theirs.alphas, theirs.alphas_cumprod = b, 1 - b, torch.cumprod(1 - b, 0)
    theirs.one = torch.tensor(1.0, dtype=F64)
    return DDPMSampler(d, variance="learned_range", clip_denoised=clip), theirs


@pytest.mark.parametrize("schedule,objective,clip", [("linear", "eps", True), ("cosine", "v", False),
                                                     ("linear", "x0", False)])
def test_learned_range_step_matches_diffusers(schedule, objective, clip):
    ours, theirs = _diffusers_pair(schedule, objective, clip)
    for i, t in enumerate([999, 998, 500, 2, 1, 0]):          # the first step, the middle, the last steps
        g = torch.Generator().manual_seed(i)
        model_out = torch.randn(SHAPE[0], 2 * SHAPE[1], *SHAPE[2:], generator=g, dtype=F64)
        model_out[:, SHAPE[1]:] *= 1.5                        # v beyond [−1, 1] too: eq. 15 is not clamped
        x_t = torch.randn(SHAPE, generator=g, dtype=F64) * 1.5
        ref = theirs.step(model_out, t, x_t, generator=torch.Generator().manual_seed(100 + i))
        noise = torch.randn(SHAPE, generator=torch.Generator().manual_seed(100 + i), dtype=F64)   # their draw
        got = ours.step(model_out, t, t - 1, x_t, noise)
        torch.testing.assert_close(got.pred_xstart, ref.pred_original_sample, rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(got.prev_sample, ref.prev_sample, rtol=1e-10, atol=1e-10)


def test_learned_range_chain_of_all_steps_matches_diffusers():
    """1000 steps chained, each fed its own output, with a toy network whose v depends on x_t and t."""
    ours, theirs = _diffusers_pair("linear", "eps", True)
    net = lambda x, t: torch.cat([0.3 * x + 0.1 * math.sin(t / 50), torch.tanh(x + t / 1000)], 1)
    x = x_ref = torch.randn(SHAPE, generator=torch.Generator().manual_seed(7), dtype=F64)
    for t in range(999, -1, -1):
        noise = torch.randn(SHAPE, generator=torch.Generator().manual_seed(t), dtype=F64)
        x = ours.step(net(x, t), t, t - 1, x, noise).prev_sample
        x_ref = theirs.step(net(x_ref, t), t, x_ref, generator=torch.Generator().manual_seed(t)).prev_sample
    torch.testing.assert_close(x, x_ref, rtol=1e-9, atol=1e-9)


def test_eq15_interpolates_between_the_two_fixed_variances():
    d = GaussianDiffusion(DiffusionConfig(T=100), dtype=F64)
    c = d.coefficients.at(40)
    v = torch.tensor([-1.0, 0.0, 1.0], dtype=F64)
    logs = learned_range_log_variance(v, math.log(c.beta), c.posterior_log_variance_clipped)
    expected = [math.log(c.posterior_variance), 0.5 * (math.log(c.beta) + math.log(c.posterior_variance)),
                math.log(c.beta)]
    np.testing.assert_allclose(logs.numpy(), expected, rtol=1e-12)


# ---------------------------------------------------------------------------------------------- the network
def _learned_unet(seed=0, **kw):
    torch.manual_seed(seed)
    cfg = UNetConfig(image_size=8, in_channels=1, base_channels=16, channel_mult=(1, 2), attention_resolutions=(4,),
                     learn_sigma=True, **kw)
    model = UNet(cfg).eval()
    with torch.no_grad():                        # the output conv starts at zero; give it weights so v is not 0
        model.out_conv.weight.normal_(0, 0.05)
        model.out_conv.bias.normal_(0, 0.2)
    return model


def test_unet_outputs_2c_channels_and_the_config_says_so_only_when_learned():
    model = _learned_unet()
    x = torch.randn(2, 1, 8, 8)
    assert model(x, torch.tensor([3, 4])).shape == (2, 2, 8, 8)
    assert model.config.to_dict()["learn_sigma"] is True
    fixed = UNetConfig(image_size=8, in_channels=1, base_channels=16, channel_mult=(1, 2), attention_resolutions=(4,))
    assert "learn_sigma" not in fixed.to_dict() and UNet(fixed)(x, torch.tensor([3, 4])).shape == x.shape


def test_bundled_checkpoint_loads_unchanged():
    ck = load_checkpoint(Path(__file__).resolve().parents[1] / "checkpoints" / "digits_tiny.safetensors")
    assert "learn_sigma" not in ck.meta["model"] and ck.unet_config.to_dict() == ck.meta["model"]
    assert not ck.unet_config.learn_sigma and ck.sampling_defaults.variance == "fixed_small"
    x = torch.randn(2, 1, 16, 16)
    assert ck.model(x, torch.tensor([5, 900]), torch.tensor([1, 2])).shape == x.shape
    with pytest.raises(ValueError, match="learned_range' needs a model that learns its variance"):
        generate(ck.model, ck.diffusion, sampler="ddpm", variance="learned_range", n=1, labels=[0])


def test_ddpm_uses_v_and_ddim_solvers_ignore_it(tmp_path):
    model = _learned_unet()
    path = tmp_path / "learned.safetensors"
    save_checkpoint(path, model=model, ema_model=None, diffusion_config=DiffusionConfig(T=20), class_names=[], step=0)
    ck = load_checkpoint(path)
    assert ck.unet_config.learn_sigma and ck.sampling_defaults.variance == "learned_range"
    other = _learned_unet()
    with torch.no_grad():                        # the same mean output, another v
        other.load_state_dict(ck.model.state_dict())
        other.out_conv.bias[1:] += 0.5
    run = lambda m, **kw: generate(m, ck.diffusion, n=3, seed=1, **kw).images
    assert not torch.equal(run(ck.model, sampler="ddpm"), run(other, sampler="ddpm"))
    assert torch.equal(run(ck.model, sampler="ddpm", variance="fixed_small"),
                       run(other, sampler="ddpm", variance="fixed_small"))
    for name in ("ddim", "dpmpp_2m", "unipc"):
        assert torch.equal(run(ck.model, sampler=name, steps=5), run(other, sampler=name, steps=5)), name


def test_guidance_moves_the_mean_and_keeps_the_conditional_v():
    def net(x, t, y):                            # mean = y, v = 10·y: cond label 3, null label 5
        y = y.to(x.dtype).view(-1, 1, 1, 1)
        return torch.cat([x * 0 + y, x * 0 + 10 * y], 1)
    net.config = UNetConfig(image_size=8, in_channels=1, num_classes=5, learn_sigma=True)
    d = GaussianDiffusion(DiffusionConfig(T=10))
    x = torch.zeros(2, 1, 8, 8)
    out = GuidedModel(net, d, torch.tensor([3, 3]), guidance_scale=3.0)(x, torch.tensor([4, 4]))
    mean, v = split_variance(out, x)
    assert torch.allclose(mean, torch.full_like(mean, 5 + 3 * (3 - 5)))       # ε_∅ + w (ε_y − ε_∅)
    assert torch.allclose(v, torch.full_like(v, 30.0))                        # the conditional pass's v


# ---------------------------------------------------------------------------------------------- losses
def _loss_setup(objective="eps"):
    d = GaussianDiffusion(DiffusionConfig(T=100, objective=objective))
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand(6, 1, 4, 4, generator=g) * 2 - 1
    t = torch.tensor([0, 1, 10, 50, 98, 99])
    noise = torch.randn(x0.shape, generator=g)
    out = torch.randn(6, 2, 4, 4, generator=g).requires_grad_(True)            # the network's output, a leaf
    return d, x0, t, noise, out


@pytest.mark.parametrize("objective", ["eps", "v"])
def test_hybrid_loss_value_and_stop_gradient(objective):
    d, x0, t, noise, out = _loss_setup(objective)
    terms = training_losses(d, lambda *a: out, x0, t, None, noise, "mse", "min_snr")
    (grad,) = torch.autograd.grad(terms.loss.sum(), out)
    simple = d.simple_loss(out[:, :1], x0, noise, t, "mse", "min_snr")
    (simple_grad,) = torch.autograd.grad(simple.sum(), out)
    x_t = d.q_sample(x0, t, noise)
    vlb = vlb_term_bpd(d, out.detach(), x0, x_t, t, variance="learned_range", clip_denoised=False)
    torch.testing.assert_close(terms.loss.detach(), simple.detach() + HYBRID_LAMBDA * 100 * vlb)
    # the VLB term gives the mean output no gradient at all: its gradient is exactly L_simple's
    assert torch.equal(grad[:, :1], simple_grad[:, :1])
    assert simple_grad[:, 1:].abs().max() == 0 and grad[:, 1:].abs().min() > 0   # v is trained by the VLB alone


def test_pure_vlb_trains_the_mean_too_and_weights_by_importance():
    d, x0, t, noise, out = _loss_setup()
    w = torch.tensor([1.0, 2.0, 0.5, 1.0, 3.0, 1.0])
    terms = training_losses(d, lambda *a: out, x0, t, None, noise, "vlb", importance=w)
    (grad,) = torch.autograd.grad(terms.loss.sum(), out)
    assert grad[:, :1].abs().max() > 0 and grad[:, 1:].abs().max() > 0
    torch.testing.assert_close(terms.loss.detach(), 100 * terms.vlb * w)
    fixed_out = out[:, :1].detach().clone().requires_grad_(True)   # a fixed-variance network: the bound with β̃_t
    fixed = training_losses(d, lambda *a: fixed_out, x0, t, None, noise, "vlb")
    x_t = d.q_sample(x0, t, noise)
    torch.testing.assert_close(fixed.vlb, vlb_term_bpd(d, fixed_out.detach(), x0, x_t, t, variance="fixed_small",
                                                       clip_denoised=False))
    (g_fixed,) = torch.autograd.grad(fixed.loss.sum(), fixed_out)
    assert torch.isfinite(g_fixed).all() and g_fixed.abs().max() > 0
    with pytest.raises(ValueError, match="learns its variance.*vlb_loss.training_losses"):
        d.training_losses(lambda *a: out, x0, t, None, noise)


def test_importance_sampler_uniform_until_filled_then_second_moment():
    T, hist = 6, 10
    s = ImportanceTimesteps(T, history=hist)
    g = torch.Generator().manual_seed(0)
    for k in range(hist):                        # every t but the last gets its 10 values: still uniform
        s.update(torch.arange(T - 1), torch.full((T - 1,), float(k)))
        assert torch.equal(s.probabilities(), torch.full((T,), 1 / T, dtype=F64))
    losses = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    for _ in range(hist + 3):                    # old values roll out: the history ends all `losses`
        s.update(torch.arange(T), losses)
    assert s.warmed_up and torch.equal(s.losses[:, 0], losses.double())
    p = s.probabilities()
    expected = losses.double() / losses.sum() * (1 - 0.001) + 0.001 / T          # √E[L²] = L for constant L
    torch.testing.assert_close(p, expected, rtol=1e-12, atol=0)
    t, w = s.sample(200_000, g)
    freq = torch.bincount(t, minlength=T).double() / len(t)
    assert (freq - p).abs().max() < 0.005
    torch.testing.assert_close(w.double(), 1 / (T * p[t]), rtol=1e-6, atol=0)
    # unbiased: E[w · L_t] = (1/T) Σ_t L_t
    assert float((w.double() * losses.double()[t]).mean()) == pytest.approx(float(losses.mean()), rel=0.01)
    restored = ImportanceTimesteps(T, history=hist)
    restored.load_state_dict(s.state_dict())
    assert torch.equal(restored.probabilities(), p)


# ---------------------------------------------------------------------------------------------- training
def test_cli_learn_sigma_trains_samples_and_resume_refuses_the_other_variance(tmp_path, capsys):
    out = tmp_path / "learned"
    assert main(["--data", "digits", "--image-size", "8", "--base-channels", "16", "--batch-size", "16",
                 "--steps", "3", "--T", "50", "--sample-every", "0", "--save-every", "0", "--learn-sigma",
                 "--out", str(out), "--quiet"]) == 0
    ck = load_checkpoint(out / "model.safetensors")
    assert ck.meta["model"]["learn_sigma"] is True and ck.sampling_defaults.variance == "learned_range"
    res = generate(ck.model, ck.diffusion, sampler="ddpm", n=2, labels=[1, 2])
    assert res.settings["variance"] == "learned_range" and torch.isfinite(res.images).all()
    with pytest.raises(CheckpointError, match=r"learns its variance.*resume with --learn-sigma"):
        train(TrainConfig(out=str(tmp_path / "b"), steps=6, resume=str(out / "last.safetensors"), **SMALL))
    fixed = train(TrainConfig(out=str(tmp_path / "fixed"), steps=2, **SMALL)).checkpoint
    with pytest.raises(CheckpointError, match=r"has a fixed variance.*resume with --no-learn-sigma"):
        train(TrainConfig(out=str(tmp_path / "c"), steps=4, resume=fixed, learn_sigma=True, **SMALL))


def test_vlb_objective_saves_and_resumes_its_loss_history(tmp_path):
    cfg = dict(SMALL, loss="vlb", learn_sigma=True, out=str(tmp_path / "vlb"))
    first = train(TrainConfig(steps=3, **cfg))
    saved = load_train_state(first.checkpoint)["tensors"]
    assert int(saved["vlb_counts"].sum()) == 3 * 16                  # one L_t per sample so far
    resumed = train(TrainConfig(steps=4, resume="auto", **cfg))
    state = load_train_state(resumed.checkpoint)["tensors"]
    assert int(state["vlb_counts"].sum()) == 4 * 16 and math.isfinite(resumed.final_loss)


# ---------------------------------------------------------------------------------------------- diffusers
def test_diffusers_export_and_import_of_a_learned_variance(tmp_path):
    model = _learned_unet(num_classes=3)
    src = tmp_path / "learned.safetensors"
    save_checkpoint(src, model=model, ema_model=None, diffusion_config=DiffusionConfig(T=20), class_names=list("abc"),
                    step=0)
    folder = ddpm.export_diffusers(src, tmp_path / "exported")
    pipe = DDPMPipeline.from_pretrained(folder)
    assert pipe.unet.config.out_channels == 2 and pipe.scheduler.config.variance_type == "learned_range"
    x, t, y = torch.randn(4, 1, 8, 8), torch.tensor([0, 5, 10, 19]), torch.tensor([0, 1, 2, 3])
    with torch.no_grad():
        assert (model(x, t, y) - pipe.unet(x, t, class_labels=y).sample).abs().max() <= 1e-4
    back = load_checkpoint(folder)
    assert back.unet_config.learn_sigma and back.sampling_defaults.variance == "learned_range"
    # the whole DDPM loop: ours on the loaded folder against diffusers' own scheduler, the same noise draws
    x_T = initial_noise(4, (1, 8, 8), seed=3)
    ours = generate(back.model, back.diffusion, sampler="ddpm", n=4, labels=[0, 1, 2, 0], seed=3, x_T=x_T)
    g = torch.Generator().manual_seed(3 * 1_000_003 + 1)              # generate's per-batch step-noise generator
    labels = torch.tensor([0, 1, 2, 0])
    x = x_T.clone()
    with torch.no_grad():
        for step in pipe.scheduler.timesteps:
            x = pipe.scheduler.step(pipe.unet(x, step, class_labels=labels).sample, step, x, generator=g).prev_sample
    assert (ours.images - x.clamp(-1, 1)).abs().max() <= 1e-4


def test_a_diffusers_learned_range_model_loads(tmp_path):
    unet = UNet2DModel(sample_size=8, in_channels=1, out_channels=2, block_out_channels=(16, 32), layers_per_block=1,
                       down_block_types=("DownBlock2D", "AttnDownBlock2D"), up_block_types=("AttnUpBlock2D", "UpBlock2D"),
                       norm_num_groups=8, attention_head_dim=8)
    DDPMPipeline(unet=unet, scheduler=DDPMScheduler(num_train_timesteps=30, variance_type="learned_range")) \
        .save_pretrained(tmp_path / "pipe")
    ck = load_checkpoint(tmp_path / "pipe")
    assert ck.unet_config.learn_sigma and ck.sampling_defaults.variance == "learned_range"
    res = generate(ck.model, ck.diffusion, sampler="ddpm", n=2)
    assert res.settings["variance"] == "learned_range" and res.images.shape == (2, 1, 8, 8)
    assert generate(ck.model, ck.diffusion, sampler="ddim", steps=5, n=2).images.shape == (2, 1, 8, 8)
