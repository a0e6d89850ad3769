"""CPU threads for the CLIs: the wall time of `ddpm.sample` and `ddpm.train` as a user runs them, with 1 thread,
and 2 threads (torch's own default on a 2-core machine: one per core), each command in a fresh process, the settings interleaved
round by round so that a change in the machine's load falls on every setting alike.

    python -m bench.threads                 # 2 rounds -> bench/results/threads.json
    python -m bench.threads --quick         # 1 round, fewer images and steps -> bench/results/quick/threads.json

The thread count reaches torch through OMP_NUM_THREADS, which is what the CLIs' --threads sets
(torch.set_num_threads). The machine's load average and the other processes'
CPU use are recorded beside every number: a 2-core machine is rarely idle (a training run, the app), and the
point of the benchmark is which setting wins there.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional, Sequence

from bench import common

NAME = "threads"
SETTINGS = ("1", "2")           # torch's default on a 2-core machine is 2 (recorded as torch_default_threads)


def workloads(quick: bool, scratch: Path) -> dict[str, list[str]]:
    """The commands timed: the sample CLI's defaults (DDIM, default steps) on both bundled models and a short
    training run."""
    n, steps = ("16", "10") if quick else ("32", "20")
    return {
        "sample digits_tiny (DDIM default steps, n=%s)" % n:
            ["-m", "ddpm.sample", "--n", n, "--quiet", "--out", str(scratch / "s.png")],
        "sample mnist_tiny (DDIM default steps, n=%s)" % n:
            ["-m", "ddpm.sample", "--ckpt", "checkpoints/mnist_tiny.safetensors", "--n", n,
             "--quiet", "--out", str(scratch / "m.png")],
        "train digits tiny (%s steps, batch 64)" % steps:
            ["-m", "ddpm.train", "--data", "digits", "--steps", steps, "--batch-size", "64", "--sample-every", "0",
             "--save-every", "0", "--quiet", "--out", str(scratch / "run")],
    }


def busy_share() -> float:
    """CPU cores in use by other processes over the last second (from /proc/stat; this process is idle meanwhile)."""
    def read() -> tuple[int, int]:
        with open("/proc/stat") as f:
            parts = [int(x) for x in f.readline().split()[1:]]
        idle = parts[3] + parts[4]
        return sum(parts) - idle, sum(parts)
    try:
        b0, t0 = read()
        time.sleep(1.0)
        b1, t1 = read()
    except OSError:
        return float("nan")
    return (b1 - b0) / max(1, t1 - t0) * (os.cpu_count() or 1)


def snapshot(dest: Path) -> Path:
    """A copy of the package and the bundled models: the commands run from it, so an edit made to the working tree
    while the benchmark runs changes nothing that is timed."""
    for name in ("ddpm", "checkpoints"):
        shutil.copytree(common.ROOT / name, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return dest


def run_once(argv: Sequence[str], threads: str, cwd: Path) -> float:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    if threads != "default":
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = threads
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, *argv], cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{r.stderr[-2000:]}")
    return seconds


def run(quick: bool = False, rounds: Optional[int] = None, write: bool = True,
        command: Optional[str] = None) -> dict:
    started = time.perf_counter()
    payload = common.envelope(NAME, quick, command)
    rounds = rounds or (1 if quick else 2)
    times: dict[str, dict[str, list[float]]] = {}
    busy: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-threads-") as tmp:
        src = snapshot(Path(tmp) / "src")
        jobs = workloads(quick, Path(tmp))
        for r in range(rounds):
            for name, argv in jobs.items():
                for threads in SETTINGS:
                    busy.append(busy_share())
                    if "train" in name:
                        argv = [*argv[:-1], str(Path(tmp) / f"run{r}{threads}")]
                    s = run_once(argv, threads, src)
                    times.setdefault(name, {}).setdefault(threads, []).append(s)
                    common.log(f"round {r + 1}/{rounds} {name}, threads={threads}: {s:.1f}s "
                               f"(others busy: {busy[-1]:.2f} cores)")
    rows = []
    for name, by in times.items():
        med = {k: statistics.median(v) for k, v in by.items()}
        best = min(med, key=med.get)
        rows.append([name, *(round(med[k], 2) for k in SETTINGS), best, round(med["2"] / med["1"], 2)])
    payload["rounds"] = rounds
    payload["torch_default_threads"] = int(subprocess.run(
        [sys.executable, "-c", "import torch; print(torch.get_num_threads())"], capture_output=True, text=True,
        env={k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}).stdout)
    payload["seconds"] = times
    payload["other_processes_busy_cores"] = {"median": round(statistics.median(busy), 2),
                                             "min": round(min(busy), 2), "max": round(max(busy), 2)}
    payload["tables"] = [common.table(
        f"wall seconds per command (median of {rounds}), fresh process each, load from other processes "
        f"{payload['other_processes_busy_cores']['median']:.2f} cores (median)",
        ["command", "1 thread", "2 threads", "fastest", "2 threads / 1 thread"], rows,
        notes=[f"CPU: {payload['machine']['cpu']} (computes bf16 natively; these runs are fp32), "
               f"{payload['machine']['cores']} cores"])]
    return common.finish_and_write(payload, started, common.results_path(NAME, quick), write)


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.threads", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="1 round of smaller commands (bench/results/quick/)")
    p.add_argument("--rounds", type=int, default=None, help="rounds (default 2, or 1 with --quick)")
    a = p.parse_args(argv)
    payload = run(quick=a.quick, rounds=a.rounds, command=common.cli_command("bench.threads", argv))
    common.print_result(payload)
    return 0


if __name__ == "__main__":
    sys.exit(main())
