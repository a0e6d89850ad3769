"""README.zh-CN.md stays in step with README.md: linked from the top of it, and the same commands (the two
set-up commands, the app's, and the whole command-line block), compared line by line with comments dropped."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EN = (ROOT / "README.md").read_text(encoding="utf-8")
ZH = (ROOT / "README.zh-CN.md").read_text(encoding="utf-8")


def bash_blocks(text: str) -> list[list[str]]:
    """Each ```bash block as its command lines: comments (whole-line or trailing) and blank lines dropped,
    continuation lines kept as they are."""
    blocks = []
    for body in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        lines = [re.sub(r"\s+#.*$", "", line).rstrip() for line in body.splitlines()]
        blocks.append([line for line in lines if line.strip() and not line.lstrip().startswith("#")])
    return blocks


def section(text: str, heading: str) -> str:
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    return text[start:end if end > 0 else None]


def test_the_english_readme_links_the_chinese_one_at_the_top():
    top = EN.split("\n## ", 1)[0]
    assert "(README.zh-CN.md)" in top and "中文" in top
    assert "(README.md)" in ZH.split("\n## ", 1)[0]


def test_the_two_set_up_commands_are_the_same():
    assert bash_blocks(ZH)[:2] == bash_blocks(EN)[:2]
    assert len(bash_blocks(EN)[0]) == 1 and len(bash_blocks(EN)[1]) == 1


def test_the_app_and_command_line_blocks_are_the_same():
    assert bash_blocks(section(ZH, "## 应用")) == bash_blocks(section(EN, "## The app"))[:1]
    en_cli, zh_cli = bash_blocks(section(EN, "## Command line")), bash_blocks(section(ZH, "## 命令行"))
    assert en_cli and zh_cli == en_cli


def test_every_check_of_the_english_diagnostics_table_has_a_row():
    def rows(text, heading):        # the section's first table, without its header
        table = re.search(r"(?:^\|.*\n)+", section(text, heading), flags=re.M).group(0).splitlines()
        return table[2:]
    assert len(rows(ZH, "## 诊断")) == len(rows(EN, "## Diagnostics"))
