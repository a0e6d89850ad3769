"""README numbers rendered from bench/results, never typed: each block of README.md between
`<!-- bench:NAME -->` and `<!-- /bench:NAME -->` is the Markdown of bench/results/NAME.json (its provenance line,
its tables, its conclusion), so a number there is the JSON's.

    python -m bench.readme            # rewrite the blocks from the JSON
    python -m bench.readme --check    # exit 1 and name the stale blocks (tests/test_readme_numbers.py runs it)
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from bench import common

README = common.ROOT / "README.md"
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


def render(name: str, results_dir: Path = common.RESULTS_DIR) -> str:
    """The Markdown of one result file: where and how it was measured, its tables, its conclusion."""
    path = results_dir / f"{name}.json"
    payload = json.loads(path.read_text())
    m = payload["machine"]
    load = m.get("loadavg_at_start")
    lines = [f"`{payload['command']}` — {payload['date'][:10]}, {_cpu_words(m)}"
             + (f", load average {load[0]:.1f} at the start" if load else "")
             + (f", {payload['duration_seconds'] / 60:.0f} min" if payload.get("duration_seconds") else "")
             + f"; [`bench/results/{path.name}`](bench/results/{path.name}).", ""]
    for t in payload["tables"]:
        lines += [common.markdown_table(t), ""]
    sentence = (payload.get("conclusion") or {}).get("sentence")
    if sentence:
        lines += [f"Conclusion recorded in the file: {sentence[0].upper()}{sentence[1:]}.", ""]
    return "\n".join(lines)


def update(text: str, results_dir: Path = common.RESULTS_DIR) -> str:
    return BLOCK.sub(lambda m: m.group(1) + render(m.group("name"), results_dir) + m.group(4), text)


def stale_blocks(text: str, results_dir: Path = common.RESULTS_DIR) -> list[str]:
    return [m.group("name") for m in BLOCK.finditer(text) if m.group("body") != render(m.group("name"), results_dir)]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.readme", description=__doc__.split("\n\n")[0])
    p.add_argument("--check", action="store_true", help="only say which blocks differ from their JSON")
    p.add_argument("--readme", default=str(README))
    a = p.parse_args(argv)
    path = Path(a.readme)
    text = path.read_text(encoding="utf-8")
    stale = stale_blocks(text)
    if a.check:
        if stale:
            print(f"stale README blocks (run `python -m bench.readme`): {', '.join(stale)}", file=sys.stderr)
            return 1
        print(f"{len(BLOCK.findall(text))} README blocks match their JSON")
        return 0
    path.write_text(update(text), encoding="utf-8")
    print(f"rewrote {len(stale)} block(s): {', '.join(stale) or 'none was stale'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
