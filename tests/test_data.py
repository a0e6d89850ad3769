"""Tests for ddpm.data: digits, image folders / zips, torchvision fallback, grids."""
import sys
import types
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.datasets import load_digits

from ddpm.data import DATASETS, ImageDataset, load_dataset, make_grid, save_image_grid, to_uint8


def _torchvision_importable() -> bool:
    try:
        import torchvision  # noqa: F401
        return True
    except Exception:
        return False


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def test_digits_default(digits):
    assert isinstance(digits, ImageDataset)
    assert digits.images.shape == (1797, 1, 16, 16)
    assert digits.images.dtype == torch.float32
    assert digits.images.min() >= -1 and digits.images.max() <= 1
    assert (digits.image_size, digits.channels, digits.num_classes) == (16, 1, 10)
    assert digits.class_names == [str(i) for i in range(10)]
    assert digits.labels.dtype == torch.long
    assert torch.equal(digits.labels, torch.from_numpy(load_digits().target).long())
    assert digits.name == "digits" and len(digits) == 1797


def test_digits_native_size_is_exact():
    ds = load_dataset("digits", image_size=8)
    assert ds.images.shape == (1797, 1, 8, 8)
    expected = torch.from_numpy(load_digits().images).float() / 16 * 2 - 1
    assert torch.allclose(ds.images[:, 0], expected)
    assert ds.images.min() == -1 and ds.images.max() == 1


def test_digits_options():
    assert load_dataset("digits", image_size=4).images.shape == (1797, 1, 4, 4)
    rgb = load_dataset("digits", image_size=8, channels=3)
    assert rgb.images.shape == (1797, 3, 8, 8) and torch.equal(rgb.images[:, 0], rgb.images[:, 2])
    with pytest.raises(ValueError, match="channels"):
        load_dataset("digits", channels=2)
    with pytest.raises(ValueError, match="image_size"):
        load_dataset("digits", image_size=0)


def test_split_stratified_disjoint_deterministic(digits):
    train, held = digits.split(0.2, seed=0)
    assert len(train) + len(held) == len(digits)
    assert abs(len(held) - 0.2 * len(digits)) <= digits.num_classes
    train_counts = torch.bincount(train.labels, minlength=10).float()
    held_counts = torch.bincount(held.labels, minlength=10).float()
    frac = held_counts / (train_counts + held_counts)
    assert ((frac - 0.2).abs() < 0.02).all()
    # disjoint: every image row of the original appears in exactly one part (rows are matched exactly)
    all_images = torch.cat([train.images, held.images]).flatten(1)
    assert torch.unique(all_images, dim=0).shape[0] == torch.unique(digits.images.flatten(1), dim=0).shape[0]
    assert train.class_names == held.class_names == digits.class_names
    again_train, again_held = digits.split(0.2, seed=0)
    assert torch.equal(held.labels, again_held.labels) and torch.equal(held.images, again_held.images)
    other_held = digits.split(0.2, seed=1)[1]
    assert not torch.equal(held.images, other_held.images)
    with pytest.raises(ValueError):
        digits.split(1.5)


def test_split_indices_disjoint():
    ds = ImageDataset(torch.arange(40.0).view(40, 1, 1, 1), torch.arange(40) % 4, list("abcd"), "toy")
    train, held = ds.split(0.25, seed=3)
    t, h = set(train.images.flatten().tolist()), set(held.images.flatten().tolist())
    assert not (t & h) and len(t | h) == 40
    assert torch.bincount(held.labels, minlength=4).tolist() == [2, 2, 2, 2]


def _write_tree(root, sizes=None):
    """Two classes 'cat' (dark, grey) and 'dog' (light, grey), 3 PNGs each, plus a stray notes.txt."""
    sizes = sizes or {}
    for c, (cls, value) in enumerate((("cat", 30), ("dog", 220))):
        (root / cls).mkdir(parents=True)
        for i in range(3):
            s = sizes.get((cls, i), 12)
            Image.fromarray(np.full((s, s), value + i, np.uint8), mode="L").save(root / cls / f"{i}.png")
    (root / "notes.txt").write_text("not an image")
    return root


def test_image_folder(tmp_path):
    root = _write_tree(tmp_path / "pets")
    with pytest.warns(UserWarning, match="skipped 1 file"):
        ds = load_dataset(str(root))
    assert ds.class_names == ["cat", "dog"] and ds.name == "pets"
    assert ds.images.shape == (6, 1, 12, 12)
    assert ds.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert torch.allclose(ds.images[0], torch.full((1, 12, 12), 30 / 127.5 - 1))
    assert ds.images.min() >= -1 and ds.images.max() <= 1
    with pytest.warns(UserWarning):
        small = load_dataset(str(root), image_size=6, channels=3)
    assert small.images.shape == (6, 3, 6, 6)


def test_colour_images_default_to_rgb(tmp_path):
    for cls, colour in (("red", (255, 0, 0)), ("blue", (0, 0, 255))):
        (tmp_path / cls).mkdir()
        Image.new("RGB", (8, 8), colour).save(tmp_path / cls / "a.png")
        Image.new("L", (8, 8), 128).save(tmp_path / cls / "b.jpg")
    ds = load_dataset(str(tmp_path))
    assert ds.images.shape == (4, 3, 8, 8) and ds.class_names == ["blue", "red"]
    assert torch.allclose(ds.images[2, :, 0, 0], torch.tensor([1.0, -1.0, -1.0]))  # red/a.png


def test_zip_with_wrapping_folder_matches_folder(tmp_path):
    root = _write_tree(tmp_path / "pets")
    zpath = tmp_path / "pets.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for p in sorted(root.rglob("*")):
            zf.write(p, f"pets/{p.relative_to(root).as_posix()}")
        zf.writestr("__MACOSX/pets/cat/._0.png", b"junk")
    with pytest.warns(UserWarning, match="skipped 2 file"):
        from_zip = load_dataset(str(zpath))
    with pytest.warns(UserWarning):
        from_dir = load_dataset(str(root))
    assert from_zip.class_names == from_dir.class_names
    assert torch.equal(from_zip.images, from_dir.images) and torch.equal(from_zip.labels, from_dir.labels)


def test_zip_with_class_folders_at_root(tmp_path):
    root = _write_tree(tmp_path / "pets")
    zpath = tmp_path / "flat.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for p in sorted(root.rglob("*.png")):
            zf.write(p, p.relative_to(root).as_posix())
    ds = load_dataset(str(zpath))
    assert ds.class_names == ["cat", "dog"] and len(ds) == 6


def test_zip_limits(tmp_path, monkeypatch):
    import ddpm.sources.folder as data
    zpath = tmp_path / "big.zip"
    with zipfile.ZipFile(zpath, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a/0.png", b"\0" * 5000)
        zf.writestr("b/0.png", b"\0" * 10)
    monkeypatch.setattr(data, "MAX_MEMBER_BYTES", 1000)
    with pytest.raises(ValueError, match="limit"):
        load_dataset(str(zpath))
    monkeypatch.setattr(data, "MAX_ZIP_MEMBERS", 1)
    with pytest.raises(ValueError, match="members"):
        load_dataset(str(zpath))


def test_unreadable_image_is_skipped(tmp_path):
    root = _write_tree(tmp_path / "pets")
    (root / "dog" / "broken.png").write_bytes(b"not really a png")
    with pytest.warns(UserWarning, match="unreadable"):
        ds = load_dataset(str(root))
    assert len(ds) == 6


def test_empty_folder_raises(tmp_path):
    with pytest.raises(ValueError, match="expected <root>/<class_name>/<image>.png"):
        load_dataset(str(tmp_path))
    (tmp_path / "readme.txt").write_text("hi")
    with pytest.raises(ValueError, match=r"no images found .*\.txt.*expected <root>/<class_name>"):
        load_dataset(str(tmp_path))


def test_mixed_sizes_are_resized_and_counted(tmp_path):
    root = _write_tree(tmp_path / "pets", sizes={("dog", 1): 20})
    Image.new("L", (30, 12), 90).save(root / "cat" / "wide.png")           # not square: centre-cropped
    with pytest.warns(UserWarning, match="resized 2 image"):
        ds = load_dataset(str(root))
    assert ds.images.shape == (7, 1, 12, 12) and any("resized 2 image(s)" in n for n in ds.notes)
    assert torch.allclose(ds.images[0], torch.full((1, 12, 12), 30 / 127.5 - 1))
    with pytest.warns(UserWarning):
        assert load_dataset(str(root), image_size=10).images.shape == (6, 1, 10, 10)


def test_missing_path_and_unknown_name(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_dataset(str(tmp_path / "nope"))
    with pytest.raises(FileNotFoundError):
        load_dataset(str(tmp_path / "nope.zip"))
    with pytest.raises(ValueError, match="digits"):
        load_dataset("imagenet")
    assert DATASETS == ("digits", "mnist", "mnist_full", "fashion_mnist", "cifar10")


@pytest.mark.skipif(_torchvision_importable(), reason="torchvision imports here")
def test_mnist_without_torchvision():
    with pytest.raises(RuntimeError, match="torchvision") as info:
        load_dataset("mnist_full")
    assert "digits" in str(info.value) and "pip install" in str(info.value)


def test_torchvision_conversion_with_fake_module(monkeypatch, tmp_path):
    class FakeMNIST:
        classes = [f"{i} - x" for i in range(10)]

        def __init__(self, root, train, download):
            assert train and download and root == str(tmp_path)
            self.data = torch.randint(0, 256, (5, 28, 28), dtype=torch.uint8)
            self.targets = torch.tensor([0, 1, 2, 3, 4])

    class FakeCIFAR10:
        classes = ["airplane"] * 10

        def __init__(self, root, train, download):
            self.data = np.random.randint(0, 256, (4, 32, 32, 3), dtype=np.uint8)
            self.targets = [0, 1, 2, 3]

    datasets = types.SimpleNamespace(MNIST=FakeMNIST, CIFAR10=FakeCIFAR10)
    monkeypatch.setitem(sys.modules, "torchvision", types.SimpleNamespace(datasets=datasets))
    mnist = load_dataset("mnist_full", root=str(tmp_path))
    assert mnist.images.shape == (5, 1, 28, 28) and mnist.labels.tolist() == [0, 1, 2, 3, 4]
    assert mnist.images.min() >= -1 and mnist.images.max() <= 1 and mnist.num_classes == 10
    cifar = load_dataset("cifar10", image_size=16)
    assert cifar.images.shape == (4, 3, 16, 16) and cifar.labels.dtype == torch.long
    assert load_dataset("cifar10", channels=1).images.shape == (4, 1, 32, 32)


def test_to_uint8_and_grid(tmp_path, digits):
    u = to_uint8(torch.tensor([-1.0, 0.0, 1.0]).view(1, 1, 1, 3))
    assert u.shape == (1, 1, 3, 1) and u.dtype == torch.uint8 and u.flatten().tolist() == [0, 128, 255]
    grid = make_grid(digits.images[:10])  # 10 images -> 4 per row, 3 rows
    assert grid.shape == (3 * 17 + 1, 4 * 17 + 1, 3) and grid.dtype == np.uint8
    assert make_grid(digits.images[:6], nrow=6, padding=0).shape == (16, 96, 3)
    assert make_grid(torch.zeros(2, 3, 5, 5), nrow=1).shape == (13, 7, 3)
    path = save_image_grid(digits.images[:16], tmp_path / "out" / "grid.png", scale=3)
    with Image.open(path) as im:
        assert im.size == (3 * (4 * 17 + 1), 3 * (4 * 17 + 1)) and im.mode == "RGB"
