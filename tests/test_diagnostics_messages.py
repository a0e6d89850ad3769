"""diagnostics/locales: one catalogue per language, side by side. Every key has both languages with the same
placeholders and the same number formats (the renderer formats each number once, by its template); every key the
diagnostics' code names exists, and every key of the catalogue is used; the helpers of diagnostics.text."""
from __future__ import annotations

import ast
import re
import string
import tomllib
from dataclasses import fields
from pathlib import Path

import pytest

import diagnostics  # noqa: F401  (registers diagnostics/locales)
from ddpm.messages import msg, render
from diagnostics.text import duration, revive, say, sentences, to_plain, unknown, weights_word

ROOT = Path(__file__).resolve().parents[1]
LOCALES = ROOT / "diagnostics" / "locales"
SOURCE = sorted((ROOT / "diagnostics").rglob("*.py"))
CJK = re.compile(r"[\u4e00-\u9fff]")
KEY = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")


def table(lang: str) -> dict[str, str]:
    return tomllib.loads((LOCALES / f"{lang}.toml").read_text(encoding="utf-8"))


def fields_of(template: str) -> dict[str, str]:
    """{placeholder: its conversion and format spec}: "{n:,} of {name!r}" -> {"n": ":,", "name": "!r"}."""
    out = {}
    for _, name, spec, conv in string.Formatter().parse(template):
        if name is not None:
            out[name] = (f"!{conv}" if conv else "") + (f":{spec}" if spec else "")
    return out


def test_every_key_has_both_languages_with_the_same_placeholders_and_formats():
    en, zh = table("en"), table("zh")
    assert sorted(en) == sorted(zh), f"keys in one language only: {sorted(set(en) ^ set(zh))}"
    for key in en:
        assert fields_of(en[key]) == fields_of(zh[key]), key
        assert not CJK.search(en[key]), key
        # Chinese unless the template is only symbols, numbers and names (FID {x:.2f}, "{name} {role}", "EMA")
        bare = re.sub(r"\{[^}]*\}", "", zh[key])
        assert CJK.search(zh[key]) or not re.search(r"[A-Za-z]{3,} [A-Za-z]{3,}", bare), key


def _source_strings() -> tuple[set[str], set[str], str]:
    """(every string constant in diagnostics/**.py, the prefixes of f-string keys such as f"check.{key}.title",
    the source text)."""
    consts, prefixes, text = set(), set(), []
    for path in SOURCE:
        src = path.read_text(encoding="utf-8")
        text.append(src)
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                consts.add(node.value)
            elif isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
                head = str(node.values[0].value)
                if KEY.match(head.rstrip("._") + ".x") and head.endswith((".", "_")):
                    prefixes.add(head)
    return consts, prefixes, "\n".join(text)


def test_every_key_the_code_names_exists():
    en = table("en")
    namespaces = {k.split(".")[0] for k in en}
    consts, _, _ = _source_strings()
    named = {c for c in consts if KEY.match(c) and c.split(".")[0] in namespaces and not c.endswith(("_", "."))
             and not c.endswith((".py", ".toml", ".json", ".md", ".safetensors", ".html", ".png"))}
    named -= {c for c in named if c.split(".")[0] in {"diagnostics", "ddpm", "torch"}}
    assert named and sorted(named - set(en)) == []


def test_no_catalogue_key_is_unused():
    """A key is used when the code names it, or it belongs to a family the code names by a computed key
    (check.<key>.title, verdict.<v>, figure.<name>, model.<field>, setting.<field>, report.mode_<mode>)."""
    from diagnostics.checks.result import VERDICTS
    from diagnostics.checks.runner import ModeSettings
    consts, prefixes, _ = _source_strings()
    families = {
        "check.": lambda rest: rest.endswith(".title") and rest[:-len(".title")] in consts,
        "verdict.": lambda rest: rest in VERDICTS,
        "figure.": lambda rest: rest in consts,
        "model.": lambda rest: rest in consts,
        "setting.": lambda rest: rest in consts | {f.name for f in fields(ModeSettings)},
        "report.mode_": lambda rest: rest in ("quick", "full"),
        "colour.": lambda rest: rest in consts,
    }
    unused = []
    for key in table("en"):
        if key in consts:
            continue
        fam = next((p for p in families if key.startswith(p) and p in prefixes | {"figure.", "model.", "setting."}),
                   None)
        if fam is None or not families[fam](key[len(fam):]):
            unused.append(key)
    assert unused == []


def test_numbers_are_formatted_by_the_template_in_both_languages():
    m = msg("model.ok", params=1114209, mean=0.000356123, std=0.0653, absmax=3.66)
    assert render(m, "en") == "Eval mode, 1,114,209 finite parameters with mean 0.000356, std 0.0653, |max| 3.66."
    assert render(m, "zh") == "eval 模式，1,114,209 个参数全部有限，均值 0.000356，标准差 0.0653，|最大值| 3.66。"
    assert [say(duration(s), "zh") for s in (0.25, 95.0, 600.0, 9000.0)] == ["250 毫秒", "95.0 秒", "10.0 分钟", "2.5 小时"]


def test_sentences_join_each_once_in_the_language():
    a, b = msg("model.train_mode_fix"), msg("x0.clip_fix")
    both = sentences([a, None, b, a])
    assert say(both) == "Call model.eval() before sampling. Sample with clip_denoised=True (the official code clamps " \
                        "x̂_0 to [-1, 1])."
    assert say(both, "zh") == "采样前先调用 model.eval()。请用 clip_denoised=True 采样（官方代码会把 x̂_0 截断到 [-1, 1]）。"
    assert sentences([]) is None


def test_unknown_and_weights_words():
    assert say(unknown(None), "zh") == "未知" and unknown(3) == 3
    assert [say(weights_word(w), "zh") for w in ("ema", "raw", "as saved", None)] == \
        ["EMA 权重", "原始权重", "原样保存的权重", "权重类型未知"]


def test_messages_round_trip_through_json_with_nested_values():
    import json
    m = {"a": [msg("interval.none", estimate=1.1, fmt=".2f", reason=msg("interval.too_few", n=40, need=50))]}
    back = revive(json.loads(json.dumps(to_plain(m))))
    assert back == m and say(back["a"][0]) == "1.10 (no interval: 40 samples; an interval needs at least 50)"
    assert say(back["a"][0], "zh") == "1.10（无区间：40 个样本；区间至少需要 50 个）"


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_message_renders_with_its_own_placeholders(lang):
    """A template that names a value the code never passes would raise at render time: fill each placeholder with a
    number (or a word where the spec is not numeric) and render every key."""
    for key, template in table(lang).items():
        values = {}
        for name, spec in fields_of(template).items():
            numeric = re.search(r":[,+]?\.?\d*[fgen%]?$", spec) and spec not in ("",) and "!r" not in spec
            values[name] = 1.5 if numeric else "x"
        if "{fmt}" in template:
            values["fmt"] = ".2f"
            values = {k: (1.5 if k in ("estimate", "low", "high", "level") else v) for k, v in values.items()}
        render(msg(key, **values), lang)


def test_bad_settings_are_refused_with_a_message_in_both_languages():
    from ddpm.messages import MessageError
    from diagnostics.checks.runner import mode_settings
    with pytest.raises(MessageError) as e:
        mode_settings(True, 100, eta=1.5)
    assert isinstance(e.value, ValueError) and str(e.value).startswith("eta must be in [0, 1] (got 1.5)")
    assert render(e.value.message, "zh").startswith("eta 必须在 [0, 1] 内（收到 1.5）")
