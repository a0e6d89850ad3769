"""Shared helpers for the benchmarks: machine description, the JSON envelope every result carries
(commit, command, machine, date), atomic JSON writing under bench/results/, timing and table printing.

Full-mode results go to bench/results/NAME.json; --quick results go to bench/results/quick/NAME.json so a
validation run never overwrites numbers taken on a quiet machine.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence

import torch

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "bench" / "results"
QUICK_DIR = RESULTS_DIR / "quick"
SCRATCH_DIR = RESULTS_DIR / "tmp"          # git-ignored: checkpoints trained by the benchmarks

# The bundled model, then fallbacks while it is being trained.
CHECKPOINT_CANDIDATES = ("checkpoints/digits_tiny.safetensors", "runs/bundled/last.safetensors",
                         "/tmp/run1/model.safetensors")


# ---- machine / provenance ------------------------------------------------------------------------------
def _cpuinfo() -> dict:
    model, flags = None, set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and model is None:
                    model = value.strip()
                elif key == "flags" and not flags:
                    flags = set(value.split())
                if model and flags:
                    break
    except OSError:
        pass
    return {"model": model or platform.processor() or platform.machine(),
            "flags": sorted(f for f in flags if f.startswith(("avx512f", "avx512_bf16", "amx", "avx2")))}


def _mem_total_gb() -> Optional[float]:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def git_commit() -> str:
    """`git rev-parse HEAD`, or "uncommitted" when there is no commit (or no git)."""
    try:
        r = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "uncommitted"
    out = r.stdout.strip()
    if r.returncode != 0 or len(out) != 40:
        return "uncommitted"
    return out


def resolve_device(name: str = "auto") -> torch.device:
    if name in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda asked for, but no CUDA GPU is visible")
    return dev


def machine_info(device: torch.device | str = "cpu") -> dict:
    device = torch.device(device)
    cpu = _cpuinfo()
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count()
    info = {
        "cpu": cpu["model"],
        "cpu_flags": cpu["flags"],
        "cpu_capability": getattr(torch.backends.cpu, "get_cpu_capability", lambda: None)(),
        "cores": os.cpu_count(),
        "cores_usable": affinity,
        "torch_threads": torch.get_num_threads(),
        "memory_gb": _mem_total_gb(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": str(device),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
    return info


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).astimezone().isoformat(timespec="seconds")


def cli_command(module: str, argv: Optional[Sequence[str]] = None) -> str:
    argv = sys.argv[1:] if argv is None else list(argv)
    return shlex.join(["python", "-m", module, *argv])


def envelope(name: str, quick: bool, command: Optional[str], device: torch.device | str = "cpu") -> dict:
    """The provenance every result file starts with."""
    return {"benchmark": name, "quick": bool(quick), "commit": git_commit(),
            "command": command or f"python -c 'import bench.{name}; bench.{name}.run(quick={bool(quick)})'",
            "machine": machine_info(device), "date": now_iso()}


def finish(payload: dict, started: float) -> dict:
    payload["duration_seconds"] = round(time.perf_counter() - started, 2)
    payload["machine"]["loadavg_at_end"] = ([round(x, 2) for x in os.getloadavg()]
                                           if hasattr(os, "getloadavg") else None)
    return payload


def finish_and_write(payload: dict, started: float, path: str | os.PathLike, write: bool = True) -> dict:
    """Stamp the duration and the load average at the end, then (unless write=False) write the JSON and
    record its path in payload["json"]."""
    finish(payload, started)
    if write:
        payload["json"] = str(write_json(payload, path))
    return payload


def sha256_prefix(path: str | os.PathLike, n: int = 16) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:n]


def default_checkpoint() -> str:
    """checkpoints/digits_tiny.safetensors, or the first fallback that exists."""
    for c in CHECKPOINT_CANDIDATES:
        p = Path(c) if Path(c).is_absolute() else ROOT / c
        if p.exists():
            return str(p)
    return str(ROOT / CHECKPOINT_CANDIDATES[0])


# ---- JSON --------------------------------------------------------------------------------------------
def _clean(obj):
    """JSON-safe: NaN/inf -> None (browsers reject NaN), tensors/paths/tuples to plain values."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if torch.is_tensor(obj):
        return _clean(obj.tolist())
    if hasattr(obj, "item") and callable(obj.item):   # numpy scalars
        try:
            return _clean(obj.item())
        except (TypeError, ValueError):
            pass
    return obj


def results_path(name: str, quick: bool, out_json: Optional[str] = None) -> Path:
    if out_json:
        return Path(out_json)
    return (QUICK_DIR if quick else RESULTS_DIR) / f"{name}.json"


def write_json(payload: dict, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(_clean(payload), f, indent=2, allow_nan=False)
            f.write("\n")
        os.chmod(tmp, 0o644)          # mkstemp makes it 0600; the app may read it as another user
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


# ---- timing ------------------------------------------------------------------------------------------
def sync(device: torch.device | str) -> None:
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_calls(fn: Callable[[], object], warmup: int, repeats: int, device: torch.device | str = "cpu") -> list[float]:
    """Seconds of each of `repeats` calls of fn after `warmup` untimed ones."""
    for _ in range(warmup):
        fn()
    sync(device)
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync(device)
        out.append(time.perf_counter() - t0)
    return out


def median(xs: Iterable[float]) -> float:
    xs = list(xs)
    return statistics.median(xs) if xs else float("nan")


def matmul_gflops(device: torch.device | str = "cpu", n: int = 2048, dtype: torch.dtype = torch.float32,
                  repeats: int = 5) -> float:
    """Achieved GFLOP/s of torch.mm on n×n matrices: the machine's practical peak for dense math."""
    device = torch.device(device)
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    times = time_calls(lambda: torch.mm(a, b), warmup=2, repeats=repeats, device=device)
    return 2 * n ** 3 / median(times) / 1e9


def conv_gflops(device: torch.device | str = "cpu", batch: int = 64, channels: int = 128, size: int = 16,
                dtype: torch.dtype = torch.float32, repeats: int = 5) -> float:
    """Achieved GFLOP/s of one 3×3 convolution (oneDNN on CPU): a second reference beside torch.mm, since on some
    CPUs (MKL on AMD) fp32 sgemm runs a narrower code path than oneDNN's convolutions and is not the ceiling."""
    device = torch.device(device)
    conv = torch.nn.Conv2d(channels, channels, 3, padding=1).to(device)
    x = torch.randn(batch, channels, size, size, device=device)
    bf16 = dtype == torch.bfloat16

    def f():
        with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            conv(x)

    times = time_calls(f, warmup=2, repeats=repeats, device=device)
    return 2 * batch * channels * channels * 9 * size * size / median(times) / 1e9


# ---- tables -------------------------------------------------------------------------------------------
def fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if not math.isfinite(v):
            return "-"
        a = abs(v)
        if a == 0:
            return "0"
        if a >= 1e6:
            return f"{v:.3g}"
        if a >= 100:
            return f"{v:,.0f}"
        if a >= 10:
            return f"{v:.1f}"
        if a >= 0.01:
            return f"{v:.3f}"
        return f"{v:.2e}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def interval_text(iv: Optional[dict], spec: str = ".2f") -> Optional[str]:
    """A result file's interval (diagnostics.intervals.Interval.as_dict) as a table cell, '1.23 (1.01-1.50)', or
    '1.23 (no interval)' where the estimate has none (too few samples); None where there is no estimate."""
    if not iv or iv.get("estimate") is None:
        return None
    if iv.get("low") is None or iv.get("high") is None:
        return f"{iv['estimate']:{spec}} (no interval)"
    return f"{iv['estimate']:{spec}} ({iv['low']:{spec}}-{iv['high']:{spec}})"


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence], notes: Sequence[str] = ()) -> dict:
    """A table as stored in the JSON ("tables") and rendered by print_table / markdown_table."""
    return {"title": title, "columns": list(columns), "rows": [list(r) for r in rows], "notes": list(notes)}


def format_table(t: dict) -> str:
    cells = [[fmt(v) for v in r] for r in t["rows"]]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(t["columns"])]
    line = "  ".join("-" * w for w in widths)
    out = [t["title"], line, "  ".join(c.rjust(w) for c, w in zip(t["columns"], widths)), line]
    out += ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in cells]
    out.append(line)
    out += [f"  note: {n}" for n in t.get("notes", [])]
    return "\n".join(out)


def print_result(payload: dict) -> None:
    """A benchmark's tables, then where its JSON went."""
    for t in payload["tables"]:
        print_table(t)
    print(f"wrote {payload['json']}")


def print_table(t: dict) -> None:
    print(format_table(t), flush=True)
    print(flush=True)


def markdown_table(t: dict) -> str:
    esc = lambda s: str(s).replace("|", "\\|")
    out = [f"**{esc(t['title'])}**", "", "| " + " | ".join(esc(c) for c in t["columns"]) + " |",
           "|" + "|".join("---:" for _ in t["columns"]) + "|"]
    out += ["| " + " | ".join(esc(fmt(v)) for v in r) + " |" for r in t["rows"]]
    if t.get("notes"):
        out.append("")
        out += [f"- {esc(n)}" for n in t["notes"]]
    return "\n".join(out)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def add_threads_arg(parser) -> None:
    parser.add_argument("--threads", type=int, default=0,
                        help="torch intra-op threads (default: torch's choice, usually one per core). On a "
                             "machine shared with other jobs, 1 avoids OpenMP threads waiting on each other")


def set_threads(n: Optional[int]) -> None:
    if n:
        torch.set_num_threads(int(n))
