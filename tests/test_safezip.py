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
