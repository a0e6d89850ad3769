"""中文 and English for the app: `t(key, **values)` renders a message of demo/locales/ (one TOML catalogue per
language, registered with ddpm.messages) in the page's language; `show(x)` renders any Message (a core error's
`.message`, a job's status, a note) the same way.

The language of a request is, in order: an explicit `use(lang)` (tests, the language switch), the
`ddpm_lang` cookie the page's switch sets, the browser's Accept-Language, else English. Static labels are
also handed to gradio's own `gr.I18n` (`L(key)`), so the first paint is already in the browser's language
and gradio's built-in texts follow it; the switch re-labels them from the same catalogues (`relabel`).

Numbers are formatted once, by the template of each language ({n:,}, {s:.2f}); a value that is itself a Message
is rendered in the same language. Nothing is translated by matching English text.
"""
from __future__ import annotations

import contextlib
import json
import re
import tomllib
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Iterator, Optional

import gradio as gr
from gradio.i18n import I18nData

from ddpm.messages import Message, catalogue, msg, register_catalogue, render

LANGUAGES = ("en", "zh")
DEFAULT = "en"
COOKIE = "ddpm_lang"
LOCALES = Path(__file__).with_name("locales")
register_catalogue(LOCALES)
KEYS = frozenset(tomllib.loads((LOCALES / "en.toml").read_text(encoding="utf-8")))    # the app's own messages
_chosen: ContextVar[Optional[str]] = ContextVar("ddpm_lang", default=None)
_formatted: dict[str, dict[str, str]] = {}     # L(key, **values) -> a key of its own for gr.I18n: {lang: text}


def normalize(code: Any) -> tuple[str, Optional[str]]:
    """A language code ("zh-CN", "zh_Hans", "en-US", "zh", …) -> ("zh" | "en", a note when it was not
    understood and English is used instead)."""
    s = str(code or "").strip().lower().replace("_", "-")
    if s.startswith("zh"):
        return "zh", None
    if s.startswith("en") or not s:
        return "en", None
    return DEFAULT, f"language {str(code)!r} is not available; showing English (choose en or zh)"


def _request_code() -> Optional[str]:
    """The language the request asks for as sent: its cookie, else the first of its Accept-Language."""
    try:
        from gradio.context import LocalContext
        request = LocalContext.request.get(None)
    except (ImportError, LookupError):
        return None
    if request is None:
        return None
    try:
        cookie = (request.cookies or {}).get(COOKIE)
    except AttributeError:
        cookie = None
    if cookie:
        return cookie
    header = (getattr(request, "headers", None) or {}).get("accept-language", "")
    return header.split(",")[0].split(";")[0].strip() or None


def _from_request() -> Optional[str]:
    code = _request_code()
    return normalize(code)[0] if code else None


def language_note() -> Optional[str]:
    """For a page whose browser asks for a language this app does not have (it answers in English): a note saying
    so, shown under the language switch; None otherwise."""
    code = None if _chosen.get() else _request_code()
    if not code or normalize(code)[1] is None:
        return None
    return text("app.language_note", "en", code=code)


def current() -> str:
    """The language of the request being served ("en" or "zh")."""
    return _chosen.get() or _from_request() or DEFAULT


@contextlib.contextmanager
def use(lang: str) -> Iterator[str]:
    """Serve in `lang` inside the block (normalised: an unknown code means English)."""
    code = normalize(lang)[0]
    token = _chosen.set(code)
    try:
        yield code
    finally:
        _chosen.reset(token)


def text(key: str, lang: str, **values: Any) -> str:
    """The message `key` with `values` in `lang` (a value that is a Message is rendered in `lang` too). KeyError
    for a key no catalogue has (a test reads every key the code uses, so a user never sees a raw key)."""
    if key in _formatted:
        return _formatted[key][normalize(lang)[0]]
    return render(Message(key, values), lang)


def t(key: str, **values: Any) -> str:
    """The message `key` in the current request's language."""
    return text(key, current(), **values)


def show(m: Any, lang: Optional[str] = None) -> str:
    """What the page shows for `m` in its language: a Message (or a list of them) rendered; an exception by the
    Message it carries (`.message`: MessageError, CheckpointError, ImageTooLarge, UnsafeZipError, the app's own
    refusals), else by the generic "err.core" with its English text, the one place English reaches a Chinese
    page; plain text as it is."""
    lang = lang or current()
    if isinstance(m, BaseException):
        carried = getattr(m, "message", None)
        m = carried if isinstance(carried, (Message, list, tuple)) else msg("err.core", msg=str(m))
    return render(m, lang)


def as_message(value: Any) -> Any:
    """A Message read back from JSON (Message.as_dict()), or the value as it is."""
    if isinstance(value, dict) and set(value) == {"key", "values"}:
        return Message.from_dict(value)
    return value


# ----------------------------------------------------------------------------------- static labels
def L(key: str, **values: Any) -> I18nData:
    """A static label / info / Markdown for a widget: gradio's I18n marker, translated in the browser."""
    if values:
        texts = {lang: text(key, lang, **values) for lang in LANGUAGES}
        derived = f"{key}:{abs(hash(tuple(texts.values()))):x}"
        _formatted[derived] = texts
        return I18nData(derived)
    text(key, "en")                   # fail at build time on an unknown key (or one that needs values)
    return I18nData(key)


def gr_i18n() -> gr.I18n:
    """Every static message of the app (and every formatted label) for gradio's frontend."""
    tables = {lang: {k: v for k, v in catalogue(lang).items() if k in KEYS and not _needs_values(v)}
              for lang in LANGUAGES}
    for k, texts in _formatted.items():
        for lang in LANGUAGES:
            tables[lang][k] = texts[lang]
    en, zh = tables["en"], tables["zh"]
    return gr.I18n(en=en, zh=zh, **{"zh-CN": zh, "zh-TW": zh, "zh-HK": zh})


def _needs_values(template: str) -> bool:
    return bool(re.search(r"(?<!\{)\{[a-zA-Z_][^{}]*\}(?!\})", template))


_PROPS = ("label", "info", "value", "placeholder")
_HEADERS: dict[tuple[str, ...], tuple[str, ...]] = {}      # a table's English column headers -> their keys


def headers(*keys: str) -> list[str]:
    """Column headers for a gr.Dataframe: the English texts, remembered by key, so that the page relabels them
    in its language on load and on the switch (`translatable`); a handler returns `t(key)` for each with the data."""
    english = tuple(text(k, "en") for k in keys)
    _HEADERS[english] = keys
    return list(english)


def _key_of(v: Any) -> Optional[str]:
    """The key of an L() marker, as the object or as the string gradio turns some values into."""
    if isinstance(v, I18nData):
        return v.key
    if isinstance(v, str) and v.startswith(_MARK):
        try:
            return json.loads(v[len(_MARK):]).get("key")
        except ValueError:
            return None
    return None


_MARK = "__i18n__"


def translatable(demo: gr.Blocks) -> list[tuple[Any, str, Any]]:
    """(block, prop, key or [(key-or-text, value)] choices or [keys] of headers) for every static text built with
    L() or `headers`."""
    found = []
    for block in demo.blocks.values():
        for prop in _PROPS:
            key = _key_of(getattr(block, prop, None))
            if key:
                found.append((block, prop, key))
        heads = getattr(block, "headers", None)
        if isinstance(heads, list) and all(isinstance(h, str) for h in heads) and tuple(heads) in _HEADERS:
            found.append((block, "headers", list(_HEADERS[tuple(heads)])))
        choices = getattr(block, "choices", None)
        if isinstance(choices, list) and any(isinstance(c, (list, tuple)) and _key_of(c[0]) for c in choices):
            found.append((block, "choices", [(_key_of(c[0]) or c[0], c[1]) for c in choices]))
    return found


def relabel(found: list[tuple[Any, str, Any]], lang: str, tables: Optional[dict] = None) -> dict:
    """{block: gr.update(prop=text in lang)} for the language switch. A table's headers travel in its value
    (gradio draws them from there), so `tables` gives each table's current value and its rows are kept."""
    code = normalize(lang)[0]
    updates: dict = {}
    for block, prop, key in found:
        if prop == "choices":
            value = [(text(k, code) if k in KEYS or k in _formatted else k, v) for k, v in key]
        elif prop == "headers":
            prop, value = "value", {"headers": [text(k, code) for k in key],
                                    "data": _rows((tables or {}).get(block))}
        else:
            value = text(key, code)
        updates.setdefault(block, {})[prop] = value
    return {block: gr.update(**props) for block, props in updates.items()}


def _rows(value: Any) -> list:
    """The rows of a gr.Dataframe's value as a handler receives it (a pandas DataFrame, a dict or rows), without
    the empty row an empty table holds."""
    if value is None:
        return []
    rows = value.values.tolist() if hasattr(value, "values") and not isinstance(value, dict) else (
        value.get("data") or [] if isinstance(value, dict) else list(value))
    return [r for r in rows if any(c not in ("", None) for c in r)]
