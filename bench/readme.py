"""Documentation numbers rendered from bench/results, never typed: each block of README.md or of a page under docs/
between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->` is the Markdown of bench/results/NAME.json (its provenance
line, its tables, its conclusion), so a number there is the JSON's.

    python -m bench.readme            # rewrite the blocks of every page from the JSON
    python -m bench.readme --check    # exit 1 and name the stale blocks (tests/test_readme_numbers.py runs it)
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

from bench import common

README = common.ROOT / "README.md"
DOCS = common.ROOT / "docs"
BLOCK = re.compile(r"(<!-- bench:(?P<name>[\w.-]+) -->\n)(?P<body>.*?)(<!-- /bench:(?P=name) -->)", re.S)


def _cpu_words(machine: dict) -> str:
    flags = set(machine.get("cpu_flags") or [])
    native = machine.get("native_bf16")
    if native is None:                        # older files: from the flags the envelope kept
        native = bool(flags & {"avx512_bf16", "amx_bf16"})
    isa = "AVX-512 BF16" + (" and AMX" if "amx_bf16" in flags else "") if native else \
        ("AVX-512 without BF16" if "avx512f" in flags else "AVX2 only")
    return (f"{machine.get('cpu', '?')}, {isa} ({'native' if native else 'no native'} bf16), "
            f"{machine.get('cores_usable', machine.get('cores'))} cores, {machine.get('torch_threads')} torch "
            f"thread(s)")


def pages() -> list[Path]:
    """The pages that may hold blocks: README.md and every Markdown page under docs/ (not the generated reports)."""
    found = [p for p in sorted(DOCS.rglob("*.md")) if not p.relative_to(DOCS).parts[0].startswith("report")]
    return [README, *found]


def render(name: str, results_dir: Path = common.RESULTS_DIR, page: Path = README) -> str:
    """The Markdown of one result file: where and how it was measured, its tables, its conclusion; its link is
    relative to `page`, the file the block sits in."""
    path = results_dir / f"{name}.json"
    link = os.path.relpath(common.RESULTS_DIR / path.name, Path(page).resolve().parent).replace(os.sep, "/")
    payload = json.loads(path.read_text())
    m = payload["machine"]
    load = m.get("loadavg_at_start")
    lines = [f"`{payload['command']}` — {payload['date'][:10]}, {_cpu_words(m)}"
             + (f", load average {load[0]:.1f} at the start" if load else "")
             + (f", {payload['duration_seconds'] / 60:.0f} min" if payload.get("duration_seconds") else "")
             + f"; [`bench/results/{path.name}`]({link}).", ""]
    for t in payload["tables"]:
        lines += [common.markdown_table(t), ""]
    sentence = (payload.get("conclusion") or {}).get("sentence")
    if sentence:
        lines += [f"Conclusion recorded in the file: {sentence[0].upper()}{sentence[1:]}.", ""]
    return "\n".join(lines)


def update(text: str, results_dir: Path = common.RESULTS_DIR, page: Path = README) -> str:
    return BLOCK.sub(lambda m: m.group(1) + render(m.group("name"), results_dir, page) + m.group(4), text)


def stale_blocks(text: str, results_dir: Path = common.RESULTS_DIR, page: Path = README) -> list[str]:
    return [m.group("name") for m in BLOCK.finditer(text)
            if m.group("body") != render(m.group("name"), results_dir, page)]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.readme", description=__doc__.split("\n\n")[0])
    p.add_argument("--check", action="store_true", help="only say which blocks differ from their JSON")
    p.add_argument("--page", "--readme", dest="pages", action="append", default=None,
                   help="a Markdown file to render or check (repeatable; default: README.md and docs/**/*.md)")
    return p


def main(argv=None) -> int:
    a = build_parser().parse_args(argv)
    paths = [Path(x) for x in a.pages] if a.pages else pages()
    stale, blocks = [], 0
    for path in paths:
        text = path.read_text(encoding="utf-8")
        blocks += len(BLOCK.findall(text))
        names = stale_blocks(text, page=path)
        stale += [f"{path.name}:{name}" for name in names]
        if names and not a.check:
            path.write_text(update(text, page=path), encoding="utf-8")
    if a.check:
        if stale:
            print(f"stale blocks (run `python -m bench.readme`): {', '.join(stale)}", file=sys.stderr)
            return 1
        print(f"{blocks} blocks in {len(paths)} pages match their JSON")
        return 0
    print(f"rewrote {len(stale)} block(s): {', '.join(stale) or 'none was stale'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
