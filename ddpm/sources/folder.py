"""Image folders and .zip files: <root>/<class_name>/<image> (class-conditional) or <root>/<image> (flat).

Layouts (a .zip may wrap either in one top-level folder):

    root/cat/001.png, root/dog/002.jpg, ...   ->  class_names = ["cat", "dog"], labels = the folder
    root/001.png, root/002.png, ...           ->  class_names = [] (unconditional), labels all 0

Every image's header is read first (its size and mode, nothing decoded): an image over MAX_IMAGE_PIXELS, or a
data set whose images decoded and resized come to more than MAX_TOTAL_PIXELS, is refused before any image is
decoded (ddpm.data). Then every image is decoded in memory (a .zip is never unpacked to disk; its members pass
ddpm.safezip's checks first), converted to grey or RGB (a folder mixing both is converted to `channels`, default
RGB, and the converted images counted) and resized to image_size (default: the first image's size;
an image of another size or shape is centre-cropped to a square and resized, and counted). Unreadable files are
skipped and counted; both counts land in ImageDataset.notes (and as a UserWarning) so that a caller can show them.
"""
from __future__ import annotations

import warnings
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Callable

import torch

from ..messages import Message, MessageError, msg
from ..images import (IMAGE_EXTENSIONS, MAX_TOTAL_PIXELS, ImageDataset, ImageHeader, ImageTooLarge, check_total_pixels,
                      decode_image, fit, read_image_header, to_channels)
from ..safezip import MAX_MEMBERS, MemberStream, UnsafeZipError, checked_members, open_zip, read_member

MAX_MEMBER_BYTES = 50 * 2**20        # a single zip member larger than this is refused (an image needs less)
MAX_ZIP_MEMBERS = MAX_MEMBERS
LAYOUT = msg("data.layout")   # the layouts read here, as errors name them


@dataclass(frozen=True)
class Member:
    parts: tuple[str, ...]               # path relative to the root
    open: Callable[[], BinaryIO]         # a seekable stream, for the header: only its first bytes are read
    read: Callable[[], bytes]            # every byte (bounded for a zip member), to decode


def _folder_members(root: Path) -> list[Member]:
    return [Member(p.relative_to(root).parts, lambda p=p: p.open("rb"), p.read_bytes)
            for p in sorted(root.rglob("*")) if p.is_file()]


def _zip_members(zf: zipfile.ZipFile, source: Path) -> list[Member]:
    """Members read in memory only, after safezip's checks on the central directory (no traversal, no symlinks,
    none over the size or ratio limits, not too much in all)."""
    src = str(source)
    return [Member(parts, lambda info=info: MemberStream(zf, info, src),
                   lambda info=info: read_member(zf, info, MAX_MEMBER_BYTES, src))
            for parts, info in checked_members(zf, src, MAX_MEMBER_BYTES, MAX_ZIP_MEMBERS)]


def note(notes: list[Message], message: Message) -> None:
    """Record a message for the caller (ImageDataset.notes) and raise it (in English) as a UserWarning for the log."""
    notes.append(message)
    warnings.warn(str(message), stacklevel=4)


def _layout(members: list[Member], source: Path, notes: list[str]) -> tuple[list[Member], bool]:
    """-> (image members with paths relative to the layout root, has_classes)."""
    junk = lambda parts: any(p.startswith(".") or p == "__MACOSX" for p in parts)
    found = sorted((m for m in members if not junk(m.parts) and m.parts[-1].lower().endswith(IMAGE_EXTENSIONS)),
                   key=lambda m: m.parts)
    if not found:
        kinds = sorted({PurePosixPath(m.parts[-1]).suffix.lower() or "(none)" for m in members if not junk(m.parts)})
        if members:
            raise MessageError("data.no_images_ext", source=str(source), n=len(members), exts=", ".join(kinds),
                               layout=LAYOUT)
        raise MessageError("data.no_images_empty", source=str(source), layout=LAYOUT)
    paths = [m.parts for m in found]
    if len({p[0] for p in paths}) == 1 and all(len(p) >= 2 for p in paths) and any(len(p) >= 3 for p in paths):
        found = [replace(m, parts=m.parts[1:]) for m in found]      # strip one wrapping folder
    in_folders = [m for m in found if len(m.parts) >= 2]
    if not in_folders:
        return found, False                                           # flat: every image at the root
    if len(in_folders) < len(found):
        note(notes, msg("data.note_top_level", n=len(found) - len(in_folders), source=source.name))
    skipped = len(members) - len(found)
    if skipped:
        note(notes, msg("data.note_not_images", n=skipped, source=source.name))
    return in_folders, True


def _read_headers(found: list[Member], source: Path) -> tuple[list[tuple[Member, ImageHeader]], list[str]]:
    """(member, what its header declares) of every image, and the unreadable ones ("name (error)"). Nothing is
    decoded; an image over the pixel cap or an unsafe zip member is refused here, not skipped."""
    headers, bad = [], []
    for m in found:
        name = "/".join(m.parts)
        try:
            with m.open() as fp:
                headers.append((m, read_image_header(fp, name, str(source))))
        except (ImageTooLarge, UnsafeZipError):
            raise
        except Exception as e:                     # not a PNG/JPEG, a truncated header, an unsupported mode ...
            bad.append(f"{name} ({type(e).__name__})")
    return headers, bad


def load_tree(members: list[Member], source: Path, image_size: int | None, channels: int | None) -> ImageDataset:
    """Decode the images of a folder / zip (see the module docstring for the layouts), after every header has
    been read and the data set's pixels counted."""
    notes: list[Message] = []
    found, has_classes = _layout(members, source, notes)
    headers, bad = _read_headers(found, source)
    if headers:
        first = headers[0][1]
        size = image_size or min(first.width, first.height)
        check_total_pixels([(h.width, h.height) for _, h in headers], size, str(source), MAX_TOTAL_PIXELS)
    images, labels, native, resized = [], [], [], 0
    for m, header in headers:
        name = "/".join(m.parts)
        try:
            arr = decode_image(m.read(), None, name, str(source))     # as stored: grey or RGB, converted below
        except (ImageTooLarge, UnsafeZipError):    # refused, not skipped: a zip member over its limit, or a file
            raise                                  # that grew since its header was read
        except Exception as e:                     # truncated, corrupt pixel data ...
            bad.append(f"{name} ({type(e).__name__})")
            continue
        x, changed = fit(arr, size)
        resized += changed
        native.append(x.shape[1])                  # 1 grey, 3 colour, as stored
        images.append(to_channels(x, channels))    # asked for: converted now, so a grey set holds one channel
        labels.append(m.parts[0] if has_classes else "")
    if not images:
        raise MessageError("data.none_readable", source=str(source), n=len(found), example=bad[0])
    if bad:
        note(notes, msg("data.note_unreadable", n=len(bad), source=source.name, examples=", ".join(bad[:3]),
                        more=" …" if len(bad) > 3 else ""))
    if resized and image_size is None:
        note(notes, msg("data.note_resized", n=resized, size=size))
    c = channels or max(native)
    n_grey = native.count(1)
    if 0 < n_grey < len(images):                   # a folder mixing grey and colour images: converted, and counted
        kind = msg("data.kind_grey" if c == 1 else "data.kind_rgb")
        note(notes, msg("data.note_mixed_channels", source=source.name, grey=n_grey, colour=len(images) - n_grey,
                        n=sum(k != c for k in native), kind=kind))
    class_names = sorted(set(labels)) if has_classes else []
    label_t = torch.tensor([class_names.index(l) if has_classes else 0 for l in labels], dtype=torch.long)
    return ImageDataset(torch.cat([to_channels(x, c) for x in images]), label_t, class_names, source.stem,
                        notes=notes, skipped=len(bad))


def load_path(path: Path, image_size: int | None, channels: int | None) -> ImageDataset:
    """A folder or a .zip (read in memory; nothing is extracted or kept)."""
    if path.is_dir():
        return load_tree(_folder_members(path), path, image_size, channels)
    if not zipfile.is_zipfile(path):
        raise MessageError("data.not_zip", path=str(path), layout=LAYOUT)
    with open_zip(path, MAX_ZIP_MEMBERS) as zf:
        return load_tree(_zip_members(zf, path), path, image_size, channels)
