"""Reading an untrusted .zip: refuse what could escape, lie or exhaust memory, before any member is read.

One set of rules for every zip the product opens (training data, a diffusers pipeline): a member whose path is
absolute or climbs out with `..`, a symbolic link, a member that unpacks to more than the limit (declared or
actual), or too many members, is refused with a message naming it.
"""
from __future__ import annotations

import stat
import zipfile
from pathlib import Path, PurePosixPath

MAX_MEMBERS = 200_000


class UnsafeZipError(ValueError):
    """A zip that is refused; the message names the member and what to do."""


def member_parts(info: zipfile.ZipInfo, source: str) -> tuple[str, ...]:
    """The member's path as parts, refusing absolute paths, drive letters, `..` and symbolic links."""
    name = info.filename.replace("\\", "/")
    parts = PurePosixPath(name).parts
    if name.startswith("/") or ".." in parts or (parts and ":" in parts[0]):
        raise UnsafeZipError(f"{source}: member {info.filename!r} has an absolute or climbing path (traversal); "
                             "make the zip from inside the folder, with relative paths only")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise UnsafeZipError(f"{source}: member {info.filename!r} is a symbolic link; zip the files themselves "
                             "(zip without -y / --symlinks)")
    return parts


def checked_members(zf: zipfile.ZipFile, source: str, max_member_bytes: int,
                    max_members: int = MAX_MEMBERS) -> list[tuple[tuple[str, ...], zipfile.ZipInfo]]:
    """(path parts, info) of every file member, after checking them all; directories are left out."""
    infos = zf.infolist()
    if len(infos) > max_members:
        raise UnsafeZipError(f"{source} has {len(infos):,} members (limit {max_members:,}); "
                             "use a folder or a smaller zip")
    out = []
    for info in infos:
        parts = member_parts(info, source)
        if info.is_dir():
            continue
        if info.file_size > max_member_bytes:
            raise UnsafeZipError(f"{source}: member {info.filename!r} unpacks to {info.file_size:,} bytes "
                                 f"(limit {max_member_bytes:,}); remove it or make it smaller")
        out.append((parts, info))
    return out


def read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, max_bytes: int, source: str = "zip") -> bytes:
    """The member's bytes, in memory, never more than max_bytes (a header that understates the size is caught)."""
    try:
        with zf.open(info) as f:
            data = f.read(max_bytes + 1)
    except (zipfile.BadZipFile, EOFError, OSError) as e:   # zipfile checks sizes and CRCs itself
        raise UnsafeZipError(f"{source}: member {info.filename!r} cannot be read ({e}); the zip is damaged or "
                             "crafted") from None
    if len(data) > max_bytes:
        raise UnsafeZipError(f"{source}: member {info.filename!r} unpacks to more than {max_bytes:,} bytes (the "
                             "limit); remove it or make it smaller")
    return data


def extract_members(zf: zipfile.ZipFile, members: list[tuple[tuple[str, ...], zipfile.ZipInfo]], dest: Path,
                    max_member_bytes: int, source: str = "zip") -> None:
    """Write checked members under dest (their paths were checked not to climb out of it)."""
    dest = Path(dest)
    for parts, info in members:
        target = dest.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(read_member(zf, info, max_member_bytes, source))
