"""Tests for ddpm.sampling: reproducible seeds, a shared x_T across samplers, classifier-free and classifier
guidance, batching, trajectories, progress and the errors. A small random U-Net and T = 50 keep it fast."""
import pytest
import torch

from ddpm.diffusion import DiffusionConfig, GaussianDiffusion
from ddpm.samplers import DDIMSampler, make_sampler
from ddpm.sampling import MAX_SAMPLES, GuidedModel, generate, initial_noise, sample_loop


T = 50
NUM_CLASSES = 4


@pytest.fixture(scope="module")
def cond(random_unet):
    return random_unet(NUM_CLASSES)


@pytest.fixture(scope="module")
def uncond(random_unet):
    return random_unet(0, seed=1)


@pytest.fixture(scope="module")
def diffusion():
    return GaussianDiffusion(DiffusionConfig(schedule="linear", T=T))


def test_same_seed_same_images(cond, diffusion):
    for kw in (dict(sampler="ddpm"), dict(sampler="ddim", steps=10, eta=0.5)):
        a = generate(cond, diffusion, n=3, labels=[0, 1, 2], seed=7, **kw)
        b = generate(cond, diffusion, n=3, labels=[0, 1, 2], seed=7, **kw)
        assert torch.equal(a.images, b.images), kw
        c = generate(cond, diffusion, n=3, labels=[0, 1, 2], seed=8, **kw)
        assert not torch.equal(a.images, c.images), kw
        assert a.images.shape == (3, 1, 8, 8) and a.images.abs().max() <= 1
        assert a.labels.tolist() == [0, 1, 2]


def test_samplers_share_x_T(cond, diffusion):
    runs = [generate(cond, diffusion, n=2, labels=[1], sampler="ddpm", seed=11),
            generate(cond, diffusion, n=2, labels=[1], sampler="ddim", steps=5, seed=11),
            generate(cond, diffusion, n=2, labels=[1], sampler="ddim", steps=20, eta=1.0, seed=11, max_batch=1)]
    # recomputed here: x_T = N(0, I) drawn on the CPU from torch.Generator().manual_seed(seed)
    want = torch.randn((2, 1, 8, 8), generator=torch.Generator().manual_seed(11))
    for r in runs:
        assert torch.equal(r.x_T, want)
    assert torch.equal(initial_noise(2, (1, 8, 8), 11, temperature=0.5), want * 0.5)
    assert torch.equal(generate(cond, diffusion, n=2, labels=[1], steps=5, seed=11, temperature=0.5).x_T, want * 0.5)
    assert not torch.equal(runs[0].images, runs[1].images)


def _manual_ddim(model_fn, diffusion, x_T, steps=10):
    """The deterministic DDIM loop written out here, to compare generate() against."""
    smp = DDIMSampler(diffusion, steps=steps, eta=0.0)
    x = x_T
    ts = smp.timesteps
    for i, t in enumerate(ts):
        t_prev = ts[i + 1] if i + 1 < len(ts) else -1
        tt = torch.full((x.shape[0],), t, dtype=torch.long)
        with torch.no_grad():
            x = smp.step(model_fn(x, tt), t, t_prev, x, None).prev_sample
    return x.clamp(-1, 1)


def test_guidance_scale_0_is_unconditional_and_1_is_conditional(cond, diffusion):
    y = torch.tensor([0, 3, 2])
    null = torch.full_like(y, NUM_CLASSES)
    kw = dict(n=3, sampler="ddim", steps=10, seed=5)
    w0 = generate(cond, diffusion, labels=y, guidance_scale=0.0, **kw)
    unconditional = generate(cond, diffusion, labels=None, **kw)      # a conditional model asked for no label
    assert torch.equal(w0.images, unconditional.images)
    assert torch.equal(w0.images, _manual_ddim(lambda x, t: cond(x, t, null), diffusion, w0.x_T))
    w1 = generate(cond, diffusion, labels=y, guidance_scale=1.0, **kw)
    assert torch.equal(w1.images, _manual_ddim(lambda x, t: cond(x, t, y), diffusion, w1.x_T))
    assert not torch.equal(w0.images, w1.images)
    # w = 3: ε_∅ + w(ε_y − ε_∅) from two separate passes (generate runs one doubled batch, so allclose)
    w3 = generate(cond, diffusion, labels=y, guidance_scale=3.0, **kw)

    def cfg(x, t):
        e_y, e_null = cond(x, t, y), cond(x, t, null)
        return e_null + 3.0 * (e_y - e_null)

    # float32 kernels differ in the last bits with the batch size; 10 steps amplify that to ~1e-5
    torch.testing.assert_close(w3.images, _manual_ddim(cfg, diffusion, w3.x_T), rtol=1e-3, atol=1e-4)
    assert w3.network_calls == 10 and w3.settings["guidance_scale"] == 3.0


def test_batching(cond, diffusion):
    kw = dict(sampler="ddim", steps=5, seed=2, labels=[0, 1, 2])
    full = generate(cond, diffusion, n=7, max_batch=256, **kw)
    split = generate(cond, diffusion, n=7, max_batch=3, **kw)
    assert split.images.shape == (7, 1, 8, 8) and split.labels.tolist() == [0, 1, 2, 0, 1, 2, 0]
    # η = 0 is deterministic given x_T, so the batch size must not change the images (beyond float32 kernel
    # differences between batch sizes, ~1e-5 after 5 steps)
    torch.testing.assert_close(split.images, full.images, rtol=1e-3, atol=1e-4)
    cfg = generate(cond, diffusion, n=5, max_batch=2, guidance_scale=2.0, **kw)   # doubled batch: 1 image/pass
    assert cfg.images.shape == (5, 1, 8, 8)
    ddpm = generate(cond, diffusion, n=5, max_batch=2, sampler="ddpm", labels=[3])
    assert ddpm.images.shape == (5, 1, 8, 8) and torch.isfinite(ddpm.images).all()
    with pytest.raises(ValueError, match="max_batch must be >= 1"):
        generate(cond, diffusion, n=2, max_batch=0, **kw)


def test_trajectory(cond, diffusion):
    res = generate(cond, diffusion, n=2, labels=[1, 2], sampler="ddim", steps=10, seed=4, trajectory_frames=4)
    tr = res.trajectory
    assert len(tr.timesteps) == 4
    assert tr.timesteps[0] == res.timesteps[0] == T - 1 and tr.timesteps[-1] == res.timesteps[-1]
    assert all(a > b for a, b in zip(tr.timesteps, tr.timesteps[1:])) and set(tr.timesteps) <= set(res.timesteps)
    assert tr.x_t.shape == (4, 2, 1, 8, 8) and tr.pred_xstart.shape == (4, 2, 1, 8, 8)
    assert torch.equal(tr.x_t[0], res.x_T)                 # the first frame is the sample entering step T−1
    # x̂_0 at the first frame, recomputed from the model (unclipped, as documented)
    tt = torch.full((2,), T - 1, dtype=torch.long)
    with torch.no_grad():
        eps = cond(res.x_T, tt, torch.tensor([1, 2]))
    torch.testing.assert_close(tr.pred_xstart[0], diffusion.predict_xstart_from_eps(res.x_T, tt, eps))
    every = generate(cond, diffusion, n=2, labels=[1], sampler="ddim", steps=10, trajectory_frames=99)
    assert every.trajectory.timesteps == every.timesteps
    chosen = generate(cond, diffusion, n=3, labels=[1], sampler="ddim", steps=10, capture_steps=[49, 4],
                      max_batch=2)
    assert chosen.trajectory.timesteps == [49, 4] and chosen.trajectory.x_t.shape == (2, 3, 1, 8, 8)
    assert generate(cond, diffusion, n=1, labels=[1], steps=2).trajectory is None


def test_progress_callback_and_training_mode_restored(cond, diffusion):
    seen = []
    cond.train()
    try:
        generate(cond, diffusion, n=3, labels=[0], sampler="ddim", steps=4, max_batch=2,
                 callback=lambda done, total: seen.append((done, total)))
        assert cond.training
    finally:
        cond.eval()
    assert seen == [(i, 8) for i in range(1, 9)]      # 2 batches × 4 steps


def test_unconditional_model(uncond, diffusion):
    res = generate(uncond, diffusion, n=2, sampler="ddim", steps=5)
    assert res.labels is None and res.images.shape == (2, 1, 8, 8)


class _ToyClassifier(torch.nn.Module):
    """log p(y | x) ∝ −‖x − c_y‖²/2 with c_y = y/2: its gradient wrt x is c_y − x (known in closed form)."""

    def __init__(self):
        super().__init__()
        self.config = type("Cfg", (), dict(num_classes=NUM_CLASSES, image_size=8, in_channels=1))()

    def forward(self, x, t):
        centres = torch.arange(NUM_CLASSES, dtype=x.dtype).view(1, -1) / 2
        return -0.5 * ((x.flatten(1).unsqueeze(1) - centres.unsqueeze(-1)) ** 2).sum(-1)   # (B, classes)


def test_classifier_guidance_formula(cond, diffusion):
    y = torch.tensor([1, 3])
    x = torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    t = torch.tensor([40, 10])
    s = 2.5
    guided = GuidedModel(cond, diffusion, y, 1.0, _ToyClassifier(), s)(x, t)
    with torch.no_grad():
        eps = cond(x, t, y)
    # ∇_x log p(y|x) = c_y − x + ∇ log Z, and ∇ log Z = Σ_k p(k|x)(x − c_k) (softmax normaliser), computed here
    logits = _ToyClassifier()(x, t)
    p = torch.softmax(logits, -1)
    centres = torch.arange(NUM_CLASSES, dtype=x.dtype) / 2
    c_y = centres[y].view(-1, 1, 1, 1)
    mean_c = (p * centres).sum(-1).view(-1, 1, 1, 1)
    grad = c_y - mean_c
    ab = torch.cumprod(1 - torch.linspace(1e-4 * 20, 0.02 * 20, T, dtype=torch.float64), 0)   # T=50 rescaling
    sqrt_1m = (1 - ab[t]).sqrt().float().view(-1, 1, 1, 1)
    torch.testing.assert_close(guided, eps - s * sqrt_1m * grad, rtol=1e-4, atol=1e-5)
    # through generate: scale 0 with a classifier equals no classifier
    kw = dict(n=2, labels=[1, 3], sampler="ddim", steps=5, seed=1)
    base = generate(cond, diffusion, **kw)
    assert torch.equal(generate(cond, diffusion, classifier=_ToyClassifier(), classifier_scale=0.0, **kw).images,
                       base.images)
    assert not torch.equal(generate(cond, diffusion, classifier=_ToyClassifier(), classifier_scale=5.0,
                                    **kw).images, base.images)


def test_errors(cond, uncond, diffusion):
    cases = [
        (dict(model=cond, steps=0), r"steps must be an integer in \[1, T=50\]"),
        (dict(model=cond, steps=T + 1), r"steps must be an integer in \[1, T=50\]"),
        (dict(model=cond, sampler="ddpm", steps=10), "DDPM runs all T=50 steps"),
        (dict(model=cond, eta=-0.5), r"eta must be in \[0, 1\]"),
        (dict(model=cond, eta=1.01), r"eta must be in \[0, 1\]"),
        (dict(model=cond, labels=[NUM_CLASSES]), r"label 4 is outside this model's classes 0..3"),
        (dict(model=cond, labels=[-1]), r"label -1 is outside"),
        (dict(model=uncond, labels=[0]), "this model is unconditional"),
        (dict(model=uncond, guidance_scale=3.0), "classifier-free guidance needs a class-conditional model"),
        (dict(model=cond, guidance_scale=3.0), "guidance needs class labels"),
        (dict(model=cond, labels=[1], classifier_scale=1.0), "classifier_scale was set but no classifier"),
        (dict(model=cond, classifier=_ToyClassifier(), classifier_scale=1.0), "classifier guidance needs class labels"),
        (dict(model=cond, n=MAX_SAMPLES + 1), r"n must be an integer in \[1, 50000\]"),
        (dict(model=cond, n=0), r"n must be an integer in \[1, 50000\]"),
        (dict(model=cond, temperature=-1.0), "temperatures must be >= 0"),
        (dict(model=cond, sampler="plms"), "unknown sampler 'plms'"),
        (dict(model=cond, x_T=torch.zeros(3, 1, 8, 8)), r"x_T has shape \(3, 1, 8, 8\), expected \(2, 1, 8, 8\)"),
        (dict(model=cond, capture_steps=[49, 48]), r"capture_steps \[48\] are not among this sampler's 5 timesteps"),
    ]
    for kw, match in cases:
        kw = dict(dict(n=2, steps=5), **kw)
        model = kw.pop("model")
        with pytest.raises(ValueError, match=match):
            generate(model, diffusion, **kw)


def test_wrong_classifier_is_refused(cond, diffusion):
    bad = _ToyClassifier()
    bad.config.num_classes = 7
    with pytest.raises(ValueError, match="the classifier knows 7 classes but the model 4"):
        generate(cond, diffusion, n=1, labels=[0], steps=2, classifier=bad, classifier_scale=1.0)


@pytest.mark.parametrize("sampler", ["dpmpp_2m", "dpmpp_2m_sde", "unipc"])
def test_solvers_through_generate(cond, diffusion, sampler):
    """The multistep solvers in the one loop: calls, seeds, batching (state reset per batch), guidance and
    trajectories work as with DDIM."""
    kw = dict(sampler=sampler, steps=6, seed=3, labels=[0, 1, 2])
    full = generate(cond, diffusion, n=5, **kw)
    assert full.network_calls == 6 and len(full.timesteps) == 6 and full.timesteps[0] == T - 1
    assert full.settings["sampler"] == sampler and full.settings["order"] == 2 and full.settings["spacing"] == "linspace"
    assert torch.equal(full.images, generate(cond, diffusion, n=5, **kw).images)        # same seed, same images
    # one image per batch: each batch is a fresh loop (a multistep solver's memory must not carry over)
    split = generate(cond, diffusion, n=5, max_batch=1, **kw)
    if sampler != "dpmpp_2m_sde":   # the SDE draws per-batch step noise, like DDIM with η > 0
        torch.testing.assert_close(split.images, full.images, rtol=1e-3, atol=1e-4)
    # classifier-free guidance: ε_∅ + w(ε_y − ε_∅) reaches the solver as one model output
    y = torch.tensor([0, 3])
    null = torch.full_like(y, NUM_CLASSES)
    w3 = generate(cond, diffusion, n=2, labels=y, guidance_scale=3.0, sampler=sampler, steps=6, seed=1)
    smp = make_sampler(sampler, diffusion, steps=6)

    def cfg(x, t):
        e_y, e_null = cond(x, t, y), cond(x, t, null)
        return e_null + 3.0 * (e_y - e_null)
    with torch.no_grad():
        manual, _ = sample_loop(cfg, smp, w3.x_T, torch.Generator().manual_seed(1 * 1_000_003 + 1))
    torch.testing.assert_close(w3.images, manual.clamp(-1, 1), rtol=1e-3, atol=1e-4)
    tr = generate(cond, diffusion, n=2, trajectory_frames=3, **dict(kw, labels=[1])).trajectory
    assert tr.timesteps[0] == T - 1 and len(tr.timesteps) == 3 and torch.isfinite(tr.pred_xstart).all()
    kar = generate(cond, diffusion, n=2, labels=[1], sampler=sampler, steps=6, karras=True)
    assert kar.settings["karras"] is True and kar.settings["spacing"] is None and kar.network_calls == 6
    assert not torch.equal(kar.images, generate(cond, diffusion, n=2, labels=[1], sampler=sampler, steps=6).images)


def test_solver_errors_through_generate(cond, diffusion):
    with pytest.raises(ValueError, match=r"steps must be an integer in \[1, T−1=49\] with the solvers' linspace"):
        generate(cond, diffusion, n=1, sampler="unipc", steps=50)
    with pytest.raises(ValueError, match=r"order 2 needs at least 2 steps .*choose order in \[1, 1\]"):
        generate(cond, diffusion, n=1, sampler="dpmpp_2m", steps=1)
    with pytest.raises(ValueError, match=r"unknown sampler 'dpm'; choose from \['ddim', 'ddpm', 'dpmpp_2m'"):
        generate(cond, diffusion, n=1, sampler="dpm")


def test_sample_cli_solvers_progress_and_help(tmp_path, capsys):
    import json

    import numpy as np

    from ddpm.sample import build_parser, main
    out = tmp_path / "g.png"
    assert main(["--sampler", "unipc", "--steps", "4", "--n", "3", "--labels", "1,2", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "4/4" in err and "unipc" in err                         # the CLI's bar, fed by generate's callback
    saved = np.load(out.with_suffix(".npz"))
    settings = json.loads(str(saved["settings"]))
    assert settings["sampler"] == "unipc" and settings["steps"] == 4 and saved["images"].shape == (3, 1, 16, 16)
    assert main(["--sampler", "dpmpp_2m", "--steps", "3", "--karras", "--n", "2", "--quiet", "--out", str(out)]) == 0
    assert capsys.readouterr().err == ""                          # --quiet: no bar
    assert main(["--sampler", "dpmpp_2m", "--steps", "1", "--n", "1", "--out", str(out)]) == 2
    assert "error: order 2 needs at least 2 steps" in capsys.readouterr().err
    helptext = build_parser().format_help()
    for action in build_parser()._actions:
        if action.dest != "help":
            assert action.help and "%(default)" not in action.help, action.dest   # every option has help text ...
    assert helptext.count("(default:") == len(build_parser()._actions) - 1      # ... and --help shows its default


def test_sample_cli_names_guidance_as_every_tool_does_and_keeps_the_old_flag_for_now(tmp_path, capsys):
    """--guidance-scale, as `diagnostics report` and the app name it; --guidance still works for one release and
    says what to use instead."""
    from ddpm.sample import main
    args = ["--labels", "1,2", "--n", "2", "--steps", "2", "--quiet"]
    assert main(args + ["--guidance-scale", "2", "--out", str(tmp_path / "new.png")]) == 0
    new = capsys.readouterr()
    assert "deprecated" not in new.err
    assert main(args + ["--guidance", "2", "--out", str(tmp_path / "old.png")]) == 0
    err = capsys.readouterr().err
    assert "--guidance is deprecated" in err and "use --guidance-scale" in err
    import json
    import numpy as np
    a, b = (np.load(tmp_path / f"{k}.npz") for k in ("new", "old"))
    assert json.loads(str(a["settings"]))["guidance_scale"] == json.loads(str(b["settings"]))["guidance_scale"] == 2.0
    assert np.array_equal(a["images"], b["images"])
