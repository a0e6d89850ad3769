"""README.zh-CN.md stays in step with README.md: linked from the top of it, and the same commands — every ```bash
block and the Python example, compared line by line with comments dropped. (tests/test_docs.py holds the two to the
same sections in the same order.)"""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EN = (ROOT / "README.md").read_text(encoding="utf-8")
ZH = (ROOT / "README.zh-CN.md").read_text(encoding="utf-8")


def code_blocks(text: str, language: str) -> list[list[str]]:
    """Each fenced block of `language` as its code lines: comments (whole-line or trailing) and blank lines dropped,
    continuation lines kept as they are."""
    blocks = []
    for body in re.findall(rf"```{language}\n(.*?)```", text, flags=re.S):
        lines = [re.sub(r"\s+#.*$", "", line).rstrip() for line in body.splitlines()]
        blocks.append([line for line in lines if line.strip() and not line.lstrip().startswith("#")])
    return blocks


def test_the_english_readme_links_the_chinese_one_at_the_top():
    top = EN.split("\n## ", 1)[0]
    assert "(README.zh-CN.md)" in top and "中文" in top
    assert "(README.md)" in ZH.split("\n## ", 1)[0]


def test_the_two_set_up_commands_are_the_same():
    assert code_blocks(ZH, "bash")[:2] == code_blocks(EN, "bash")[:2]
    assert len(code_blocks(EN, "bash")[0]) == 1 and len(code_blocks(EN, "bash")[1]) == 1


def test_every_command_and_the_python_example_are_the_same():
    assert len(code_blocks(EN, "bash")) >= 3 and code_blocks(ZH, "bash") == code_blocks(EN, "bash")
    assert code_blocks(EN, "python") and code_blocks(ZH, "python") == code_blocks(EN, "python")


def test_the_glossary_calls_the_vlb_the_variational_lower_bound():
    row = next(line for line in ZH.splitlines() if line.startswith("| variational lower bound"))
    assert row.split("|")[2].strip() == "变分下界"
