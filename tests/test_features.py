"""The offline feature network: the shipped file, its guards, safe loading, training and the CLI."""
import hashlib
import importlib.util
import json
import warnings

import numpy as np
import pytest
import torch

from diagnostics.features import (DEFAULT_FEATURE_NET, FeatureNet, FeatureNetConfig, FeatureNetError,
                                  load_feature_net, main, random_shift, save_feature_net,
                                  train_feature_net)
from diagnostics.inception import load_inception




def test_shipped_feature_net_loads_in_eval_mode_and_states_its_provenance(extractor):
    assert DEFAULT_FEATURE_NET.stat().st_size < 2 * 2**20
    assert not extractor.net.training
    assert not any(p.requires_grad for p in extractor.net.parameters())
    sha = hashlib.sha256(DEFAULT_FEATURE_NET.read_bytes()).hexdigest()[:12]
    assert extractor.sha256 == sha
    assert extractor.name == "digits-cnn-64" and extractor.dataset == "digits"
    assert (extractor.image_size, extractor.in_channels, extractor.num_classes) == (16, 1, 10)
    assert extractor.class_names == [str(i) for i in range(10)]
    text = extractor.describe()
    assert sha in text and "digits-cnn-64" in text and f"{extractor.test_accuracy:.1%}" in text
    assert extractor.meta["split"] == {"holdout_fraction": 0.2, "seed": 0}
    assert "python -m diagnostics.features" in extractor.meta["command"]


def test_shipped_feature_net_reproduces_its_recorded_heldout_accuracy(digits, extractor):
    _, held = digits
    probs = extractor.probs(held.images)                                  # (N, 10)
    acc = float((probs.argmax(1) == held.labels.numpy()).mean())
    assert extractor.test_accuracy > 0.95
    assert abs(acc - extractor.test_accuracy) <= 1.0 / len(held) + 1e-12
    assert probs.dtype == np.float64 and np.allclose(probs.sum(1), 1.0)


def test_features_ignore_train_mode_and_batching(digits, extractor):
    _, held = digits
    x = held.images[:40]
    f = extractor.features(x)
    assert f.shape == (40, 64) and f.dtype == np.float64
    extractor.net.train()                          # a caller's mistake must not change the numbers
    extractor.batch_size, saved = 7, extractor.batch_size
    try:
        g = extractor.features(x)
    finally:
        extractor.batch_size = saved
    assert not extractor.net.training
    np.testing.assert_allclose(g, f, rtol=1e-5, atol=1e-5)


def test_other_sizes_are_resized_without_warnings_and_channel_mismatch_is_refused(digits, extractor):
    _, held = digits
    small = torch.nn.functional.avg_pool2d(held.images[:10], 2)           # (10, 1, 8, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f = extractor.features(small)
    assert f.shape == (10, 64) and "resized" in extractor.last_note
    extractor.features(held.images[:2])
    assert extractor.last_note is None
    with pytest.raises(ValueError, match="1-channel images but got 3 channels"):
        extractor.features(held.images[:4].expand(-1, 3, -1, -1))
    with pytest.raises(ValueError, match="0..255"):
        extractor.features(held.images[:4] * 100 + 100)


def test_foreign_and_damaged_files_are_refused(tmp_path):
    from safetensors.torch import save_file
    data = DEFAULT_FEATURE_NET.read_bytes()
    cases = {
        "truncated.safetensors": (data[: len(data) // 2], "truncated"),
        "cut_header.safetensors": (data[:100], "truncated"),
        "junk.safetensors": (b"not a safetensors file at all", "truncated"),
        "empty.safetensors": (b"", "empty"),
    }
    for name, (blob, match) in cases.items():
        (tmp_path / name).write_bytes(blob)
        with pytest.raises(FeatureNetError, match=match):
            load_feature_net(tmp_path / name)
    save_file({"w": torch.zeros(3)}, str(tmp_path / "foreign.safetensors"), metadata={"ddpm": "{}"})
    with pytest.raises(FeatureNetError, match="not a DDPM Workbench feature network"):
        load_feature_net(tmp_path / "foreign.safetensors")
    torch.save({"w": torch.zeros(3)}, tmp_path / "pickle.pt")
    with pytest.raises(FeatureNetError, match="pickle"):
        load_feature_net(tmp_path / "pickle.pt")
    with pytest.raises(FileNotFoundError, match="not found"):
        load_feature_net(tmp_path / "missing.safetensors")


def test_weights_that_do_not_match_the_config_are_refused(tmp_path):
    from safetensors import safe_open
    from safetensors.torch import save_file
    with safe_open(str(DEFAULT_FEATURE_NET), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
        meta = f.metadata()
    header = json.loads(meta["ddpm_features"])
    header["config"]["num_features"] = 32
    bad = dict(meta, ddpm_features=json.dumps(header))
    save_file(tensors, str(tmp_path / "mismatch.safetensors"), metadata=bad)
    with pytest.raises(FeatureNetError, match="shape"):
        load_feature_net(tmp_path / "mismatch.safetensors")
    tensors["classifier.bias"] = torch.full_like(tensors["classifier.bias"], float("nan"))
    save_file(tensors, str(tmp_path / "nan.safetensors"), metadata=meta)
    with pytest.raises(FeatureNetError, match="NaN"):
        load_feature_net(tmp_path / "nan.safetensors")


def test_train_save_load_round_trip(digits, tmp_path):
    train, held = digits
    net, acc = train_feature_net(train, held, steps=3, seed=0, width=8, num_features=16, batch_size=32)
    assert isinstance(net, FeatureNet) and not net.training and 0.0 <= acc <= 1.0
    sha = save_feature_net(net, tmp_path / "f.safetensors",
                           dict(dataset="digits", class_names=train.class_names, test_accuracy=acc,
                                split=dict(holdout_fraction=0.2, seed=0), command="test"))
    ext = load_feature_net(tmp_path / "f.safetensors")
    assert ext.sha256 == sha and ext.name == "digits-cnn-16" and ext.test_accuracy == acc
    x = held.images[:16]
    with torch.no_grad():
        np.testing.assert_allclose(ext.features(x), net.features(x).double().numpy(), rtol=1e-6, atol=1e-6)
        assert net(x).shape == (16, 10)


def test_random_shift_moves_images_by_at_most_max_shift():
    x = torch.zeros(64, 1, 9, 9)
    x[:, :, 4, 4] = 1.0
    y = random_shift(x, 1, torch.Generator().manual_seed(0))
    pos = y.flatten(1).argmax(1)
    rows, cols = pos // 9, pos % 9
    assert y.shape == x.shape and ((rows - 4).abs() <= 1).all() and ((cols - 4).abs() <= 1).all()
    assert len(set(zip(rows.tolist(), cols.tolist()))) > 1
    with pytest.raises(ValueError, match="num_classes"):
        FeatureNetConfig(num_classes=1)


def test_cli_writes_a_loadable_file(tmp_path, capsys):
    out = tmp_path / "cli.safetensors"
    assert main(["--steps", "2", "--width", "4", "--batch-size", "16", "--out", str(out)]) == 0
    assert "test accuracy" in capsys.readouterr().out
    ext = load_feature_net(out)
    assert ext.meta["split"] == {"holdout_fraction": 0.2, "seed": 0} and ext.meta["train"]["steps"] == 2
    assert ext.meta["command"].startswith("python -m diagnostics.features --steps 2")


def test_load_inception_explains_that_torchvision_is_missing():
    if importlib.util.find_spec("torchvision") is not None:
        pytest.skip("torchvision is importable here; the Inception path is not exercised by the tests")
    with pytest.raises(RuntimeError, match="torchvision is not importable here"):
        load_inception()


def test_shipped_mnist_feature_net_is_chosen_by_the_checkpoints_data_set():
    from diagnostics.features import default_feature_net
    assert default_feature_net("mnist").name == "features_mnist.safetensors"
    assert default_feature_net("digits") == default_feature_net(None) == DEFAULT_FEATURE_NET
    assert default_feature_net("my_folder") == DEFAULT_FEATURE_NET        # none ships for it: the check says so
    fx = load_feature_net(default_feature_net("mnist"))
    assert (fx.name, fx.dataset, fx.image_size, fx.in_channels) == ("mnist-cnn-64", "mnist", 28, 1)
    assert fx.test_accuracy >= 0.97 and "held-out 20% of mnist" in fx.describe()
