"""Issue 22: no small upload takes the server's memory or time. Every image is sized from its header and every zip
from its central directory, against the same caps wherever the product opens one (training data, a diagnostics
reference set, a diffusers pipeline), before anything is decoded, unpacked or written.

The bombs are built here, cheaply: a PNG header written by hand declares any size in 60 bytes, a real 12000×12000
PNG of mode "1" is 18 MB in memory and a few kB on disk, and a zip's central directory is patched to declare
sizes its members do not have."""
from __future__ import annotations

import io
import re
import struct
import types
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

import ddpm.images as images
import ddpm.safezip as safezip
from ddpm.checkpoint import load_checkpoint
from ddpm.data import ImageTooLarge, load_dataset
from ddpm.formats.base import CheckpointError
from ddpm.safezip import UnsafeZipError
from ddpm.sources import folder
from diagnostics.reference import load_reference

CJK = re.compile(r"[\u4e00-\u9fff]")


# ----------------------------------------------------------------------------------------------- builders
def png(size=8, value=128, mode="L") -> bytes:
    buf = io.BytesIO()
    shape = (size, size) if mode == "L" else (size, size, 3)
    Image.fromarray(np.full(shape, value, dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def png_header(width: int, height: int, colour_type: int = 0) -> bytes:
    """A PNG whose IHDR declares width × height (grey, or RGB for colour_type 2) and whose pixel data is 64 zero
    bytes: what an attacker writes by hand."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def make_zip(path: Path, members: dict, compression=zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, body in members.items():
            zf.writestr(name, body)
    return path


def declare_sizes(path: Path, sizes: dict[str, tuple[int, int]]) -> Path:
    """Patch the central directory so that each named member declares (file_size, compress_size)."""
    raw = bytearray(path.read_bytes())
    pos = raw.find(b"PK\x01\x02")
    while pos != -1:
        name_len = struct.unpack_from("<H", raw, pos + 28)[0]
        name = raw[pos + 46:pos + 46 + name_len].decode()
        if name in sizes:
            file_size, compress_size = sizes[name]
            struct.pack_into("<II", raw, pos + 20, compress_size, file_size)
        pos = raw.find(b"PK\x01\x02", pos + 46)
    path.write_bytes(bytes(raw))
    return path


@pytest.fixture
def decoded(monkeypatch) -> list:
    """The sizes of the images PIL decodes during the test (every decode goes through ImageFile.load)."""
    calls = []
    original = ImageFile.ImageFile.load

    def load(self, *a, **kw):
        calls.append(self.size)
        return original(self, *a, **kw)
    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    return calls


@pytest.fixture
def unpacked(monkeypatch) -> list:
    """The zip members opened for reading during the test (every read goes through ZipFile.open)."""
    calls = []
    original = zipfile.ZipFile.open

    def open_(self, name, mode="r", *a, **kw):
        if mode == "r":                               # not the test's own writing of its zips
            calls.append(getattr(name, "filename", name))
        return original(self, name, mode, *a, **kw)
    monkeypatch.setattr(zipfile.ZipFile, "open", open_)
    return calls


def peak_rss_growth(fn) -> int:
    """Bytes by which the process's peak resident memory grew while fn ran (the peak is reset first, through
    /proc/self/clear_refs; the test is skipped where Linux does not allow that)."""
    def hwm() -> int:
        return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]) * 1024
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pytest.skip("cannot reset the peak resident memory here")
    before = hwm()
    fn()
    return hwm() - before


def raised(fn, *args, **kw) -> BaseException:
    with pytest.raises(Exception) as e:
        fn(*args, **kw)
    return e.value


def assert_chinese(e: BaseException) -> None:
    from demo import i18n
    zh, msg = i18n.show(e, "zh"), str(e)        # the Message the error carries, in 中文 and in English
    assert "英文原文" not in zh and CJK.search(zh), msg
    numbers = lambda s: set(re.findall(r"(?<![\w.])\d+(?:[.,]\d+)*", s))      # noqa: E731
    assert numbers(msg) <= numbers(zh), (msg, zh)


RANDOM_HEX = np.random.default_rng(0).bytes(5 * 2**19).hex()        # 5 MiB of text that packs about 2:1
REFERENCE_CK = types.SimpleNamespace(unet_config=types.SimpleNamespace(image_size=8, in_channels=1))


# ------------------------------------------------------------------------------------------------ images
def test_a_header_over_the_image_cap_is_refused_before_any_image_is_decoded(tmp_path, decoded):
    z = make_zip(tmp_path / "pets.zip", {"cat/0.png": png(), "dog/0.png": png(),
                                         "dog/big.png": png_header(12000, 12000)})
    e = raised(load_dataset, str(z))
    assert isinstance(e, ImageTooLarge) and isinstance(e, ValueError)
    assert str(e) == (f"{z}: image 'dog/big.png' declares 12000×12000 = 144,000,000 pixels in its header (limit "
                      "16,777,216 per image); resize the images to at most 4096×4096")
    assert decoded == []                              # not even the small images before it
    root = tmp_path / "pets"                          # a folder: the same
    for name, body in (("cat/0.png", png()), ("dog/big.png", png_header(5000, 4000, colour_type=2))):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(body)
    assert "'dog/big.png' declares 5000×4000 = 20,000,000 pixels" in str(raised(load_dataset, str(root)))
    assert decoded == []
    assert images.MAX_IMAGE_PIXELS == 4096 * 4096


def test_the_image_cap_holds_for_a_real_image_just_over_it(tmp_path, monkeypatch, decoded):
    """A real, decodable image one pixel over the (lowered) cap is refused; one at the cap loads."""
    monkeypatch.setattr(images, "MAX_IMAGE_PIXELS", 16 * 16)
    ok = make_zip(tmp_path / "ok.zip", {"a/0.png": png(16), "b/0.png": png(16)})
    assert len(load_dataset(str(ok))) == 2 and decoded
    decoded.clear()
    big = make_zip(tmp_path / "big.zip", {"a/0.png": png(16), "b/0.png": png(17)})
    assert "declares 17×17 = 289 pixels in its header (limit 256 per image); resize the images to at most 16×16" \
        in str(raised(load_dataset, str(big)))
    assert decoded == []


def test_a_real_12000_square_png_bomb_costs_no_memory(tmp_path, decoded):
    """The audit's case: a 147 kB zip of one 12000×12000 grey PNG took +1.3 GB. Decoded it would be 144 MB of
    pixels and 576 MB as floats; refused from its header, the process's peak memory grows by less than 50 MB."""
    buf = io.BytesIO()
    Image.new("1", (12000, 12000)).save(buf, format="PNG")
    z = make_zip(tmp_path / "bomb.zip", {"a/bomb.png": buf.getvalue(), "b/0.png": png()}, zipfile.ZIP_DEFLATED)
    assert z.stat().st_size < 200_000
    errors = []
    grown = peak_rss_growth(lambda: errors.append(raised(load_dataset, str(z))))
    assert isinstance(errors[0], ImageTooLarge) and "12000×12000 = 144,000,000 pixels" in str(errors[0])
    assert decoded == [] and grown < 50 * 2**20, grown


def test_pil_s_own_bomb_error_and_warning_become_the_same_refusal(tmp_path, decoded):
    """Over 2 × PIL's MAX_IMAGE_PIXELS PIL itself raises DecompressionBombError on open, over 1 × it warns: neither
    leaks (not even with warnings as errors); both are the cap's message."""
    over_error = make_zip(tmp_path / "e.zip", {"a/0.png": png(), "b/0.png": png_header(20000, 20000)})
    e = raised(load_dataset, str(over_error))
    assert isinstance(e, ImageTooLarge) and not isinstance(e, Image.DecompressionBombError)
    assert "image 'b/0.png' declares 400,000,000 pixels in its header (limit 16,777,216 per image)" in str(e)
    over_warning = make_zip(tmp_path / "w.zip", {"a/0.png": png(), "b/0.png": png_header(10000, 10000)})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        e = raised(load_dataset, str(over_warning))
    assert isinstance(e, ImageTooLarge) and "declares 10000×10000 = 100,000,000 pixels" in str(e)
    assert decoded == []


def test_the_total_pixels_are_counted_from_every_header_before_the_first_decode(tmp_path, decoded, unpacked):
    """60 images of 2048×2048, each under the per-image cap, come to 503 M pixels decoded and resized: refused
    having read only their headers, none decoded; the message says what would fit."""
    members = {f"{c}/{i}.png": png_header(2048, 2048) for c in "ab" for i in range(30)}
    z = make_zip(tmp_path / "many.zip", members)
    e = raised(load_dataset, str(z))
    assert isinstance(e, ImageTooLarge)
    assert str(e) == (f"{z}: its 60 images come to 503,316,480 pixels decoded and resized to 2048×2048 (limit "
                      "250,000,000 per data set, counted from their headers); resize the images to at most "
                      "1443×1443, use fewer of them or a smaller image size")
    assert decoded == [] and len(unpacked) == 60     # each member opened once, for its header
    assert images.MAX_TOTAL_PIXELS == 250_000_000


def test_the_total_cap_counts_the_resized_images_too(tmp_path, monkeypatch, decoded):
    z = make_zip(tmp_path / "small.zip", {f"a/{i}.png": png(16) for i in range(5)})
    monkeypatch.setattr(folder, "MAX_TOTAL_PIXELS", 5 * 16 * 16 + 5 * 8 * 8)        # decoded + resized to 8×8
    assert len(load_dataset(str(z), image_size=8)) == 5
    decoded.clear()
    assert "its 5 images come to 2,560 pixels decoded and resized to 16×16 (limit 1,600 per data set" \
        in str(raised(load_dataset, str(z)))
    assert decoded == []


def test_the_builtin_sets_are_held_to_the_same_total(decoded):
    e = raised(load_dataset, "digits", image_size=1024)          # 1,797 × (8² + 1024²) pixels
    assert isinstance(e, ImageTooLarge) and "digits: its 1,797 images come to 1,884,406,080 pixels" in str(e)


@pytest.mark.parametrize("name, body", [
    ("truncated.png", png(32)[:60]),                 # the header is there, the pixel data cut off
    ("header.png", png(32)[:20]),                    # cut inside the header
    ("text.png", b"just some text, not an image"),
    ("gif.png", None),                               # a GIF named .png: not opened (PNG and JPEG only)
    ("zero.png", png_header(0, 10)),                 # a header that declares no pixels
    ("jpeg.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"),
])
def test_malformed_images_are_skipped_and_counted_never_a_traceback(tmp_path, name, body):
    if body is None:
        buf = io.BytesIO()
        Image.new("L", (8, 8)).save(buf, format="GIF")
        body = buf.getvalue()
    z = make_zip(tmp_path / "mixed.zip", {"a/0.png": png(), "b/0.png": png(), f"b/{name}": body})
    with pytest.warns(UserWarning, match=r"skipped 1 unreadable image\(s\) in mixed.zip: b/" + re.escape(name)):
        ds = load_dataset(str(z))
    assert len(ds) == 2 and ds.skipped == 1


def test_a_saved_hugging_face_dataset_is_sized_from_its_headers(tmp_path, decoded):
    """`datasets` would decode every image on access; the loader reads the column undecoded and checks headers."""
    datasets = pytest.importorskip("datasets")
    rows = {"img": [{"bytes": png(), "path": None}, {"bytes": png_header(12000, 12000), "path": None}],
            "label": [0, 1]}
    ds = datasets.Dataset.from_dict(rows, features=datasets.Features(
        {"img": datasets.Image(), "label": datasets.ClassLabel(names=["a", "b"])}))
    ds.save_to_disk(str(tmp_path / "saved"))
    e = raised(load_dataset, str(tmp_path / "saved"))
    assert isinstance(e, ImageTooLarge) and "image 'row 1' declares 12000×12000 = 144,000,000 pixels" in str(e)
    assert decoded == []


def test_normal_data_still_loads(tmp_path, decoded):
    """scikit-learn's digits as a zip of PNGs in class folders, and a small flat folder."""
    from sklearn.datasets import load_digits
    d = load_digits()
    z = tmp_path / "digits.zip"
    with zipfile.ZipFile(z, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for i, (img, y) in enumerate(zip(d.images, d.target)):
            buf = io.BytesIO()
            Image.fromarray((img * 255 / 16).astype(np.uint8)).save(buf, format="PNG")
            zf.writestr(f"digits/{y}/{i}.png", buf.getvalue())
    ds = load_dataset(str(z))
    assert len(ds) == 1797 and ds.class_names == [str(c) for c in range(10)] and ds.images.shape[1:] == (1, 8, 8)
    assert len(decoded) >= 1797                      # the spy sees decoding where there is some
    flat = tmp_path / "flat"
    flat.mkdir()
    for i in range(3):
        (flat / f"{i}.png").write_bytes(png(12, 40 * i, mode="RGB"))
    ds = load_dataset(str(flat))
    assert ds.images.shape == (3, 3, 12, 12) and ds.class_names == []


# -------------------------------------------------------------------------------------------------- zips
def _pipeline_members(extra: dict) -> dict:
    return {"model_index.json": '{"_class_name": "DDPMPipeline"}', "unet/config.json": "{}",
            "scheduler/scheduler_config.json": "{}", **extra}


OPENERS = {   # every zip the product opens, with the caller's own per-member limit
    "training data": (lambda p: load_dataset(str(p)), lambda extra: {"a/0.png": png(), "b/0.png": png(), **extra}),
    "reference set": (lambda p: load_reference(str(p), REFERENCE_CK), lambda extra: {"a/0.png": png(), **extra}),
    "diffusers pipeline": (lambda p: load_checkpoint(p), _pipeline_members),
}


@pytest.mark.parametrize("opener", OPENERS)
def test_a_member_that_packs_over_the_ratio_is_refused_before_it_is_read(tmp_path, opener, unpacked):
    """The audit's zero-filled members, 2 MiB each here (~1000:1), refused from the central directory."""
    load, members = OPENERS[opener]
    z = make_zip(tmp_path / "zeros.zip", members({"a/zeros.json": b"\0" * 2**21}), zipfile.ZIP_DEFLATED)
    with zipfile.ZipFile(z) as zf:
        packed = zf.getinfo("a/zeros.json").compress_size
    e = raised(load, z)
    assert isinstance(e, (UnsafeZipError, CheckpointError))
    assert str(e) == (f"{z.name if opener == 'diffusers pipeline' else z}: member 'a/zeros.json' unpacks to 2,097,152 "
                      f"bytes from {packed:,} packed, over 100:1 (the limit for members over 1,048,576 bytes), as a "
                      "zip bomb does; remove it or zip real data")
    assert unpacked == []


@pytest.mark.parametrize("opener", OPENERS)
def test_members_that_declare_more_than_the_total_are_refused_before_any_is_read(tmp_path, opener, unpacked):
    """The audit's 40 members of 45 MB (1.8 GB from a 6 MB zip): each under the per-member cap, at ratio 1,
    together over MAX_TOTAL_BYTES; declared in the central directory, nothing unpacked."""
    load, members = OPENERS[opener]
    names = [f"a/{i}.json" for i in range(40)]
    z = make_zip(tmp_path / "total.zip", members({n: b"x" for n in names}))
    declare_sizes(z, {n: (45 * 10**6, 45 * 10**6) for n in names})
    e = raised(load, z)
    total = 40 * 45 * 10**6 + sum(len(b if isinstance(b, bytes) else b.encode()) for b in members({}).values())
    assert (f"total.zip unpacks to {total:,} bytes in all (limit 1,073,741,824), its largest member 'a/0.json' to "
            "45,000,000; make the zip smaller, or unzip it and pass the folder (on the command line)") in str(e)
    assert unpacked == []
    assert safezip.MAX_TOTAL_BYTES == 2**30 and safezip.MAX_RATIO == 100


@pytest.mark.parametrize("opener, limit", [("training data", folder.MAX_MEMBER_BYTES),
                                           ("reference set", folder.MAX_MEMBER_BYTES),
                                           ("diffusers pipeline", safezip.MAX_MEMBER_BYTES)])
def test_a_member_that_declares_a_huge_size_is_refused_before_it_is_read(tmp_path, opener, limit, unpacked):
    load, members = OPENERS[opener]
    z = declare_sizes(make_zip(tmp_path / "huge.zip", members({"a/huge.png": b"x" * 100})),
                      {"a/huge.png": (2**31, 2**31)})
    assert f"member 'a/huge.png' unpacks to 2,147,483,648 bytes (limit {limit:,}); remove it or make it smaller" \
        in str(raised(load, z))
    assert unpacked == []


def test_a_diffusers_config_over_its_cap_is_refused_before_anything_is_written(tmp_path, monkeypatch, unpacked):
    import ddpm.formats.diffusers as diffusers_format
    monkeypatch.setattr(diffusers_format, "extract_members", lambda *a, **kw: pytest.fail("extracted"))
    z = make_zip(tmp_path / "pipe.zip", _pipeline_members({"unet/config.json": RANDOM_HEX}), zipfile.ZIP_DEFLATED)
    e = raised(load_checkpoint, z)
    assert isinstance(e, CheckpointError)
    assert str(e) == "pipe.zip: unet/config.json is over 4 MB; it is not a diffusers config"
    assert unpacked == []


def test_the_training_zip_caps_are_safezip_s(monkeypatch, tmp_path, unpacked):
    """One place for the rules: lowering safezip's caps lowers them for the training data too."""
    z = make_zip(tmp_path / "five.zip", {f"a/{i}.png": png(16) for i in range(5)})
    monkeypatch.setattr(safezip, "MAX_TOTAL_BYTES", 4 * len(png(16)))
    assert "five.zip unpacks to" in str(raised(load_dataset, str(z))) and unpacked == []
    monkeypatch.setattr(safezip, "MAX_TOTAL_BYTES", 2**30)
    monkeypatch.setattr(safezip, "MAX_MEMBER_BYTES", 10)
    assert "(limit 10)" in str(raised(load_dataset, str(z))) and unpacked == []


# --------------------------------------------------------------------------------------- the app and zh
def test_the_diagnostics_tab_s_reference_upload_meets_the_same_caps(tmp_path, monkeypatch, decoded, unpacked):
    """demo/tabs/diagnose.py hands the uploaded reference .zip to diagnostics.reference.load_reference, which reads
    it with the data loader: a bomb is refused with the cap's message, in a gr.Error, before any work."""
    gr = pytest.importorskip("gradio")
    from demo.tabs import diagnose
    monkeypatch.setenv("DDPM_WORKBENCH_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("DDPM_WORKBENCH_CACHE", str(tmp_path / "cache"))
    ref = make_zip(tmp_path / "reference.zip", {"a/0.png": png(), "b/big.png": png_header(12000, 12000)})
    with pytest.raises(gr.Error) as e:
        diagnose.diagnose("bundled", None, "quick", 0, str(ref), False)
    assert "image 'b/big.png' declares 12000×12000 = 144,000,000 pixels in its header" in str(e.value.message)
    assert decoded == []
    zeros = make_zip(tmp_path / "zeros.zip", {"a/0.png": png(), "a/z.png": b"\0" * 2**21}, zipfile.ZIP_DEFLATED)
    unpacked.clear()
    with pytest.raises(gr.Error) as e:
        diagnose.diagnose("bundled", None, "quick", 0, str(zeros), False)
    assert "member 'a/z.png' unpacks to 2,097,152 bytes from" in str(e.value.message) and unpacked == []


def test_every_cap_s_message_has_its_chinese(tmp_path, monkeypatch):
    z = lambda name, members, **kw: make_zip(tmp_path / name, members, **kw)     # noqa: E731
    msgs = [raised(load_dataset, str(z("img.zip", {"a/0.png": png(), "b/0.png": png_header(12000, 9000)}))),
            raised(load_dataset, str(z("pil.zip", {"a/0.png": png(), "b/0.png": png_header(20000, 20000)}))),
            raised(load_dataset, str(z("many.zip", {f"a/{i}.png": png_header(4000, 4000) for i in range(20)}))),
            raised(load_dataset, str(z("ratio.zip", {"a/0.png": b"\0" * 2**21}, compression=zipfile.ZIP_DEFLATED))),
            raised(load_dataset, str(declare_sizes(z("total.zip", {f"a/{i}.png": b"x" for i in range(30)}),
                                                   {f"a/{i}.png": (40 * 10**6, 40 * 10**6) for i in range(30)}))),
            raised(load_checkpoint, z("pipe.zip", _pipeline_members({"unet/config.json": RANDOM_HEX})))]
    for e in msgs:
        assert_chinese(e)
    from demo.i18n import show as message
    assert message(msgs[0], "zh").endswith(
        "的文件头声明了 12000×9000 = 108,000,000 个像素（每张图像上限 16,777,216）；请把图像缩小到最多 4096×4096")
    assert "文件头声明了 400,000,000 个像素" in message(msgs[1], "zh")
