"""No English-only user-facing text in the core and the diagnostics: every error a user can meet, every CLI line and
every warning is a message key with named values (ddpm/messages.py), rendered in the reader's language.

The rule, read from the source (ast) of every module in ddpm/ and diagnostics/:
- an exception a user meets (ValueError and its kin, FileNotFoundError, PermissionError, OSError, RuntimeError,
  FloatingPointError, and every project error class: *Error, *Refused, *Missing, *Unavailable, ...) may not be
  built from text (a str literal that is not a message key, an f-string, a "…" + x or "…" % x, "…".format(x));
  it is built from a key and its values: `MessageError("data.too_few_images", n=3, need=10)`;
- TypeError, AssertionError, NotImplementedError, KeyError, IndexError and AttributeError are a programmer's errors
  (a wrong type passed in Python, an impossible state): they stay English and are not checked;
- print(...) and warnings.warn(...) may not be given English text either: a CLI renders a message in its --lang.
ALLOWED lists the few exceptions to the rule, each with its reason.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

import diagnostics  # noqa: F401  (registers diagnostics/locales)
from ddpm import messages

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted(p for layer in ("ddpm", "diagnostics") for p in (ROOT / layer).rglob("*.py"))
KEY = re.compile(r"[a-z][a-z0-9_]*(\.[a-z0-9_]+)+")
WORD = re.compile(r"[A-Za-z]{3,}")
PROGRAMMING = {"TypeError", "AssertionError", "NotImplementedError", "KeyError", "IndexError", "AttributeError"}
USER_FACING = {"ValueError", "FileNotFoundError", "FileExistsError", "PermissionError", "OSError", "IOError",
               "IsADirectoryError", "NotADirectoryError", "RuntimeError", "FloatingPointError", "ArithmeticError",
               "LookupError", "Exception", "SystemExit"}
PROJECT_ERROR = re.compile(r"[A-Z]\w*(Error|Refused|Missing|Unavailable|NotFound|TooLarge|Diverged|NotEmpty|"
                           r"NotWritable|Exception)$")
TEXT_SINKS = {"print", "warn"}       # print(...), warnings.warn(...)

# (path, callee, the text's first characters) -> why this English text is allowed
ALLOWED = {
    ("ddpm/messages.py", "ValueError", "message keys "):
        "two catalogues define the same key: a developer's mistake at import time, not a user's",
    ("ddpm/sampling.py", "RuntimeError", ""):
        "an internal invariant (a sampler's own count of network calls): a bug, never a user's input",
    ("diagnostics/text.py", "warn", "language "):
        "the language asked for is unknown, so English is the one language left to say so in",
    ("diagnostics/__main__.py", "print", "HTML:"): "format names and file paths, the same in every language",
    ("diagnostics/__main__.py", "print", "JSON:"): "format names and file paths, the same in every language",
    ("diagnostics/__main__.py", "print", "Markdown:"): "format names and file paths, the same in every language",
    ("diagnostics/__main__.py", "print", "Samples:"): "file label and path, as the lines above it",
}
# modules whose remaining English is being converted by another change at the same time; each entry is removed
# when that change lands (the test then holds those modules to the rule as well)
PENDING: dict[str, str] = {}     # files whose conversion is under way (none now)


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    callee: str
    text: str          # the text's first characters, as written (an f-string's constant parts)

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.callee}({self.text!r}…)"


def _callee(node: ast.Call) -> str:
    f = node.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""


def _text(arg: ast.AST) -> str | None:
    """The English a call is given, or None when the argument is a key, a message or anything that is not text."""
    if isinstance(arg, ast.Constant):
        if isinstance(arg.value, str) and not KEY.fullmatch(arg.value) and WORD.search(arg.value):
            return arg.value
        return None
    if isinstance(arg, ast.JoinedStr):
        parts = "".join(v.value for v in arg.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
        return parts if WORD.search(parts) else None
    if isinstance(arg, ast.BinOp) and isinstance(arg.op, (ast.Add, ast.Mod)):
        return _text(arg.left) or _text(arg.right)
    if isinstance(arg, ast.Call) and isinstance(arg.func, ast.Attribute) and arg.func.attr == "format":
        return _text(arg.func.value)
    return None


def _checked(callee: str) -> bool:
    if callee in PROGRAMMING:
        return False
    return callee in USER_FACING or callee in TEXT_SINKS or bool(PROJECT_ERROR.fullmatch(callee))


def english_text(source: str, path: str = "<string>") -> list[Finding]:
    """Every call in `source` that gives a user English text instead of a message key (see the module docstring)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and node.args and _checked(callee := _callee(node)):
            text = _text(node.args[0])
            if text is not None:
                found.append(Finding(path, node.lineno, callee, text[:60]))
    return found


def _allowed(f: Finding) -> bool:
    return f.path in PENDING or any(f.path == p and f.callee == c and f.text.startswith(t) for p, c, t in ALLOWED)


def test_no_user_facing_english_text_in_the_core_or_the_diagnostics():
    findings = [f for p in MODULES
                for f in english_text(p.read_text(encoding="utf-8"), p.relative_to(ROOT).as_posix())]
    left = [str(f) for f in findings if not _allowed(f)]
    assert left == [], ("English text for a user; raise MessageError('layer.key', name=value) (or a subclass) with "
                        "the key in the layer's locales/en.toml and zh.toml, or render(msg(...), lang) for a CLI "
                        "line:\n" + "\n".join(left))


def test_every_allowance_is_still_needed():
    findings = [f for p in MODULES
                for f in english_text(p.read_text(encoding="utf-8"), p.relative_to(ROOT).as_posix())]
    for path, callee, head in ALLOWED:
        assert any(f.path == path and f.callee == callee and f.text.startswith(head) for f in findings), \
            f"ALLOWED[{(path, callee, head)!r}] matches nothing any more: remove it"
    for path in PENDING:
        assert (ROOT / path).is_file(), path


PLANTED = '''
import warnings
from ddpm.messages import MessageError, msg, render

class DataMissing(MessageError, FileNotFoundError):
    pass

def f(x, e, lang):
    raise ValueError(f"x must be positive (got {x})")                 # 1 an f-string
    raise CheckpointError("the file is damaged; retrain")               # 2 English given to a project error
    raise FileNotFoundError("no such file: " + str(x))                  # 3 a concatenation
    raise RuntimeError("need %s images" % x)                            # 4 %-formatting
    raise DataMissing("{} is gone".format(x))                              # 5 str.format
    raise SystemExit(f"cannot continue: {e}")                           # 6 an exit message
    print(f"wrote {x} images")                                          # 7 a CLI line
    warnings.warn("this precision is slow here")                        # 8 a warning
    raise MessageError("data.too_few_images", n=3, need=10)             # fine: a key and its values
    raise DataMissing("data.path_missing", path=x)                         # fine
    raise TypeError(f"expected a tensor, got {type(x)}")                # fine: a programmer's error
    raise KeyError(x)                                                   # fine
    raise ValueError(str(e))                                            # fine: not text written here
    print(render(msg("train.finished", step=1), lang))                  # fine
    print()                                                             # fine
    print(f"{x:.4f}  {e}")                                              # fine: numbers only, no words
'''


def test_the_guard_finds_each_kind_of_english_text_it_claims():
    found = english_text(PLANTED)
    assert [f.callee for f in found] == ["ValueError", "CheckpointError", "FileNotFoundError", "RuntimeError",
                                         "DataMissing", "SystemExit", "print", "warn"]
    assert found[0].text == "x must be positive (got )" and found[0].line == 9


def test_the_guard_reports_a_planted_error_in_a_module():
    planted = Finding("ddpm/new_module.py", 3, "ValueError", "bad value")
    assert not _allowed(planted)
    assert english_text('raise ValueError("bad value; use 3")', "ddpm/new_module.py") == \
        [Finding("ddpm/new_module.py", 1, "ValueError", "bad value; use 3")]


def _keys_named(source: str) -> set[str]:
    """Literal message keys given to msg / Message / MessageError / any *Error-like constructor."""
    keys = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            callee, value = _callee(node), node.args[0].value
            if (callee in ("msg", "Message") or PROJECT_ERROR.fullmatch(callee)) and isinstance(value, str) \
                    and KEY.fullmatch(value):
                keys.add(value)
    return keys


def test_every_key_the_core_and_the_diagnostics_name_has_a_template_in_both_languages():
    named = set().union(*(_keys_named(p.read_text(encoding="utf-8")) for p in MODULES))
    en, zh = messages.catalogue("en"), messages.catalogue("zh")
    assert len(named) > 300
    assert sorted(k for k in named if k not in en or k not in zh) == []


@pytest.mark.parametrize("key, values, en, zh", [
    ("hf.no_rows", {"spec": "hf:x"}, "'hf:x' holds no rows", "'hf:x' 里没有任何数据行"),
    ("choice.unknown", {"kind": "schedule", "value": "zigzag", "choices": ["cosine", "linear"]},
     "unknown schedule 'zigzag'; choose from ['cosine', 'linear']",
     "未知的 schedule 'zigzag'；请从 ['cosine', 'linear'] 中选择"),
    ("option.out_of_range_hint", {"name": "lr", "rule": messages.msg("option.rule_in", low=0, high=1, left="(",
                                                                      right=")"),
                                  "value": 5.0, "hint": messages.msg("option.usual", value="1e-4..2e-3")},
     "lr must be in (0, 1) (got 5.0); 1e-4..2e-3 is usual", "lr 必须在 (0, 1) 之内（收到的是 5.0）；通常取 1e-4..2e-3"),
])
def test_a_converted_message_renders_in_both_languages(key, values, en, zh):
    m = messages.Message(key, values)
    assert messages.render(m, "en") == en and messages.render(m, "zh") == zh
