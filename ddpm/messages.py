"""Messages as data: a key and its named values, rendered into English or 中文 only where the text is shown.

    m = Message("data.too_few_images", {"n": 3, "need": 10})
    render(m, "en")   -> "3 images found; at least 10 are needed …"       (str(m) is the English)
    render(m, "zh")   -> "只找到 3 张图像；至少需要 10 张 …"

Each layer keeps its own catalogues, one file per language side by side (ddpm/locales/en.toml and zh.toml,
diagnostics/locales/…, demo/locales/…), and registers the folder with `register_catalogue`; the core knows nothing
of the layers above it. A template is a str.format string over the message's values: numbers are formatted once,
here, by the template's format spec ({fid:.3f}, {n:,}), in either language. A value that is itself a Message is
rendered in the same language; a list or tuple of Messages is joined by LIST_SEPARATOR of that language.

Errors raised for a user carry their message: `raise MessageError("data.too_few_images", n=3, need=10)` is a
ValueError whose str() is the English, and whose `.message` the app renders in the page's language.
tests/test_messages.py checks that every catalogue has both languages with the same keys and placeholders.
"""
from __future__ import annotations

import string
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

LANGUAGES = ("en", "zh")
LIST_SEPARATOR = {"en": "; ", "zh": "；"}
_CATALOGUES: dict[str, dict[str, str]] = {lang: {} for lang in LANGUAGES}
_FOLDERS: list[Path] = []


@dataclass(frozen=True)
class Message:
    key: str
    values: Mapping[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return render(self, "en")

    def __hash__(self) -> int:          # values is a dict: hash by key (equal messages share it), so a set or a dict
        return hash(self.key)          # key can hold messages

    def as_dict(self) -> dict:
        """JSON-ready: {"key": ..., "values": {...}} with nested messages as dicts too."""
        return {"key": self.key, "values": {k: _plain(v) for k, v in self.values.items()}}

    @classmethod
    def from_dict(cls, d: Mapping) -> "Message":
        return cls(str(d["key"]), {k: _revive(v) for k, v in dict(d.get("values", {})).items()})


def msg(key: str, **values: Any) -> Message:
    return Message(key, values)


class MessageError(ValueError):
    """A ValueError for the user whose text is a Message: str(e) is the English, e.message renders anywhere."""

    def __init__(self, key: str | Message, **values: Any):
        self.message = key if isinstance(key, Message) else Message(key, values)
        super().__init__(str(self.message))


def register_catalogue(folder: str | Path) -> None:
    """Load <folder>/en.toml and <folder>/zh.toml (flat tables: key = template); a key defined twice is refused."""
    folder = Path(folder).resolve()
    if folder in _FOLDERS:
        return
    loaded = {lang: tomllib.loads((folder / f"{lang}.toml").read_text(encoding="utf-8")) for lang in LANGUAGES}
    for lang, table in loaded.items():
        clash = sorted(set(table) & set(_CATALOGUES[lang]))
        if clash:
            raise ValueError(f"message keys {clash[:5]} of {folder / (lang + '.toml')} are already defined")
    for lang, table in loaded.items():
        _CATALOGUES[lang].update({k: str(v) for k, v in table.items()})
    _FOLDERS.append(folder)


def has_key(key: str) -> bool:
    """Whether a registered catalogue defines `key` (every catalogue has the same keys in both languages)."""
    return key in _CATALOGUES["en"]


def catalogue(lang: str) -> dict[str, str]:
    """Every registered template of one language (a copy)."""
    return dict(_CATALOGUES[_lang(lang)])


def placeholders(template: str) -> set[str]:
    """The value names a template uses: "{n:,} of {total}" -> {"n", "total"}."""
    return {name.split(".")[0].split("[")[0] for _, name, _, _ in string.Formatter().parse(template) if name}


def render(m: Any, lang: str = "en") -> str:
    """A Message (or a list of them, or plain text) in one language. A missing key or value raises KeyError:
    a message that cannot be shown whole is a bug, not something to show half of."""
    lang = _lang(lang)
    if isinstance(m, (list, tuple)):
        return LIST_SEPARATOR[lang].join(render(x, lang) for x in m)
    if not isinstance(m, Message):
        return str(m)
    try:
        template = _CATALOGUES[lang][m.key]
    except KeyError:
        raise KeyError(f"message {m.key!r} has no {lang} template (registered: {[str(f) for f in _FOLDERS]})") \
            from None
    values = {k: render(v, lang) if isinstance(v, (Message, list, tuple)) and _has_message(v) else v
              for k, v in m.values.items()}
    return template.format(**values)


def replace_text(v: Any, old: str, new: str) -> Any:
    """A copy of a Message (or a value) with `old` replaced by `new` in every text value, nested ones too: e.g. a
    server path by a file name before the message is shown."""
    if isinstance(v, Message):
        return Message(v.key, {k: replace_text(x, old, new) for k, x in v.values.items()})
    if isinstance(v, str):
        return v.replace(old, new)
    if isinstance(v, (list, tuple)):
        return type(v)(replace_text(x, old, new) for x in v)
    return v


def _has_message(v: Any) -> bool:
    return isinstance(v, Message) or (isinstance(v, (list, tuple)) and any(isinstance(x, Message) for x in v))


def _lang(lang: str) -> str:
    return "zh" if str(lang).lower().startswith("zh") else "en"


def _plain(v: Any) -> Any:
    if isinstance(v, Message):
        return v.as_dict()
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


def _revive(v: Any) -> Any:
    if isinstance(v, Mapping) and set(v) == {"key", "values"}:
        return Message.from_dict(v)
    if isinstance(v, list):
        return [_revive(x) for x in v]
    return v


register_catalogue(Path(__file__).with_name("locales"))
