"""中文 and English for the app: `t(key, **values)` in the page's language, from the one table in
demo/strings.py.

The language of a request is, in order: an explicit `use(lang)` (tests, the language switch), the
`ddpm_lang` cookie the page's switch sets, the browser's Accept-Language, else English. Static labels are
also handed to gradio's own `gr.I18n` (`L(key)`), so the first paint is already in the browser's language
and gradio's built-in texts follow it; the switch re-labels them from the same table (`relabel`).

Numbers and units are identical in both languages: a value is formatted once and put into either text.
Messages that reach the app in English from the core (ddpm/, diagnostics/) are translated by the message
patterns of demo/messages.py (`message`).
"""
from __future__ import annotations

import contextlib
import json
import re
from contextvars import ContextVar
from typing import Any, Iterator, NamedTuple, Optional

import gradio as gr
from gradio.i18n import I18nData

from .messages import MESSAGES
from .strings import STRINGS

LANGUAGES = ("en", "zh")
DEFAULT = "en"
COOKIE = "ddpm_lang"
_INDEX = {"en": 0, "zh": 1}
_chosen: ContextVar[Optional[str]] = ContextVar("ddpm_lang", default=None)
_formatted: dict[str, tuple[str, str]] = {}     # L(key, **values) -> a key of its own for gr.I18n


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
    """STRINGS[key] in `lang`, formatted with `values`. KeyError for a key the table lacks (a test reads
    every key the code uses, so a user never sees a raw key)."""
    if key in _formatted:
        return _formatted[key][_INDEX[lang]]
    entry = STRINGS[key]
    template = entry[_INDEX[lang]]
    values = {k: v[_INDEX[lang]] if isinstance(v, Both) else v for k, v in values.items()}
    return template.format(**values) if values else template


class Both(NamedTuple):
    """A value that is itself a text in both languages (`both(key)`), placed into another entry by `text`/`L`."""
    en: str
    zh: str


def t(key: str, **values: Any) -> str:
    """STRINGS[key] in the current request's language."""
    return text(key, current(), **values)


def both(key: str, **values: Any) -> Both:
    return Both(text(key, "en", **values), text(key, "zh", **values))


def message(msg: str, lang: Optional[str] = None, fallback: str = "err.core") -> str:
    """An English message from the core (a CheckpointError, a ValueError, a job's reason) in the page's
    language: the first MESSAGES pattern that matches it whole gives the Chinese; none keeps the English."""
    lang = lang or current()
    if lang == "en":
        return msg
    found = _translate(msg)
    return found if found is not None else text(fallback, lang, msg=msg)


_OPTIONAL = re.compile(r"\[\[(.*?)\]\]", re.S)      # [[ … {k} … ]]: shown only when group k matched
_FIELD = re.compile(r"\{(\d+)[^}]*\}")


def _translate(msg: str, depth: int = 0) -> Optional[str]:
    """The Chinese of a whole message by its pattern (a part that is itself a known message, translated
    too), or None."""
    for pattern, zh in _compiled():
        m = pattern.fullmatch(msg.strip())
        if m:
            groups = m.groups()
            zh = _OPTIONAL.sub(lambda o: o.group(1) if all(groups[int(k)] is not None for k in _FIELD.findall(
                o.group(1))) else "", zh)
            parts = [(_translate(g, depth + 1) or g) if g and depth < 6 and len(g) > 12 else (g or "—")
                     for g in groups]
            return zh.format(*parts)
    return None


_COMPILED: list = []


def _compiled() -> list:
    if not _COMPILED:
        _COMPILED.extend((re.compile(p, re.S), zh) for p, zh in MESSAGES)
    return _COMPILED


# ----------------------------------------------------------------------------------- static labels
def L(key: str, **values: Any) -> I18nData:
    """A static label / info / Markdown for a widget: gradio's I18n marker, translated in the browser."""
    if values:
        en, zh = both(key, **values)
        derived = f"{key}:{abs(hash((en, zh))):x}"
        _formatted[derived] = (en, zh)
        return I18nData(derived)
    STRINGS[key]                      # fail at build time on an unknown key
    return I18nData(key)


def gr_i18n() -> gr.I18n:
    """Every table entry (and every formatted label) for gradio's frontend."""
    keys = {k: v for k, v in STRINGS.items() if "{" not in v[0] or not _needs_values(v[0])}
    keys.update(_formatted)
    en = {k: v[0] for k, v in keys.items()}
    zh = {k: v[1] for k, v in keys.items()}
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
            value = [(text(k, code) if k in STRINGS or k in _formatted else k, v) for k, v in key]
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
