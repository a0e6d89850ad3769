"""The diagnostics' words as data: every sentence a check, a note or the report writes is a Message (a key of
diagnostics/locales/en.toml and zh.toml, side by side, and its named values, numbers unformatted), rendered into
English or 中文 only where it is shown (report.html, report.md, the app, the CLI). See ddpm/messages.py.

    say(msg("check.schedule.ok", name="linear", T=1000, beta0=1e-4, alphabar_T=4e-5), "zh")
    duration(95.0)                     -> Message("unit.s", {"v": 95.0})   ("95.0 s" / "95.0 秒")
    sentences([fix_a, fix_b])          -> one Message: "Do A. Do B." / "做 A。做 B。"

A report.json keeps every message as {"key": …, "values": …} beside its English text (`revive` reads them back),
so `python -m diagnostics render --lang zh` renders a saved report in Chinese from its keys.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional

from ddpm.messages import LANGUAGES, Message, has_key, msg, register_catalogue, render

register_catalogue(Path(__file__).with_name("locales"))

Text = Message | str          # a str is English someone else wrote (an exception's text, a caller's own words)


def language(code) -> str:
    """"en" or "zh" for a language code ("zh-CN", "en_US", …); another falls back to English with a warning."""
    s = str(code or "en").strip().lower().replace("_", "-")
    if s.startswith(LANGUAGES):
        return s[:2]
    warnings.warn(f"language {str(code)!r} is not available; writing English (choose en or zh)", stacklevel=3)
    return "en"


def say(m: Any, lang: str = "en") -> str:
    """A Message, a list of them (joined as a list of that language), a str (as is) or None ("") in `lang`."""
    if m is None:
        return ""
    if isinstance(m, (list, tuple)):
        return render([x for x in m if x], lang)
    return render(m, lang)


def sentences(parts: Iterable[Optional[Message]]) -> Optional[Message]:
    """Several sentences as one message, each once, in order ("A. B." / "A。B。"); None when there are none."""
    unique: list[Message] = []
    for p in parts:
        if p and p not in unique:          # by value: a Message's values are a dict, so it is not hashable
            unique.append(p)
    if not unique:
        return None
    out = unique[0]
    for nxt in unique[1:]:
        out = msg("text.sentences", first=out, then=nxt)
    return out


def duration(seconds: float) -> Message:
    """A time with the unit a reader wants: ms below 1 s, s below 2 min, min below 2 h, else h."""
    if seconds < 1:
        return msg("unit.ms", v=seconds * 1e3)
    if seconds < 120:
        return msg("unit.s", v=seconds)
    if seconds < 7200:
        return msg("unit.min", v=seconds / 60)
    return msg("unit.h", v=seconds / 3600)


def known(key: str) -> bool:
    """Whether a message key has a template (in English; tests hold every key to both languages)."""
    return has_key(key)


def check_title(key: str, fallback: str = "", lang: str = "en") -> str:
    """A check's title (key check.<key>.title); `fallback` for a check the catalogue does not know."""
    return render(Message(f"check.{key}.title"), lang) if known(f"check.{key}.title") else (fallback or key)


def verdict_word(verdict: str, lang: str = "en") -> str:
    return say(Message(f"verdict.{verdict}"), lang)


def to_plain(x: Any) -> Any:
    """A value with its messages as {"key": …, "values": …} (JSON-ready, as Message.as_dict)."""
    if isinstance(x, Message):
        return x.as_dict()
    if isinstance(x, Mapping):
        return {k: to_plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [to_plain(v) for v in x]
    return x


def weights_word(weights: Any) -> Any:
    """How a checkpoint's weights were loaded, in words: "EMA weights", "raw weights", "weights as saved" (a diffusers
    folder), or "weights unknown" where nothing says."""
    key = {"ema": "weights.ema", "raw": "weights.raw", "as saved": "weights.as_saved"}.get(str(weights))
    if key:
        return Message(key)
    return Message("weights.unknown") if weights in (None, "", "unknown") else str(weights)


def revive(x: Any) -> Any:
    """The inverse of to_plain: every {"key": …, "values": …} in a loaded value becomes a Message again."""
    if isinstance(x, Mapping):
        if set(x) == {"key", "values"} and isinstance(x.get("values"), Mapping):
            return Message.from_dict(x)
        return {k: revive(v) for k, v in x.items()}
    if isinstance(x, list):
        return [revive(v) for v in x]
    return x


def unknown(value: Any) -> Any:
    """The value, or the word "unknown" where a file does not say (None, "")."""
    return Message("text.unknown") if value is None or value == "" else value


__all__ = ["Text", "Message", "msg", "language", "say", "sentences", "duration", "check_title", "verdict_word",
           "to_plain", "revive", "unknown", "weights_word", "known"]
