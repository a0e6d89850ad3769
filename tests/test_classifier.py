"""Classifier guidance: the noise-aware classifier, its checkpoint, and the checks before guidance."""
import subprocess
import sys

import pytest
import torch

from ddpm import CheckpointError, DiffusionConfig, GaussianDiffusion, UNet, generate, preset_config
from ddpm.classifier import ClassifierConfig, NoisyClassifier, load_classifier
from ddpm.train_classifier import train_classifier

T = 50


@pytest.fixture(scope="module")
def diffusion():
    return GaussianDiffusion(DiffusionConfig(T=T))


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = UNet(preset_config("tiny", image_size=8, base_channels=16, num_classes=10))
    with torch.no_grad():   # the U-Net's zero-initialised output layer would make ε̂ = 0 for every input
        for p in m.parameters():
            if p.dim() > 1 and not p.any():
                p.normal_(0, 0.05)
    return m.eval()


@pytest.fixture(scope="module")
def trained_classifier(tmp_path_factory, diffusion):
    out = tmp_path_factory.mktemp("clf") / "clf.safetensors"
    res = train_classifier("digits", 8, diffusion.config, str(out), steps=60, batch_size=64, base_channels=16,
                           data_meta={"holdout": 0.3, "split_seed": 2})   # the diffusion checkpoint's record
    return out, res


def test_classifier_holds_out_the_diffusion_checkpoints_split(trained_classifier):
    path, _ = trained_classifier
    data = load_classifier(path).meta["data"]
    assert (data["holdout"], data["split_seed"]) == (0.3, 2)


def test_classifier_shapes():
    clf = NoisyClassifier(ClassifierConfig(image_size=8, num_classes=10, base_channels=16))
    logits = clf(torch.randn(5, 1, 8, 8), torch.randint(0, T, (5,)))
    assert logits.shape == (5, 10)


def test_trained_classifier_learns_clean_digits(trained_classifier):
    _, res = trained_classifier
    acc = res["heldout_accuracy_by_t"]
    assert acc["0"] > 0.5  # 10 classes: chance is 0.1; 60 steps already separate clean digits


def test_roundtrip_and_guidance_changes_samples(trained_classifier, model, diffusion):
    path, _ = trained_classifier
    clf = load_classifier(path)
    assert clf.config.num_classes == 10 and clf.diffusion_config.T == T
    base = generate(model, diffusion, sampler="ddim", steps=5, n=4, labels=[1, 2], seed=0)
    guided = generate(model, diffusion, sampler="ddim", steps=5, n=4, labels=[1, 2], seed=0,
                      classifier=clf, classifier_scale=5.0)
    zero = generate(model, diffusion, sampler="ddim", steps=5, n=4, labels=[1, 2], seed=0,
                    classifier=clf, classifier_scale=0.0)
    assert torch.equal(base.images, zero.images)           # scale 0 is no guidance at all
    assert not torch.allclose(base.images, guided.images)  # the gradient moves the samples


def test_classifier_guidance_moves_eps_by_the_scaled_gradient(trained_classifier, model, diffusion):
    """ε̂' = ε̂ − s √(1−ᾱ_t) ∇ log p(y|x_t): checked against a direct autograd computation."""
    from ddpm.sampling import GuidedModel
    clf = load_classifier(trained_classifier[0])
    x = torch.randn(3, 1, 8, 8)
    t = torch.full((3,), 20, dtype=torch.long)
    y = torch.tensor([0, 4, 9])
    s = 2.5
    out = GuidedModel(model, diffusion, y, 1.0, clf, s)(x, t)
    xg = x.clone().requires_grad_(True)
    grad = torch.autograd.grad(torch.log_softmax(clf(xg, t), -1)[torch.arange(3), y].sum(), xg)[0]
    with torch.no_grad():
        eps = model(x, t, y)
        expected = eps - s * diffusion.sqrt_one_minus_alphas_cumprod[20] * grad
    assert eps.abs().mean() > 0.05 and grad.abs().mean() > 1e-4     # both terms of the sum are really there
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6)
    # the guidance term has to be subtracted from this ε̂, not added, nor applied to a zero ε̂
    assert not torch.allclose(out, eps + s * diffusion.sqrt_one_minus_alphas_cumprod[20] * grad, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(out, -s * diffusion.sqrt_one_minus_alphas_cumprod[20] * grad, rtol=1e-5, atol=1e-6)


def test_mismatched_classifier_is_refused(model, diffusion, tmp_path):
    wrong_classes = NoisyClassifier(ClassifierConfig(image_size=8, num_classes=3, base_channels=16), diffusion.config)
    with pytest.raises(ValueError, match="classes"):
        generate(model, diffusion, steps=2, n=2, labels=[0], classifier=wrong_classes, classifier_scale=1.0)
    wrong_size = NoisyClassifier(ClassifierConfig(image_size=16, num_classes=10, base_channels=16), diffusion.config)
    with pytest.raises(ValueError, match="images"):
        generate(model, diffusion, steps=2, n=2, labels=[0], classifier=wrong_size, classifier_scale=1.0)
    other_T = NoisyClassifier(ClassifierConfig(image_size=8, num_classes=10, base_channels=16), DiffusionConfig(T=100))
    with pytest.raises(ValueError, match="schedule"):
        generate(model, diffusion, steps=2, n=2, labels=[0], classifier=other_T, classifier_scale=1.0)
    ok = NoisyClassifier(ClassifierConfig(image_size=8, num_classes=10, base_channels=16), diffusion.config)
    with pytest.raises(ValueError, match="labels"):
        generate(model, diffusion, steps=2, n=2, classifier=ok, classifier_scale=1.0)
    with pytest.raises(ValueError, match="no classifier"):
        generate(model, diffusion, steps=2, n=2, labels=[0], classifier_scale=1.0)


def test_a_diffusion_checkpoint_is_not_a_classifier(tmp_path, model, diffusion):
    from ddpm import save_checkpoint
    p = tmp_path / "m.safetensors"
    save_checkpoint(p, model=model, ema_model=None, diffusion_config=diffusion.config,
                    class_names=[str(i) for i in range(10)], step=0)
    with pytest.raises(CheckpointError, match="classifier"):
        load_classifier(p)


def test_sample_cli_with_classifier(trained_classifier, model, diffusion, tmp_path):
    from ddpm import save_checkpoint
    ck = tmp_path / "m.safetensors"
    save_checkpoint(ck, model=model, ema_model=None, diffusion_config=diffusion.config,
                    class_names=[str(i) for i in range(10)], step=0)
    out = tmp_path / "g.png"
    r = subprocess.run([sys.executable, "-m", "ddpm.sample", "--ckpt", str(ck), "--steps", "3", "--n", "4",
                        "--labels", "1,7", "--classifier", str(trained_classifier[0]), "--classifier-scale", "1",
                        "--out", str(out), "--trajectory", str(tmp_path / "t.gif"), "--frames", "3"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert out.exists() and out.with_suffix(".npz").exists() and (tmp_path / "t.gif").exists()
    bad = subprocess.run([sys.executable, "-m", "ddpm.sample", "--ckpt", str(ck), "--labels", "12", "--steps", "2",
                          "--out", str(tmp_path / "x.png")], capture_output=True, text=True)
    assert bad.returncode == 2 and "outside" in bad.stderr and "Traceback" not in bad.stderr
