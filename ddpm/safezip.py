"""Reading an untrusted .zip: refuse what could escape, lie or exhaust memory, before any member is read.

One set of rules for every zip the product opens (training data, a reference set for the diagnostics, a
diffusers pipeline), checked on the central directory alone, before a byte is unpacked or written: a member
whose path is absolute or climbs out with `..`, a symbolic link, too many members, a member that declares more
than MAX_MEMBER_BYTES (or the caller's lower limit), a member that unpacks more than MAX_RATIO times its packed
size (a zip bomb's signature), or members that declare more than MAX_TOTAL_BYTES together, is refused with a
message naming the zip, the member, its size and the limit. The declared sizes are trusted only that far: a
member is never read past its limit (read_member), so a header that understates the size is caught too.
"""
from __future__ import annotations

import stat
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from .messages import MessageError

MAX_MEMBERS = 200_000                # members in one zip
MAX_MEMBER_BYTES = 512 * 2**20       # one member, unpacked (callers may ask for less: an image member gets 50 MiB)
MAX_TOTAL_BYTES = 1 * 2**30          # all members together, unpacked
MAX_RATIO = 100                      # unpacked / packed size of one member, for members over RATIO_FLOOR_BYTES
RATIO_FLOOR_BYTES = 1 * 2**20        # smaller members may pack tighter (a short JSON of spaces, a blank image)

Members = list[tuple[tuple[str, ...], zipfile.ZipInfo]]


class UnsafeZipError(MessageError):
    """A zip that is refused; the message names the member and what to do."""


def member_parts(info: zipfile.ZipInfo, source: str) -> tuple[str, ...]:
    """The member's path as parts, refusing absolute paths, drive letters, `..` and symbolic links."""
    name = info.filename.replace("\\", "/")
    parts = PurePosixPath(name).parts
    if name.startswith("/") or ".." in parts or (parts and ":" in parts[0]):
        raise UnsafeZipError("zip.traversal", source=source, member=info.filename)
    if stat.S_ISLNK(info.external_attr >> 16):
        raise UnsafeZipError("zip.symlink", source=source, member=info.filename)
    return parts


def check_sizes(info: zipfile.ZipInfo, source: str, max_member_bytes: int) -> None:
    """The member's declared size against the per-member limit and its compression ratio against MAX_RATIO."""
    if info.file_size > max_member_bytes:
        raise UnsafeZipError("zip.member_too_big", source=source, member=info.filename, size=info.file_size,
                             limit=max_member_bytes)
    if info.file_size > RATIO_FLOOR_BYTES and info.file_size > MAX_RATIO * info.compress_size:
        raise UnsafeZipError("zip.bomb", source=source, member=info.filename, size=info.file_size,
                             packed=info.compress_size, ratio=MAX_RATIO, floor=RATIO_FLOOR_BYTES)


def checked_members(zf: zipfile.ZipFile, source: str, max_member_bytes: int = MAX_MEMBER_BYTES,
                    max_members: int = MAX_MEMBERS) -> Members:
    """(path parts, info) of every file member, after checking them all on the central directory (nothing is
    read); directories are left out. max_member_bytes: the caller's per-member limit, never above
    MAX_MEMBER_BYTES."""
    infos = zf.infolist()
    if len(infos) > max_members:
        raise UnsafeZipError("zip.too_many_members", source=source, n=len(infos), limit=max_members)
    limit = min(max_member_bytes, MAX_MEMBER_BYTES)
    out = []
    for info in infos:
        parts = member_parts(info, source)
        if info.is_dir():
            continue
        check_sizes(info, source, limit)
        out.append((parts, info))
    total = sum(info.file_size for _, info in out)
    if total > MAX_TOTAL_BYTES:
        largest = max((info for _, info in out), key=lambda i: i.file_size)
        raise UnsafeZipError("zip.total_too_big", source=source, total=total, limit=MAX_TOTAL_BYTES,
                             member=largest.filename, size=largest.file_size)
    return out


MAX_DIRECTORY_BYTES = 64 * 2**20     # the central directory itself (about 100 bytes a member: ~600,000 members)
_EOCD = b"PK\x05\x06"                # end of central directory record: entries at +10 (2 bytes), its size at +12 (4)


def declared_directory(path: str | Path) -> tuple[int, int]:
    """(members, central directory bytes) as the zip's end record declares them, read from its last 64 KiB without
    parsing the directory (zipfile.ZipFile reads the whole directory into memory when it opens). A ZIP64 zip
    declares 0xFFFF / 0xFFFFFFFF there: returned as such, so the caps below refuse it."""
    with open(path, "rb") as f:
        f.seek(0, 2)
        size = f.tell()
        f.seek(max(0, size - 65_557))
        tail = f.read()
    at = tail.rfind(_EOCD)
    if at < 0 or len(tail) < at + 22:
        raise UnsafeZipError("zip.no_end_record", name=Path(path).name)
    return int.from_bytes(tail[at + 10:at + 12], "little"), int.from_bytes(tail[at + 12:at + 16], "little")


def open_zip(path: str | Path, max_members: int = MAX_MEMBERS) -> zipfile.ZipFile:
    """zipfile.ZipFile(path), after its end record's member count and directory size are checked against the caps
    (a small zip listing a million empty members would otherwise cost hundreds of MB before any check)."""
    name = Path(path).name
    members, directory = declared_directory(path)
    if members > max_members:
        raise UnsafeZipError("zip.declares_members", name=name, n=members, limit=max_members)
    if directory > MAX_DIRECTORY_BYTES:
        raise UnsafeZipError("zip.declares_directory", name=name, size=directory, limit=MAX_DIRECTORY_BYTES)
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise UnsafeZipError("zip.unreadable", name=name, error=str(e)) from None


def _unreadable(info: zipfile.ZipInfo, source: str, e: BaseException) -> UnsafeZipError:
    return UnsafeZipError("zip.member_unreadable", source=source, member=info.filename, error=str(e))


_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError)     # zipfile checks sizes and CRCs itself


def read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, max_bytes: int, source: str = "zip") -> bytes:
    """The member's bytes, in memory, never more than max_bytes (a header that understates the size is caught)."""
    try:
        with zf.open(info) as f:
            data = f.read(max_bytes + 1)
    except _ZIP_ERRORS as e:
        raise _unreadable(info, source, e) from None
    if len(data) > max_bytes:
        raise UnsafeZipError("zip.member_over_limit", source=source, member=info.filename, limit=max_bytes)
    return data


class MemberStream:
    """A checked member opened for reading, seekable, for a reader that needs only its first bytes (an image
    header): it unpacks no further than it is read, never past the declared size, and a damaged member is
    UnsafeZipError (refused, as in read_member) rather than an error the reader would take as its own."""

    def __init__(self, zf: zipfile.ZipFile, info: zipfile.ZipInfo, source: str = "zip"):
        self._info, self._source = info, source
        self._f = self._guard(zf.open, info)

    def _guard(self, fn, *args):
        try:
            return fn(*args)
        except _ZIP_ERRORS as e:
            raise _unreadable(self._info, self._source, e) from None

    def read(self, n: int = -1) -> bytes:
        return self._guard(self._f.read, n)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._guard(self._f.seek, offset, whence)

    def tell(self) -> int:
        return self._f.tell()

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> "MemberStream":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def extract_members(zf: zipfile.ZipFile, members: Members, dest: Path, max_member_bytes: int,
                    source: str = "zip") -> None:
    """Write checked members under dest (their paths were checked not to climb out of it)."""
    dest = Path(dest)
    for parts, info in members:
        target = dest.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(read_member(zf, info, max_member_bytes, source))
