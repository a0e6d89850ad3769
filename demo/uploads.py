"""Uploads: only a file someone uploaded is taken, and a request gradio would fail on before any handler runs (too
few values, a URL it would fetch, a file not uploaded here) gets a message of its own. demo/common.py re-exports
`upload_path`, `check_upload_size` and `refuse_malformed_requests` for the tabs."""
from __future__ import annotations

import inspect
import os
import re
import stat
from pathlib import Path
from typing import Any, Optional

import gradio as gr

from ddpm.formats.base import clip
from ddpm.messages import msg

from . import guard, limits
from .errors import user_error


def refuse_malformed_requests(demo: gr.Blocks) -> None:
    """Requests gradio itself would fail on before any handler runs get a message of their own and one log line,
    where gradio answers with its bare "raised an exception" (and, for the first two, a traceback in the log):
    fewer values than the endpoint takes (/sample with 3 of its 12); a file given as a URL, which gradio would
    fetch (no request is made); a file that is not one uploaded here (a server path, a file:// URL, a path no file
    can have, not gradio's FileData). Installed on the app's Blocks once, for every endpoint."""
    preprocess = demo.preprocess_data

    async def checked(block_fn, inputs: list, *args, **kwargs):
        api = clip(str(block_fn.api_name or block_fn.name), 60)
        wanted = len(block_fn.inputs)
        if len(inputs) < wanted:
            try:
                names = list(inspect.signature(block_fn.fn).parameters)[:wanted]
            except (TypeError, ValueError):
                names = []
            missing = ", ".join(names[len(inputs):]) if len(names) == wanted else "…"
            raise _logged(api, user_error(msg("err.too_few_values", api=api, n=wanted, got=len(inputs),
                                            missing=missing)))
        for value in inputs:
            error = _file_error(value)
            if error is not None:
                raise _logged(api, error)
        try:
            return await preprocess(block_fn, inputs, *args, **kwargs)
        except gr.Error:
            raise
        except (ValueError, OSError):       # gradio's path checks, FileData validation, a path no file can have
            raise _logged(api, user_error(msg("upload.not_uploaded"))) from None
    demo.preprocess_data = checked


def _file_error(value: Any, depth: int = 0) -> Optional[gr.Error]:
    """The refusal of a value holding gradio FileData that names a URL (gradio would fetch it) or holds no path, or
    None. Looks 3 levels deep: a file input's value is FileData or a list of it."""
    if depth > 3:
        return None
    if isinstance(value, list):
        return next((e for e in (_file_error(v, depth + 1) for v in value[:100]) if e is not None), None)
    if not isinstance(value, dict) or "meta" not in value:
        return None
    meta = value["meta"]
    if not isinstance(meta, dict):
        return user_error(msg("upload.not_uploaded"))
    if meta.get("_type") != "gradio.FileData":
        return None
    path = value.get("path")
    if not isinstance(path, str):
        return user_error(msg("upload.not_uploaded"))
    return _url_error(path)


def _logged(where: str, error: gr.Error) -> gr.Error:
    """A refusal raised before any handler runs (bind logs the handlers' own): its one log line."""
    guard.log_refused(where, str(error.message))
    return error


# ------------------------------------------------------------------------------------------- checkpoints
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://|data:)")     # http://…, file://…, data:…
MAX_PATH_CHARS = 4096                                       # PATH_MAX: longer is no file's path


def _url_error(path: Any) -> Optional[gr.Error]:
    """The refusal of an upload given as a URL, or None."""
    if isinstance(path, str) and _URL.match(path.strip()):
        return user_error(msg("upload.url", value=clip(path, 100)))
    return None


def upload_path(upload: Any) -> Optional[Path]:
    """A gr.File value (a path string, or a dict / FileData with a path) -> the Path of the file, or None.

    Only a file someone uploaded is taken, so each refusal says what to upload instead: a URL (never fetched), a
    folder (gradio's upload folder holds every user's uploads and outputs: read as a data set, it would be all
    of them), a link, a device or a pipe, a value that is no path at all. A path that is not there (any more) is
    returned; check_upload_size says so."""
    if upload is None or upload == "" or upload == []:
        return None
    if isinstance(upload, (list, tuple)):
        upload = upload[0]
    if isinstance(upload, dict):
        upload = upload.get("path") or upload.get("name")
    if isinstance(upload, os.PathLike):
        upload = os.fspath(upload)
    path = upload if isinstance(upload, str) else getattr(upload, "path", None) or getattr(upload, "name", None) \
        or upload                                   # gradio's FileData, a tempfile
    if not isinstance(path, str) or not path.strip():
        raise user_error(msg("upload.not_file", value=clip(path, 100)))
    if _url_error(path) is not None:
        raise _url_error(path)
    name = clip(path.rstrip("/").rsplit("/", 1)[-1], 100)       # what a message shows: never a server path
    if "\0" in path or len(path) > MAX_PATH_CHARS:
        raise user_error(msg("upload.bad_path", value=name))
    p = Path(path)
    try:
        mode = p.lstat().st_mode                 # the entry itself: a link is not followed
    except FileNotFoundError:
        return p
    except OSError:                              # a name over 255 bytes, a file inside a file, no permission
        raise user_error(msg("upload.bad_path", value=name)) from None
    if stat.S_ISDIR(mode):
        raise user_error(msg("upload.folder", name=name or "/"))
    if not stat.S_ISREG(mode):
        raise user_error(msg("upload.not_regular", name=name))
    return p


def check_upload_size(path: Path, what: str) -> None:
    """`what`: the message key naming the upload ("upload.what_checkpoint", "upload.what_zip")."""
    if not path.exists():
        raise user_error(msg("upload.gone", what=msg(what), name=clip(path.name, 100)))
    size = path.stat().st_size
    if size > limits.MAX_UPLOAD_BYTES:
        raise user_error(msg("upload.too_big", name=path.name, size=size / 2**20, mb=limits.MAX_UPLOAD_MB))
