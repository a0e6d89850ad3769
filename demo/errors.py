"""The app's refusals and notes, as gradio popups in the page's language (their titles too; no traceback in the
log)."""
from __future__ import annotations

from typing import Any

import gradio as gr

from .i18n import show, t


def _html_safe(text: Any) -> str:
    """Angle brackets kept visible: gradio renders a popup's message as HTML."""
    return str(text).replace("<", "‹").replace(">", "›")


def user_error(text: Any) -> gr.Error:
    """A gr.Error for a user mistake: `text` already in the page's language (t(...)), or a Message to render in it."""
    return gr.Error(_html_safe(show(text)), print_exception=False, title=t("toast.error"))


def core_error(e: BaseException) -> gr.Error:
    """A user_error for an exception from the core, the job manager or the budget: the Message it carries, in the
    page's language (an exception without one shows its English text under a generic message)."""
    return user_error(show(e))


def warning(text: Any) -> None:
    """A yellow popup (gr.Warning) in the page's language."""
    gr.Warning(_html_safe(show(text)), title=t("toast.warning"))


def info(text: Any) -> None:
    """A blue popup (gr.Info) in the page's language."""
    gr.Info(_html_safe(show(text)), title=t("toast.info"))
