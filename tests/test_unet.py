"""Tests for ddpm.unet: shapes for every preset, class conditioning with the null label, bad configs."""
import math

import pytest
import torch

from ddpm.unet import PRESETS, UNet, UNetConfig, count_parameters, preset_config, timestep_embedding



def _inputs(cfg: UNetConfig, batch: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, cfg.in_channels, cfg.image_size, cfg.image_size, generator=g)
    t = torch.randint(0, 1000, (batch,), generator=g)
    return x, t


@pytest.mark.parametrize("preset", ["tiny", "small", "base"])
@pytest.mark.parametrize("channels,num_classes", [(1, 0), (3, 10)])
def test_output_shape_every_preset(preset, channels, num_classes):
    cfg = preset_config(preset, image_size=8, in_channels=channels, num_classes=num_classes)
    model = UNet(cfg).eval()
    x, t = _inputs(cfg, 2)
    y = torch.tensor([0, num_classes]) if num_classes else None       # a real label and the null label
    with torch.no_grad():
        out = model(x, t, y)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert torch.isfinite(out).all()


@pytest.mark.slow
def test_large_preset_forward():
    # 240M parameters: built once at 16×16 (its attention at 16 and 8 is active) with batch 1
    cfg = preset_config("large", image_size=16, in_channels=3, num_classes=10)
    model = UNet(cfg).eval()
    assert count_parameters(model) > 100_000_000
    x, t = _inputs(cfg, 1)
    with torch.no_grad():
        out = model(x, t, torch.tensor([10]))
    assert out.shape == (1, 3, 16, 16)


def test_presets_grow():
    sizes = [count_parameters(UNet(preset_config(p, image_size=16))) for p in ("tiny", "small", "base")]
    assert sizes == sorted(sizes) and len(set(sizes)) == 3


@pytest.mark.parametrize("channels", [1, 3])
def test_other_image_sizes(channels, randomize_unet):
    for size in (4, 8, 16):
        cfg = preset_config("tiny", image_size=size, in_channels=channels, base_channels=16)
        x, t = _inputs(cfg, 2)
        with torch.no_grad():
            assert randomize_unet(UNet(cfg))(x, t).shape == x.shape


@pytest.fixture(scope="module")
def cond_model(randomize_unet):
    cfg = preset_config("tiny", image_size=8, base_channels=16, num_classes=10)
    torch.manual_seed(0)
    return randomize_unet(UNet(cfg))


def test_fresh_model_outputs_zero():
    # documented behaviour: out_conv starts at zero, so the untrained ε-prediction is 0 (the mean of ε)
    cfg = preset_config("tiny", image_size=8, base_channels=16)
    x, t = _inputs(cfg, 2)
    with torch.no_grad():
        assert not UNet(cfg)(x, t).any()


def test_labels_and_null_label(cond_model):
    cfg = cond_model.config
    x, t = _inputs(cfg, 4)
    x = x[:1].expand(4, -1, -1, -1)
    t = t[:1].expand(4)
    with torch.no_grad():
        out = cond_model(x, t, torch.tensor([0, 3, 9, cfg.num_classes]))   # index num_classes = null label
        out_none = cond_model(x[:1], t[:1], None)
        out_null = cond_model(x[:1], t[:1], torch.tensor([cfg.num_classes]))
    assert torch.isfinite(out).all()
    for i in range(3):   # every label gives its own output
        for j in range(i + 1, 4):
            assert not torch.allclose(out[i], out[j])
    assert torch.equal(out_none, out_null)                     # y=None is the null label
    torch.testing.assert_close(out[3:], out_null)              # same image in a batch (GroupNorm is per-sample)
    with pytest.raises(IndexError):
        cond_model(x[:1], t[:1], torch.tensor([cfg.num_classes + 1]))


def test_unconditional_model_ignores_labels(randomize_unet):
    cfg = preset_config("tiny", image_size=8, base_channels=16)
    model = randomize_unet(UNet(cfg))
    assert model.label_emb is None and not cfg.conditional
    x, t = _inputs(cfg, 2)
    with torch.no_grad():
        assert torch.equal(model(x, t), model(x, t, torch.tensor([1, 2])))


def test_output_depends_on_t_and_x(cond_model):
    x, t = _inputs(cond_model.config, 1)
    with torch.no_grad():
        a = cond_model(x, t)
        assert not torch.allclose(a, cond_model(x, t + 1))
        assert not torch.allclose(a, cond_model(x + 0.1, t))


def test_batch_independence(cond_model):
    x, t = _inputs(cond_model.config, 3)
    y = torch.tensor([1, 10, 4])
    with torch.no_grad():
        batched = cond_model(x, t, y)
        single = torch.cat([cond_model(x[i:i + 1], t[i:i + 1], y[i:i + 1]) for i in range(3)])
    torch.testing.assert_close(batched, single, rtol=1e-5, atol=1e-6)


def test_gradients_reach_every_parameter(randomize_unet):
    cfg = preset_config("tiny", image_size=8, base_channels=16, num_classes=3)
    model = randomize_unet(UNet(cfg)).train()
    x, t = _inputs(cfg, 2)
    model(x, t, torch.tensor([0, 3])).square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, f"unused parameters (DDP would fail): {missing}"


def test_timestep_embedding_formula():
    t = torch.tensor([0, 1, 17, 999])
    emb = timestep_embedding(t, 8)
    assert emb.shape == (4, 8)
    for i, tv in enumerate(t.tolist()):
        for k in range(4):   # ω_k = 10000^(−k/4): [cos(t ω_0..3), sin(t ω_0..3)]
            w = 10000 ** (-k / 4)
            assert emb[i, k].item() == pytest.approx(math.cos(tv * w), abs=1e-4)
            assert emb[i, 4 + k].item() == pytest.approx(math.sin(tv * w), abs=1e-4)
    assert timestep_embedding(t, 7).shape == (4, 7)


def test_config_round_trip_and_presets():
    cfg = preset_config("small", image_size=16, in_channels=3, num_classes=5, dropout=0.1)
    assert UNetConfig.from_dict(cfg.to_dict()) == cfg
    for name, kw in PRESETS.items():
        c = preset_config(name)
        assert c.base_channels == kw["base_channels"] and c.channel_mult == tuple(kw["channel_mult"])


@pytest.mark.parametrize("kwargs,match", [
    (dict(image_size=2), "image_size must be >= 4"),
    (dict(image_size=12, channel_mult=(1, 2, 2, 2)), "divisible by 8"),
    (dict(base_channels=12), "not divisible by groups=8"),
    (dict(base_channels=0), "base_channels must be >= 1"),
    (dict(in_channels=0), "in_channels must be >= 1"),
    (dict(num_res_blocks=0), "num_res_blocks must be >= 1"),
    (dict(channel_mult=()), "channel_mult"),
    (dict(channel_mult=(1, 0)), "channel_mult"),
    (dict(dropout=1.0), r"dropout must be in \[0, 1\)"),
    (dict(dropout=-0.1), r"dropout must be in \[0, 1\)"),
    (dict(num_classes=-1), "num_classes must be >= 0"),
    (dict(num_heads=0), "num_heads must be >= 1"),
    (dict(base_channels=64, num_heads=3), "attention heads"),
])
def test_bad_configs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        UNetConfig(**kwargs)


def test_unknown_preset_lists_choices():
    with pytest.raises(ValueError, match=r"unknown preset 'huge'; choose from \['base', 'large', 'small', 'tiny'\]"):
        preset_config("huge")
