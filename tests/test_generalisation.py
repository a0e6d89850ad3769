"""The generalisation check (training vs held-out denoising loss per band of t) and the report's likelihood section.

The constructed case: the ideal denoiser of an empirical distribution, x̂_0(x_t) = Σ_i softmax_i(−‖x_t − √ᾱ_t x_i‖² /
(2(1 − ᾱ_t))) x_i, is exactly what a model that memorised the images x_i computes. Built on the training images
alone it denoises them perfectly at low noise and held-out images badly (the check must warn); built on both
splits it treats both alike (the check must pass)."""
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ddpm import DiffusionConfig, GaussianDiffusion, load_checkpoint
from diagnostics.checks import check_generalisation, split_real_data
from diagnostics.checks.generalisation import band_edges, paired_denoising_losses
from diagnostics.checks.likelihood import check_likelihood, likelihood_on_report_splits
from diagnostics.likelihood import bits_per_dim, likelihood_on_splits

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "checkpoints" / "digits_tiny.safetensors"


class EmpiricalDenoiser(torch.nn.Module):
    """ε̂ of the ideal denoiser for the empirical distribution of `memory` (N, C, H, W)."""

    def __init__(self, diffusion: GaussianDiffusion, memory: torch.Tensor):
        super().__init__()
        self.diffusion, self.memory = diffusion, memory.flatten(1).double()
        self.unused = torch.nn.Parameter(torch.zeros(1))         # the check reads the device from a parameter

    def forward(self, x_t, t, y=None):
        ab = self.diffusion.float64["alphas_cumprod"][t].view(-1, 1)                       # (B, 1)
        x = x_t.flatten(1).double()
        d2 = ((x[:, None, :] - ab.sqrt()[:, :, None] * self.memory[None]) ** 2).sum(-1)   # (B, N): ‖x_t − √ᾱ x_i‖²
        w = torch.softmax(-d2 / (2 * (1 - ab)), dim=1)
        x0 = w @ self.memory
        eps = (x - ab.sqrt() * x0) / (1 - ab).sqrt()
        return eps.to(x_t.dtype).view_as(x_t)


@pytest.fixture(scope="module")
def tiny():
    """A small conditional U-Net at 8×8 with T = 20 (random weights: the likelihood plumbing, not its value, is tested)."""
    from ddpm import UNet, UNetConfig
    torch.manual_seed(0)
    model = UNet(UNetConfig(image_size=8, base_channels=8, channel_mult=(1,), attention_resolutions=(),
                            num_classes=10)).eval()
    torch.nn.init.normal_(model.out_conv.weight, std=0.02)
    return model, GaussianDiffusion(DiffusionConfig(T=20))


@pytest.fixture(scope="module")
def digits8():
    from ddpm.data import load_dataset
    return load_dataset("digits", image_size=8).split(0.2, seed=0)


@pytest.fixture(scope="module")
def small_digits(digits):
    train, held = digits
    return train.images[:60], held.images[:60]


def test_band_edges_cover_every_t():
    for T in (2, 10, 1000):
        bands = band_edges(T)
        assert bands[0][0] == 0 and bands[-1][1] == T
        assert all(a < b for a, b in bands) and all(b1 == a2 for (_, b1), (a2, _) in zip(bands, bands[1:]))


def test_memorising_model_is_flagged_at_low_noise(small_digits):
    train, held = small_digits
    diff = GaussianDiffusion(DiffusionConfig(T=1000))
    r = check_generalisation(EmpiricalDenoiser(diff, train), diff, train, held, n=60, draws=2)
    assert r.verdict == "warn", r.summary
    rows = r.numbers["per_band"]
    assert rows[0]["flagged"] and rows[0]["gap_relative"] > 1.0       # at low noise: training images almost exact
    assert rows[0]["train_loss"] < 0.05 * rows[0]["heldout_loss"]
    assert "low noise" in str(r.summary) and all(w in str(r.fix) for w in ("Stop earlier", "--dropout 0.1", "--hflip"))


def test_model_that_treats_both_splits_alike_passes(small_digits):
    train, held = small_digits
    diff = GaussianDiffusion(DiffusionConfig(T=1000))
    both = EmpiricalDenoiser(diff, torch.cat([train, held]))
    r = check_generalisation(both, diff, train, held, n=60, draws=2)
    assert r.verdict == "ok", r.summary
    assert not any(row["flagged"] for row in r.numbers["per_band"]) and r.fix is None


def test_pairs_share_t_and_noise(small_digits):
    train, _ = small_digits
    diff = GaussianDiffusion(DiffusionConfig(T=100))
    model = EmpiricalDenoiser(diff, train)
    # the same images on both sides: identical losses, pair by pair, because t and ε are shared
    l_tr, l_he = paired_denoising_losses(model, diff, train[:10], train[:10], bands=band_edges(100), draws=3)
    assert l_tr.shape == (5, 3, 10) and torch.equal(l_tr, l_he)
    with pytest.raises(ValueError, match="as many training as held-out"):
        paired_denoising_losses(model, diff, train[:10], train[:9], bands=band_edges(100))


def test_the_relative_gap_has_its_delta_method_interval(small_digits):
    """The relative gap mean(h)/mean(l) − 1 of paired losses gets its standard error by the delta method, which agrees
    with a bootstrap of the same pairs in float64; each band carries its 95% interval and the summary quotes it."""
    from diagnostics.checks.generalisation import Z95, relative_gap_se
    g = torch.Generator().manual_seed(0)
    for shift in (0.0, 0.3):
        l = torch.distributions.Gamma(2.0, 20.0).sample((400,)).double()            # paired losses, held-out
        h = l * (1 + shift) + 0.02 * torch.randn(400, generator=g, dtype=torch.float64)  # correlated with training
        idx = torch.randint(0, 400, (4000, 400), generator=g)
        boot = h[idx].mean(1) / l[idx].mean(1) - 1
        assert relative_gap_se(l, h) == pytest.approx(float(boot.std()), rel=0.1), shift
    assert relative_gap_se(torch.ones(1), torch.ones(1)) == math.inf
    train, held = small_digits
    diff = GaussianDiffusion(DiffusionConfig(T=1000))
    r = check_generalisation(EmpiricalDenoiser(diff, train), diff, train, held, n=60, draws=2)
    for row in r.numbers["per_band"]:
        assert row["gap_relative_low"] == pytest.approx(row["gap_relative"] - Z95 * row["gap_relative_se"])
        assert row["gap_relative_high"] == pytest.approx(row["gap_relative"] + Z95 * row["gap_relative_se"])
    first = r.numbers["per_band"][0]
    assert f"{first['gap_relative']:+.0%}, 95% interval {first['gap_relative_low']:+.0%} to " in str(r.summary)
    both = check_generalisation(EmpiricalDenoiser(diff, torch.cat([train, held])), diff, train, held, n=60, draws=2)
    worst = max(both.numbers["per_band"], key=lambda x: x["gap_relative"])
    assert both.verdict == "ok" and (f"(95% interval {worst['gap_relative_low']:+.1%} to "
                                     f"{worst['gap_relative_high']:+.1%}; {worst['band']})") in str(both.summary)


def test_skips_without_an_unseen_heldout_split(small_digits):
    train, held = small_digits
    diff = GaussianDiffusion(DiffusionConfig(T=100))
    model = EmpiricalDenoiser(diff, train)
    assert check_generalisation(model, diff, train, None).verdict == "skip"
    seen = check_generalisation(model, diff, train, held, heldout_seen=True)
    assert seen.verdict == "skip" and "--holdout" in str(seen.summary)


@pytest.mark.slow
def test_bundled_model_passes_generalisation(digits):
    ck = load_checkpoint(BUNDLED)
    train, held = digits
    r = check_generalisation(ck.model, ck.diffusion, train.images, held.images, train.labels, held.labels,
                             n=64, draws=2)                        # the quick report's size
    assert r.verdict == "ok", r.summary
    assert len(r.numbers["per_band"]) == 5 and r.n == 64


# --------------------------------------------------------------------------------------------- likelihood
def test_bits_per_dim_refuses_data_of_another_shape(tiny, digits8, digits):
    model, diff = tiny
    with pytest.raises(ValueError, match=r"the images are 1×16×16 but the model makes 1×8×8"):
        bits_per_dim(model, diff, digits[0].images[:4], stride=5)
    with pytest.raises(ValueError, match=r"the images are 3×8×8"):
        bits_per_dim(model, diff, digits8[0].images[:4].expand(-1, 3, -1, -1), stride=5)
    with pytest.raises(ValueError, match="larger than the model's 19 KL timesteps"):
        bits_per_dim(model, diff, digits8[0].images[:4], stride=20)


def test_likelihood_gap_is_paired_and_batches_get_their_own_noise(tiny, digits8):
    model, diff = tiny
    train, held = digits8
    # the same images as "held-out": the paired gap is exactly 0
    r = likelihood_on_splits(model, diff, train, train, n=6, stride=4)
    assert r.gap == 0.0 and r.gap_se == 0.0 and r.conditional
    assert r.train.bpd == pytest.approx(r.train.prior + r.train.kl + r.train.decoder, rel=1e-12)
    # one batch of 6 or three batches of 2: the batches draw different noise, so the totals differ
    one = bits_per_dim(model, diff, train.images[:6], train.labels[:6], stride=4)
    three = bits_per_dim(model, diff, train.images[:6], train.labels[:6], stride=4, batch=2)
    assert torch.allclose(one.total[:2], three.total[:2]) and not torch.allclose(one.total[2:], three.total[2:])
    # labels out of the model's range: scored unconditionally (the null label)
    assert not likelihood_on_splits(model, diff, (train.images, train.labels + 10), n=2, stride=4).conditional


def test_likelihood_section_of_the_report(tiny, digits8):
    model, diff = tiny
    train, held = digits8
    real = type(train)(torch.cat([train.images, held.images]), torch.cat([train.labels, held.labels]),
                       train.class_names, "digits")
    splits = split_real_data(real, {"holdout": 0.2, "split_seed": 0})
    r = check_likelihood(model, diff, splits, n=8, stride=4)
    assert r.verdict in ("ok", "warn") and math.isfinite(r.numbers["gap_bpd"])
    parts = {str(p["part"]): p for p in r.numbers["parts"]}
    assert set(parts) == {"prior L_T", "Σ KL L_{t−1}", "decoder L_0", "bits/dim (total)"}
    assert all(p["meaning"] for p in parts.values())
    assert r.numbers["per_t"]["t"][0] == 0 and len(r.numbers["per_t"]["heldout"]) == len(r.numbers["per_t"]["t"])
    from diagnostics.plots import draw_figures
    assert len(draw_figures(r).figures) == 1
    off = likelihood_on_report_splits(model, diff, splits, n=0, stride=4)
    assert off.verdict == "skip" and "--likelihood" in str(off.summary)
    seen = check_likelihood(model, diff, split_real_data(real, {"holdout": 0}), n=4, stride=4)
    assert "heldout_bpd" not in seen.numbers and "no unseen held-out split" in str(seen.summary)


@pytest.mark.slow
def test_likelihood_cli(tmp_path):
    out = tmp_path / "bpd.json"
    proc = subprocess.run([sys.executable, "-m", "diagnostics", "likelihood", str(BUNDLED), "--n", "2", "--stride",
                           "32", "--json", str(out)], capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert proc.returncode == 0, proc.stderr
    assert "gap (held-out − training)" in proc.stdout and out.exists()
    import json
    payload = json.loads(out.read_text())
    assert payload["train"]["n"] == 2 and payload["stride"] == 32
    # the CLI writes what the Python API computes on the same images (same seed, timesteps and noise), not just a
    # number in range: recomputed here from the checkpoint's own split
    from ddpm import load_checkpoint
    from ddpm.data import load_dataset, recorded_holdout
    from diagnostics.likelihood import likelihood_on_splits
    ck = load_checkpoint(BUNDLED)
    data = ck.meta["data"]
    real = load_dataset(str(data.get("source") or data["name"]), image_size=ck.unet_config.image_size,
                        channels=ck.unet_config.in_channels)
    fraction, split_seed = recorded_holdout(data)
    train, held = real.split(fraction, seed=split_seed)
    api = likelihood_on_splits(ck.model, ck.diffusion, train, held, n=2, stride=32, seed=payload["seed"])
    assert payload["train"]["bpd"] == pytest.approx(api.train.bpd, rel=1e-6)
    assert payload["heldout"]["bpd"] == pytest.approx(api.heldout.bpd, rel=1e-6)
    assert payload["gap"] == pytest.approx(api.gap, rel=1e-6, abs=1e-9)
    bad = subprocess.run([sys.executable, "-m", "diagnostics", "likelihood", str(BUNDLED), "--stride", "5000"],
                         capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert bad.returncode == 2 and "stride 5000 is larger" in bad.stderr and "Traceback" not in bad.stderr


def test_report_settings_compute_bits_per_dim_in_full_mode_or_when_asked():
    from diagnostics.checks import mode_settings
    assert mode_settings(True, 1000).likelihood_n == 0 and mode_settings(False, 1000).likelihood_n > 0
    assert mode_settings(True, 1000, likelihood=True).likelihood_n > 0
    assert mode_settings(False, 1000, likelihood=False).likelihood_n == 0
    assert mode_settings(True, 10).likelihood_stride == 9           # never more than the model's T − 1


def test_report_cli_takes_the_likelihood_switch():
    from diagnostics.__main__ import _parser
    p = _parser()
    assert p.parse_args(["report", "m.safetensors", "--out", "o", "--likelihood"]).likelihood is True
    assert p.parse_args(["report", "m.safetensors", "--out", "o", "--no-likelihood"]).likelihood is False
    assert p.parse_args(["report", "m.safetensors", "--out", "o"]).likelihood is None
    args = p.parse_args(["likelihood", "m.safetensors", "--stride", "8", "--n", "16"])
    # variance None: the model's own (learned_range for a model trained with --learn-sigma, else fixed_small)
    assert (args.command, args.stride, args.n, args.variance) == ("likelihood", 8, 16, None)
    assert p.parse_args(["likelihood", "m.safetensors", "--variance", "learned_range"]).variance == "learned_range"


def test_splits_are_compared_class_for_class():
    """The paired gap compares like with like: the k-th training and held-out image are of the same class, the
    classes share n in proportion to what both splits hold, and two identical splits give identical pairs."""
    import numpy as np
    from diagnostics.fid import class_matched_pairs
    a = np.array([0] * 50 + [1] * 10 + [2] * 5)          # training: class 0 dominates its first images
    b = np.array([2] * 5 + [1] * 20 + [0] * 5 + [3] * 7)  # held-out: another order and mix, a class of its own
    ia, ib = class_matched_pairs(a, b, 16, 0, len(a), len(b))
    assert (a[ia] == b[ib]).all() and len(ia) == 16
    assert {c: int((a[ia] == c).sum()) for c in range(4)} == {0: 4, 1: 8, 2: 4, 3: 0}   # caps 5, 10, 5: 16·(5,10,5)/20
    assert len(set(ia)) == len(ia) and len(set(ib)) == len(ib)
    ja, jb = class_matched_pairs(a, a, 12, 3, len(a), len(a))
    assert (ja == jb).all()
    assert len(class_matched_pairs(a, b, 10_000, 0, len(a), len(b))[0]) == 20    # every matchable pair, no more


def test_the_gap_figure_draws_the_interval_and_reads_older_reports(small_digits):
    """The report's generalisation figure: the gap line carries each band's 95% interval as error bars (and says
    so in its name); a report written before the interval existed still draws, without bars."""
    from diagnostics.plots import generalisation_figure
    train, held = small_digits
    diff = GaussianDiffusion(DiffusionConfig(T=1000))
    numbers = check_generalisation(EmpiricalDenoiser(diff, train), diff, train, held, n=60, draws=2).numbers
    gap = generalisation_figure(numbers).data[-1]
    rows = numbers["per_band"]
    assert list(gap.error_y.array) == pytest.approx([100 * (r["gap_relative_high"] - r["gap_relative"]) for r in rows])
    assert list(gap.error_y.arrayminus) == pytest.approx([100 * (r["gap_relative"] - r["gap_relative_low"])
                                                          for r in rows])
    assert "95% interval" in gap.name
    old = {**numbers, "per_band": [{k: v for k, v in r.items() if not k.startswith("gap_relative_")} for r in rows]}
    gap = generalisation_figure(old).data[-1]
    assert gap.error_y.array is None and "interval" not in gap.name
