"""The sampling CLI on a small machine: a near-square grid whatever the labels, the bundled models by name, --threads."""
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ddpm import load_checkpoint
from ddpm.data import grid_columns
from ddpm.paths import BUNDLED_MODELS, bundled_file, resolve_checkpoint
from ddpm.sample import main

SCALE, PAD = 4, 1            # ddpm.sample's grid: 1-pixel padding, upscaled 4×


def grid_shape(png: Path, size: int) -> tuple[int, int]:
    """(columns, rows) of a ddpm.sample grid of size×size images, read back from the PNG's pixel size."""
    w, h = Image.open(png).size
    cell = (size + PAD) * SCALE
    assert (w - PAD * SCALE) % cell == 0 and (h - PAD * SCALE) % cell == 0, (w, h)
    return (w - PAD * SCALE) // cell, (h - PAD * SCALE) // cell


def test_issue_case_labels_3_3_7_n_64_is_near_square(tmp_path):
    """Was 2 images wide and 32 rows (2,180 px) tall; now 9 × 8, a class in its own columns."""
    out = tmp_path / "grid.png"
    assert main(["--labels", "3,3,7", "--n", "64", "--steps", "2", "--out", str(out), "--quiet"]) == 0
    assert grid_shape(out, 16) == (9, 8)
    labels = np.load(out.with_suffix(".npz"))["labels"]
    columns = labels[:63].reshape(7, 9)                 # the 7 full rows: every column holds one class
    assert (columns == columns[0]).all() and list(columns[0]) == [3, 3, 7] * 3


def test_grid_columns_are_near_square_and_keep_classes_in_columns():
    for n in (1, 2, 3, 5, 10, 16, 20, 37, 64, 100, 256):
        for period in (None, 1, 2, 3, 7, 10, 64):
            c = grid_columns(n, period)
            rows, square = math.ceil(n / c), math.ceil(math.sqrt(n))
            assert 1 <= c <= n and (max(c / rows, rows / c) <= 2.5 or c == square), (n, period, c)
            aligned = bool(period) and (period % c == 0 or c % period == 0)
            assert aligned or c == square, (n, period, c)       # a class keeps its columns, or the plain square


def test_grid_columns_examples():
    # (n, period) -> columns; by hand: the aligned count nearest a square, ties to the one nearest ceil(sqrt(n))
    assert [grid_columns(64, 3), grid_columns(64, 10), grid_columns(20, 10), grid_columns(10, 10),
            grid_columns(64, None), grid_columns(100, 7)] == [9, 10, 5, 5, 8, 14]
    with pytest.raises(ValueError, match="at least one image"):
        grid_columns(0)


def test_bundled_models_by_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)                             # a folder with no checkpoints/ in it
    assert {name: Path(resolve_checkpoint(name)) for name in BUNDLED_MODELS} == \
        {name: bundled_file(f) for name, f in BUNDLED_MODELS.items()}
    assert Path(resolve_checkpoint("bundled:mnist")) == bundled_file("mnist_tiny.safetensors")
    assert Path(resolve_checkpoint("checkpoints/digits_tiny.safetensors")) == bundled_file("digits_tiny.safetensors")
    assert load_checkpoint("bundled:mnist").unet_config.image_size == 28
    with pytest.raises(ValueError, match=r"no bundled model is called 'cifar'; the bundled models are \['digits', 'emoji', "
                                         r"'mnist'\]"):
        load_checkpoint("bundled:cifar")
    (tmp_path / "mnist").mkdir()                            # a folder of that name here is taken as it is
    assert resolve_checkpoint("mnist") == "mnist"


def test_bundled_model_fetched_once_from_the_repository_files(tmp_path, monkeypatch):
    """An installation without the bundled files fetches them from DDPM_WORKBENCH_BUNDLED_URL into the cache (a
    file:// address here: no network in tests), then reuses the cached copy."""
    monkeypatch.setenv("DDPM_WORKBENCH_CHECKPOINTS", str(tmp_path / "empty"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("DDPM_WORKBENCH_BUNDLED_URL", raising=False)
    with pytest.raises(FileNotFoundError, match=r"the bundled model 'digits' \(digits_tiny.safetensors\) is not in "
                                                r"this installation .*DDPM_WORKBENCH_BUNDLED_URL"):
        resolve_checkpoint("bundled:digits")
    repo = Path(__file__).resolve().parents[1] / "checkpoints"
    monkeypatch.setenv("DDPM_WORKBENCH_BUNDLED_URL", repo.as_uri())
    got = Path(resolve_checkpoint("digits"))
    assert got == tmp_path / "cache" / "ddpm-workbench" / "digits_tiny.safetensors"
    assert got.read_bytes() == (repo / "digits_tiny.safetensors").read_bytes()
    monkeypatch.setenv("DDPM_WORKBENCH_BUNDLED_URL", (tmp_path / "nowhere").as_uri())
    assert Path(resolve_checkpoint("digits")) == got         # cached: not fetched again
    with pytest.raises(FileNotFoundError, match=r"fetching the bundled model 'mnist' from file://.*nowhere/"
                                                r"mnist_tiny.safetensors failed"):
        resolve_checkpoint("mnist")


def test_sample_cli_takes_a_bundled_name_and_threads(tmp_path, capsys):
    before = torch.get_num_threads()
    try:
        out = tmp_path / "m.png"
        assert main(["--ckpt", "mnist", "--labels", "all", "--n", "10", "--steps", "2", "--threads", "1",
                     "--out", str(out), "--quiet"]) == 0
        assert grid_shape(out, 28) == (5, 2) and torch.get_num_threads() == 1
        assert main(["--threads", "0", "--out", str(out), "--quiet"]) == 2
        assert "error: --threads must be a whole number >= 1 (got 0)" in capsys.readouterr().err
    finally:
        torch.set_num_threads(before)
