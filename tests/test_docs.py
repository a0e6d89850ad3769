"""The documentation holds together: README.md, README.zh-CN.md and the pages under docs/ (not the generated reports
under docs/report*/).

(a) every relative link resolves to a file, and every #anchor to a heading of its page;
(b) every command of a ```bash block that runs a project CLI parses with that CLI's own argparse parser (built
    without running the command: the module's build_parser() / _parser() where it has one, else the parser its
    main() builds, caught at parse_args before any work);
(c) README.md stays short, and README.zh-CN.md has the same `## ` sections in the same order;
(d) no tracker or process words in user-facing text;
and the checks reference lists every threshold of diagnostics/thresholds.py with its default, and the committed
report table on the Diagnose page is the report's own."""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import re
import shlex
import sys
from pathlib import Path
from unittest import mock

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", ROOT / "README.zh-CN.md",
         *[p for p in sorted(DOCS.rglob("*.md")) if not p.relative_to(DOCS).parts[0].startswith("report")]]
ENGLISH_PAGES = [p for p in PAGES if p.name != "README.zh-CN.md"]
FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def name(page: Path) -> str:
    return str(page.relative_to(ROOT))


def prose(text: str) -> str:
    return FENCE.sub("", text)


# ---- (a) links and anchors --------------------------------------------------------------------------------------
def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped (letters of any script, digits, _ and - kept),
    spaces to hyphens."""
    text = re.sub(r"[`*]|\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip()).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for heading in re.findall(r"^#{1,6} (.+)$", prose(page.read_text(encoding="utf-8")), flags=re.M):
        base = slug(heading)
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def links(page: Path) -> list[str]:
    return re.findall(r"\]\(([^)\s]+)\)", prose(page.read_text(encoding="utf-8")))


def test_slug_matches_githubs_rule():
    assert slug("Precision: fp32 against bf16 on both kinds of CPU (`bench/amp.py`)") == \
        "precision-fp32-against-bf16-on-both-kinds-of-cpu-benchamppy"
    assert slug("Learned variance (Improved DDPM)") == "learned-variance-improved-ddpm"


@pytest.mark.parametrize("page", PAGES, ids=name)
def test_every_relative_link_resolves(page):
    broken = []
    for target in links(page):
        if re.match(r"^[a-z]+:", target):                     # http(s):, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{target} (no heading with that anchor)")
    assert broken == [], f"{name(page)}: {broken}"


# ---- (b) every project command parses with its own parser --------------------------------------------------------
SCRIPTS = {"ddpm-train": "ddpm.train", "ddpm-sample": "ddpm.sample", "ddpm-diagnose": "diagnostics",
           "ddpm-app": "demo.launch"}
PROJECT = re.compile(r"^(ddpm|diagnostics|bench)(\.|$)")


class _Captured(Exception):
    def __init__(self, parser: argparse.ArgumentParser):
        super().__init__()
        self.parser = parser


def _parser_built_by(main) -> argparse.ArgumentParser:
    def catch(self, args=None, namespace=None):
        raise _Captured(self)
    with mock.patch.object(argparse.ArgumentParser, "parse_args", catch):
        try:
            main([])
        except _Captured as caught:
            return caught.parser
    raise AssertionError(f"{main.__module__}.main() returned without parsing its arguments")


def _load_script(path: Path):
    sys.path.insert(0, str(path.parent))                   # tools/load_test.py imports its neighbour
    try:
        spec = importlib.util.spec_from_file_location(f"_docs_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module                      # its dataclasses look their module up there
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(path.parent))


def parser_for(target: str) -> argparse.ArgumentParser:
    """target: a module name (`ddpm.train`, `diagnostics`) or a script path relative to the root (`app.py`)."""
    if target == "app.py":
        target = "demo.launch"
    if target.endswith(".py"):
        module = _load_script(ROOT / target)
    else:
        module = importlib.import_module(target)
        if hasattr(module, "__path__"):                      # a package run with -m: its __main__
            module = importlib.import_module(f"{target}.__main__")
    for builder in ("build_parser", "_parser"):
        if callable(getattr(module, builder, None)):
            return getattr(module, builder)()
    return _parser_built_by(module.main)


def shell_commands(page: Path) -> list[str]:
    """Each command line of the page's ```bash blocks: continuations joined, `&&`-chains split."""
    out = []
    for body in re.findall(r"^```bash\n(.*?)^```", page.read_text(encoding="utf-8"), flags=re.S | re.M):
        joined = re.sub(r"\\\n\s*", " ", body)
        for line in joined.splitlines():
            for part in line.split("&&"):
                if part.split("#", 1)[0].strip():
                    out.append(part.strip())
    return out


def project_call(command: str) -> tuple[str, list[str]] | None:
    """(target, argv) when the command runs a project CLI, else None."""
    words = shlex.split(command, comments=True)
    while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):      # VAR=value prefixes
        words = words[1:]
    if not words:
        return None
    head = Path(words[0]).name
    if head in SCRIPTS:
        return SCRIPTS[head], words[1:]
    if head == "torchrun":
        i = words.index("-m")
        return words[i + 1], words[i + 2:]
    if re.fullmatch(r"python3?(\.\d+)?", head):
        if words[1:2] == ["-m"] and PROJECT.match(words[2]):
            return words[2], words[3:]
        if len(words) > 1 and words[1].endswith(".py") and (words[1] == "app.py" or words[1].startswith("tools/")):
            return words[1], words[2:]
    return None


def inline_commands(page: Path) -> list[str]:
    """Commands quoted in the prose (`python -m bench.amp --threads 1 …`, the provenance of a measurement), with at
    least one argument and no placeholder (`[--quick]`, `NAME`, `…`); a bare name is a mention, not a command."""
    spans = (" ".join(s.split()) for s in re.findall(r"`([^`]+)`", prose(page.read_text(encoding="utf-8"))))
    return [s for s in spans if re.match(r"^(python3? (-m |tools/|app\.py)|ddpm-|torchrun )", s)
            and not re.search(r"[\[\]…]|\bNAME\b|\.\.\.", s) and re.search(r" -[-\w]", s.split(" -m ")[-1])]


COMMANDS = [(page, command) for page in ENGLISH_PAGES for command in shell_commands(page) + inline_commands(page)
            if project_call(command) is not None]


def test_the_docs_show_every_kind_of_project_command():
    targets = {project_call(c)[0] for _, c in COMMANDS}
    assert {"ddpm.train", "ddpm.sample", "ddpm.train_classifier", "ddpm.export", "diagnostics", "diagnostics.features",
            "bench.run_all", "app.py", "tools/report_figures.py"} <= targets
    assert any(c.startswith("torchrun") for _, c in COMMANDS) and any(c.startswith("ddpm-") for _, c in COMMANDS)
    assert any(c.startswith("python -m bench.amp --threads 1") for _, c in COMMANDS)     # a quoted provenance


def test_a_wrong_option_is_caught():
    with pytest.raises(SystemExit):
        parser_for("ddpm.sample").parse_args(["--no-such-option"])
    with pytest.raises(SystemExit):
        parser_for("ddpm.train").parse_args(["--steps", "many"])


@pytest.mark.parametrize("page,command", COMMANDS, ids=[f"{name(p)}: {c[:60]}" for p, c in COMMANDS])
def test_every_project_command_parses(page, command, capsys):
    target, argv = project_call(command)
    if target == "tools/report_figures.py":                  # main(html, out_dir): no argparse
        assert len(argv) == 2 and argv[0].endswith(".html"), command
        return
    try:
        parser_for(target).parse_args(argv)
    except SystemExit as e:
        if e.code == 0 and "--help" in argv:
            return
        pytest.fail(f"{name(page)}: `{command}` does not parse: {capsys.readouterr().err.strip()} (exit {e.code})")


# ---- (c) the two READMEs ----------------------------------------------------------------------------------------
ZH_SECTIONS = {"Quick start": "快速上手", "A tour of the app": "应用导览", "The bundled models": "自带模型",
               "Documentation": "文档"}


def sections(page: Path) -> list[str]:
    return re.findall(r"^## (.+)$", prose(page.read_text(encoding="utf-8")), flags=re.M)


def test_the_readme_is_short():
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 220
    assert len((ROOT / "README.zh-CN.md").read_text(encoding="utf-8").splitlines()) <= 220


def test_the_chinese_readme_has_the_same_sections_in_the_same_order():
    en, zh = sections(ROOT / "README.md"), sections(ROOT / "README.zh-CN.md")
    assert en == list(ZH_SECTIONS), "a new README section needs its Chinese name here and in README.zh-CN.md"
    assert zh == [ZH_SECTIONS[s] for s in en]


def test_the_chinese_readme_says_the_docs_are_in_english_and_uses_the_right_terms():
    zh = (ROOT / "README.zh-CN.md").read_text(encoding="utf-8")
    assert "只有英文版" in zh and "(docs/README.md)" in zh
    assert "变分下界" in zh and "方差下界" not in zh


# ---- (d) no tracker or process words ------------------------------------------------------------------------------
PROCESS = re.compile(r"\bissues?\b|\bsessions?\b|\bSPEC\b|\bseed 0\d\d\b|\bTODO\b|\bFIXME\b|\bthe lead\b|"
                     r"\bhelper H\d|\bticket\b|\baudit\b|\bwas lent\b", re.I)


@pytest.mark.parametrize("page", PAGES, ids=name)
def test_no_process_words(page):
    found = [m.group(0) for m in PROCESS.finditer(page.read_text(encoding="utf-8"))]
    assert found == [], f"{name(page)} says {found}"


def test_the_process_word_rule_can_fail():
    assert PROCESS.search("as issue 12 asked") and PROCESS.search("this session's run")


# ---- numbers with a source ----------------------------------------------------------------------------------------
def test_the_checks_reference_lists_every_threshold_with_its_default():
    from diagnostics.thresholds import DEFAULT_THRESHOLDS
    text = (DOCS / "reference" / "checks.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| [^|]+ \| `(\w+)` \| ([^|]+) \|", text, flags=re.M))
    assert set(rows) == set(DEFAULT_THRESHOLDS.as_dict())
    for field, value in DEFAULT_THRESHOLDS.as_dict().items():
        assert float(rows[field]) == value, field


def test_the_diagnose_pages_report_table_is_the_committed_report():
    report = json.loads((DOCS / "report" / "report.json").read_text(encoding="utf-8"))
    summaries = [c["summary"].replace("|", "\\|") for c in report["checks"]]
    text = (DOCS / "diagnose.md").read_text(encoding="utf-8")
    table = text[text.index("| Check | Verdict | Summary | Fix |"):].split("\n\n")[0].splitlines()[2:]
    assert [row.split(" | ")[2] for row in table] == summaries
