"""The checkpoint dropdown names the model in use. A tab takes an uploaded checkpoint over the listed one, so while
a file is uploaded the dropdown gains an entry "uploaded: <file name>" (value checkpoints.UPLOAD) and selects it;
picking a listed model again drops the upload, and removing the upload goes back to the default model.

`wire(dropdown, upload)` installs this on one tab's picker and returns the events after which the model in use
has changed (the dropdown already naming it), for the tab to chain what follows the model (classes, T, guidance).
The handlers take both values; their rule stays "an upload wins" (common.checkpoint_path), which the dropdown now
shows.
"""
from __future__ import annotations

from typing import Any, Optional

import gradio as gr

from . import checkpoints
from .i18n import t
from .uploads import upload_path

QUIET = dict(api_visibility="private", show_progress="hidden")   # as common.QUIET (common imports this module)


def upload_name(upload: Any) -> Optional[str]:
    """The uploaded file's name, or None when there is none (or the value is no file someone uploaded: the
    request itself says so when it runs)."""
    try:
        path = upload_path(upload)
    except gr.Error:
        return None
    return None if path is None else path.name


def choices(upload: Any = None) -> list[tuple[str, str]]:
    """(label, name) pairs for the dropdown: "uploaded: <name>" first while a file is uploaded, then the listed
    checkpoints."""
    name = upload_name(upload)
    listed = checkpoints.choices()
    return ([(t("ckpt.uploaded_choice", name=name), checkpoints.UPLOAD)] if name else []) + listed


def upload_changed(upload: Any = None, checkpoint: Optional[str] = None):
    """A file uploaded: the dropdown selects its entry. The upload removed: the entry goes, and a dropdown that
    still named it goes back to the default model (a listed model picked meanwhile stays picked)."""
    if upload_name(upload):
        return gr.update(choices=choices(upload), value=checkpoints.UPLOAD)
    if checkpoint == checkpoints.UPLOAD:
        return gr.update(choices=choices(None), value=checkpoints.default_name())
    return gr.update(choices=choices(None))


def listed_picked(checkpoint: Optional[str] = None, upload: Any = None) -> tuple[Any, Any]:
    """(dropdown, upload) after the user picks an entry: a listed model drops the upload (and its entry); the
    upload's own entry changes nothing."""
    if checkpoint == checkpoints.UPLOAD:
        return gr.skip(), gr.skip()
    return gr.update(choices=choices(None)), None


def refresh(checkpoint: Optional[str] = None, upload: Any = None):
    """The dropdown's list anew (a run finished, the language changed), keeping the upload's entry while a file is
    there; a dropdown naming an upload that is no longer there goes back to the default model."""
    if checkpoint == checkpoints.UPLOAD and not upload_name(upload):
        return gr.update(choices=choices(None), value=checkpoints.default_name())
    return gr.update(choices=choices(upload))


def wire(dropdown: gr.Dropdown, upload: gr.File) -> list:
    """Install the rules above on one tab's picker; returns the events after which the model in use changed."""
    picked = dropdown.input(listed_picked, [dropdown, upload], [dropdown, upload], **QUIET)
    uploaded = upload.change(upload_changed, [upload, dropdown], [dropdown], **QUIET)
    return [picked, uploaded]


def follow_listing(listing: gr.State, pickers: list) -> None:
    """Each (dropdown, upload) pair's list refreshed whenever the listing signature the page's poll keeps changes
    (demo/tabs/train.poll: a run finished; cleared by the language switch)."""
    for dropdown, upload in pickers:
        listing.change(refresh, [dropdown, upload], [dropdown], **QUIET, concurrency_limit=None)
