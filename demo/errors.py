"""The app's two kinds of refusal, as gradio errors in the page's language (no traceback in the log)."""
from __future__ import annotations

import gradio as gr

from .i18n import message


def user_error(text: str) -> gr.Error:
    """A gr.Error for a user mistake, already in the page's language (t(...)): no traceback in the log;
    angle brackets kept visible (gradio renders the message as HTML)."""
    return gr.Error(str(text).replace("<", "‹").replace(">", "›"), print_exception=False)


def core_error(e: BaseException) -> gr.Error:
    """A user_error for an exception from the core (its English message translated where the table knows it)."""
    return user_error(message(str(e)))
