"""Run every benchmark in one process and write their JSON, the quality figure and a SUMMARY.md with all
tables (dated, machine stated).

    python -m bench.run_all             # full: bench/results/*.json, bench/results/SUMMARY.md
    python -m bench.run_all --quick     # ~2 min: bench/results/quick/*.json, bench/results/quick/SUMMARY.md

A benchmark that fails is reported in SUMMARY.md (and the exit status is 1); the others still run.
--quick takes ~2 min on 2 idle CPU cores, most of it the recipes' 4 × 20 s of training (more on a CPU that
emulates bf16: bench.amp's bf16 rows).
"""
from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback
from pathlib import Path
from typing import Optional, Sequence

from bench import common
from bench.recipes import DEFAULT_BUDGET_SECONDS

BENCHMARKS = ("train_speed", "sample_speed", "speed", "quality_vs_steps", "guidance", "recipes", "amp")


def _kwargs(name: str, quick: bool, ckpt: Optional[str], device: str, recipe_budget: Optional[float]) -> dict:
    kw = {}
    if name in ("sample_speed", "quality_vs_steps", "guidance", "amp") and ckpt:
        kw["ckpt"] = ckpt
    if name in ("train_speed", "sample_speed", "speed", "recipes"):
        kw["device"] = device
    if name == "recipes":
        kw["budget_seconds"] = recipe_budget
    return kw


def summary_markdown(quick: bool, command: str, results: list[dict], started_iso: str, total_s: float) -> str:
    machine = next((r["payload"]["machine"] for r in results if r.get("payload")), common.machine_info("cpu"))
    lines = [f"# DDPM Workbench benchmarks{' (quick)' if quick else ''}", "",
             f"- date: {started_iso} (finished {common.now_iso()}, {total_s:.0f} s in all)",
             f"- machine: {machine['cpu']}, {machine['cores']} cores ({machine['cores_usable']} usable, "
             f"{machine['torch_threads']} torch threads), {machine['memory_gb']} GB, device {machine['device']}"
             + (f" ({machine['gpu']})" if machine.get("gpu") else ""),
             f"- CPU capability: {machine.get('cpu_capability')}; flags: {', '.join(machine.get('cpu_flags') or [])}",
             f"- load average at start: {machine.get('loadavg_at_start')} (a shared machine makes every timing slower "
             "and noisier)",
             f"- torch {machine['torch']}, python {machine['python']}, commit {common.git_commit()}",
             f"- command: `{command}`", ""]
    if quick:
        lines += ["Quick mode: fewer presets, batches and steps, no torch.compile, n=64 for quality, 20 s per recipe. "
                  "The numbers validate the scripts; use the full run for decisions.", ""]
    lines += ["| benchmark | status | seconds | JSON |", "|---|---|---:|---|"]
    for r in results:
        lines.append(f"| {r['name']} | {r['status']} | {r['seconds']:.0f} | {r.get('json') or '-'} |")
    lines.append("")
    for r in results:
        lines += [f"## {r['name']}", ""]
        if r["status"] != "ok":
            lines += ["Failed:", "", "```", r.get("error", "").strip()[-3000:], "```", ""]
            continue
        p = r["payload"]
        if p.get("method"):
            lines += [f"Method: {p['method']}", ""]
        for t in p.get("tables", []):
            lines += [common.markdown_table(t), ""]
        for key in ("figure_html", "figure_png"):
            if p.get(key):
                rel = Path(p[key]).name
                lines += [f"{'Figure' if key == 'figure_html' else 'PNG'}: [{rel}]({rel})", ""]
        for sentence in (p.get("winner_sentence"), (p.get("conclusion") or {}).get("sentence")):
            if sentence:
                lines += [f"**{sentence}**", ""]
    return "\n".join(lines) + "\n"


def run(quick: bool = False, only: Optional[Sequence[str]] = None, skip: Sequence[str] = (),
        ckpt: Optional[str] = None, device: str = "auto", recipe_budget: Optional[float] = None,
        out_dir: Optional[str] = None, command: Optional[str] = None) -> dict:
    started, started_iso = time.perf_counter(), common.now_iso()
    command = command or f"python -m bench.run_all{' --quick' if quick else ''}"
    out = Path(out_dir) if out_dir else (common.QUICK_DIR if quick else common.RESULTS_DIR)
    names = [n for n in (only or BENCHMARKS) if n not in set(skip)]
    results = []
    for name in names:
        common.log(f"=== {name}{' (quick)' if quick else ''} ===")
        t0 = time.perf_counter()
        entry = {"name": name}
        try:
            mod = importlib.import_module(f"bench.{name}")
            payload = mod.run(quick=quick, out_json=str(out / f"{name}.json"),
                              command=f"{command}  # bench.{name}.run(quick={quick})",
                              **_kwargs(name, quick, ckpt, device, recipe_budget))
            entry.update(status="ok", payload=payload, json=payload.get("json"))
            for t in payload.get("tables", []):
                common.print_table(t)
        except Exception:
            entry.update(status="failed", error=traceback.format_exc())
            common.log(f"{name} failed:\n{entry['error']}")
        entry["seconds"] = time.perf_counter() - t0
        results.append(entry)
    total = time.perf_counter() - started
    md = summary_markdown(quick, command, results, started_iso, total)
    out.mkdir(parents=True, exist_ok=True)
    (out / "SUMMARY.md").write_text(md)
    index = {"quick": quick, "command": command, "date": started_iso, "commit": common.git_commit(),
             "machine": common.machine_info(device if device != "auto" else "cpu"), "total_seconds": total,
             "benchmarks": [{k: v for k, v in r.items() if k != "payload"} for r in results]}
    common.write_json(index, out / "run_all.json")
    return {"summary": str(out / "SUMMARY.md"), "total_seconds": total, "results": results,
            "ok": all(r["status"] == "ok" for r in results)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.run_all", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="every benchmark's quick mode (~3 min)")
    p.add_argument("--only", nargs="+", choices=BENCHMARKS)
    p.add_argument("--skip", nargs="+", choices=BENCHMARKS, default=[])
    p.add_argument("--ckpt", help="checkpoint for sample_speed and quality_vs_steps (default: the bundled model)")
    p.add_argument("--device", default="auto")
    p.add_argument("--recipe-budget", type=float,
                   help=f"seconds per recipe (default {DEFAULT_BUDGET_SECONDS:g}; quick 20)")
    common.add_threads_arg(p)
    p.add_argument("--out-dir", help="default bench/results (quick: bench/results/quick)")
    a = p.parse_args(argv)
    common.set_threads(a.threads)
    res = run(a.quick, a.only, a.skip, a.ckpt, a.device, a.recipe_budget, a.out_dir,
              common.cli_command("bench.run_all", argv))
    for r in res["results"]:
        print(f"{r['name']:>18}: {r['status']:<6} {r['seconds']:6.1f}s  {r.get('json') or ''}")
    print(f"total {res['total_seconds']:.0f}s; summary: {res['summary']}")
    return 0 if res["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
