"""ddpm.safezip: the one set of rules for untrusted zips, used by the training-data reader and the diffusers
loader alike (traversal paths, symbolic links, oversize members, members that lie about their size)."""
import io
import stat
import zipfile

import pytest
from PIL import Image

from ddpm.data import load_dataset
from ddpm.safezip import UnsafeZipError, checked_members, read_member


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("L", (8, 8), 128).save(buf, format="PNG")
    return buf.getvalue()


def _zip(path, extra):
    with zipfile.ZipFile(path, "w") as zf:
        for cls in ("a", "b"):
            zf.writestr(f"{cls}/0.png", _png())
        extra(zf)
    return path


def _symlink(zf):
    info = zipfile.ZipInfo("a/link.png")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    zf.writestr(info, "/etc/passwd")


@pytest.mark.parametrize("name, extra, message", [
    ("traversal", lambda zf: zf.writestr("../../etc/evil.png", _png()), "traversal"),
    ("absolute", lambda zf: zf.writestr("/tmp/evil.png", _png()), "traversal"),
    ("symlink", _symlink, "symbolic link"),
])
def test_training_zip_refuses_unsafe_members(tmp_path, name, extra, message):
    path = _zip(tmp_path / f"{name}.zip", extra)
    with pytest.raises(ValueError, match=message):
        load_dataset(str(path))
    assert len(load_dataset(str(_zip(tmp_path / "fine.zip", lambda zf: None)))) == 2


def test_member_that_understates_its_size_is_caught(tmp_path):
    path = tmp_path / "liar.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("a/0.png", b"x" * 5000)
    with zipfile.ZipFile(path) as zf:
        (parts, info), = checked_members(zf, "liar.zip", 10_000)
        assert parts == ("a", "0.png")
        info.file_size = 10                           # what a crafted header would claim
        with pytest.raises(UnsafeZipError, match="liar.zip: member 'a/0.png'"):   # never more than its size is read
            read_member(zf, info, 100, "liar.zip")
    with zipfile.ZipFile(path) as zf:
        (_, info), = checked_members(zf, "liar.zip", 10_000)
        with pytest.raises(UnsafeZipError, match="more than 100 bytes"):
            read_member(zf, info, 100, "liar.zip")     # the true size is over the caller's limit


def test_a_small_member_may_pack_tighter_than_the_ratio(tmp_path):
    """The ratio cap is for members over RATIO_FLOOR_BYTES: a short config of spaces or a blank image is fine."""
    from ddpm.safezip import MAX_RATIO, RATIO_FLOOR_BYTES
    path = tmp_path / "small.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a/spaces.json", b" " * RATIO_FLOOR_BYTES)          # ~1000:1, at the floor
        zf.writestr("a/over.json", b" " * (RATIO_FLOOR_BYTES + 1))
    with zipfile.ZipFile(path) as zf:
        assert zf.getinfo("a/spaces.json").file_size > MAX_RATIO * zf.getinfo("a/spaces.json").compress_size
        with pytest.raises(UnsafeZipError, match=r"member 'a/over.json' unpacks to 1,048,577 bytes from [\d,]+ packed, "
                                                 r"over 100:1"):
            checked_members(zf, "small.zip")
        zf.infolist().remove(zf.getinfo("a/over.json"))
        assert [parts for parts, _ in checked_members(zf, "small.zip")] == [("a", "spaces.json")]


def test_a_damaged_member_is_refused_when_its_header_is_read(tmp_path):
    """Image headers are read through a stream (MemberStream): a member whose packed data is damaged is refused
    as read_member refuses it, not taken for an unreadable image and skipped."""
    import numpy as np
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)).save(buf, format="PNG")
    path = tmp_path / "damaged.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a/0.png", buf.getvalue())
        zf.writestr("b/0.png", _png())
    raw = bytearray(path.read_bytes())
    start = 30 + len("a/0.png")                       # the first member's packed data follows its local header
    raw[start:start + 16] = b"\xff" * 16
    path.write_bytes(bytes(raw))
    with pytest.raises(UnsafeZipError, match=r"damaged.zip: member 'a/0.png' cannot be read \(.*\); the zip is "
                                             "damaged or crafted"):
        load_dataset(str(path))


def test_a_zip_is_sized_by_its_end_record_before_zipfile_parses_its_directory(tmp_path, monkeypatch):
    """A small zip that lists very many members is refused from the 22 bytes of its end record: zipfile never
    reads the directory (which is what costs memory), for training data and diffusers pipelines alike."""
    import zipfile
    from ddpm import safezip
    from ddpm.sources import folder
    path = tmp_path / "many.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(50):
            zf.writestr(f"a/{i}.png", b"")
    assert safezip.declared_directory(path)[0] == 50
    parsed = []
    monkeypatch.setattr(zipfile.ZipFile, "_RealGetContents", lambda self: parsed.append(1))
    with pytest.raises(safezip.UnsafeZipError, match=r"many.zip declares 50 members \(limit 20\)"):
        safezip.open_zip(path, 20)
    monkeypatch.setattr(folder, "MAX_ZIP_MEMBERS", 20)
    with pytest.raises(ValueError, match=r"declares 50 members \(limit 20\)"):
        load_dataset(str(path))
    assert parsed == []                          # zipfile never parsed the directory
    monkeypatch.setattr(safezip, "MAX_DIRECTORY_BYTES", 100)
    with pytest.raises(safezip.UnsafeZipError, match=r"declares a central directory of [\d,]+ bytes \(limit 100\)"):
        safezip.open_zip(path, 1000)
    (tmp_path / "cut.zip").write_bytes(path.read_bytes()[:-30])
    with pytest.raises(safezip.UnsafeZipError, match="no end-of-central-directory record"):
        safezip.open_zip(tmp_path / "cut.zip")
