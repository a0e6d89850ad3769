"""How the app serves one user while three others send the worst requests its limits allow (loopback only).

    python tools/load_test.py http://127.0.0.1:7860/                # the app found by its port, for its memory
    python tools/load_test.py http://127.0.0.1:7860/ --rounds 2 --max-seconds 900 --pid 1234

Three clients each send the most expensive request the server accepts: DDPM over all T steps of the checkpoint
(--checkpoint, default "bundled") with as many images as its work budget admits (found by asking: a request for
--max-images images is refused with "at most N fit", so the tool uses N), --rounds times each, one after another.
A fourth client samples 16 images (DDIM, 25 steps) again and again and records each latency beside the app's
resident memory. Everything is bounded: the worst requests by --rounds, the whole run by --max-seconds (what is
still running then is cancelled, which stops its work at the next network call). The URL must be this machine's
(127.0.0.1, localhost, ::1): this sends real work, and is for your own server.

Prints one line per probe and a summary: the probe's latency (median and worst), each worst request's time, the
app's peak resident memory and its growth, and whether the hosting target held: every probe answered within
--max-latency (10 s) and the app's memory under --max-memory-mb (4096). Exits 1 if a probe failed, the target
was missed, or nothing could be measured.
"""
from __future__ import annotations

import argparse
import re
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hostile_requests import Watch, find_pid  # noqa: E402

LOOPBACK = ("127.0.0.1", "localhost", "::1")
WORST = dict(checkpoint="bundled", upload=None, classes=[], guidance_scale=1.0, sampler="DDPM", steps=25, eta=0.0,
             temperature=1.0, noise_temperature=1.0, seed=0, n=64)
PROBE = dict(WORST, sampler="DDIM", steps=25, n=16)


@dataclass
class Probe:
    seconds: float
    ok: bool
    rss_mb: Optional[float]
    worst_running: int               # worst requests under way when the probe ended
    error: str = ""


@dataclass
class Run:
    probes: list = field(default_factory=list)
    worst: list = field(default_factory=list)      # (client, round, seconds, outcome)
    peak_mb: Optional[float] = None
    start_mb: Optional[float] = None


def worst_images(client, checkpoint: str, max_images: int) -> tuple[int, str]:
    """(images, how found): the server's own answer to a request for max_images images."""
    from gradio_client.exceptions import AppError
    job = client.submit(**dict(WORST, checkpoint=checkpoint, n=max_images), api_name="/sample")
    try:
        job.result(timeout=5)
    except AppError as e:
        found = re.search(r"at most ([\d,]+) fit", str(e))
        if not found:
            raise SystemExit(f"the worst request is refused outright: {e}")
        return int(found.group(1).replace(",", "")), f"the server's budget admits {found.group(1)}"
    except TimeoutError:
        pass
    job.cancel()
    return max_images, "the most a request may ask for fits the budget"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python tools/load_test.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("--checkpoint", default="bundled", help="the listed checkpoint both kinds of request use")
    parser.add_argument("--rounds", type=int, default=1, help="worst requests per heavy client (at most 5)")
    parser.add_argument("--max-seconds", type=float, default=600, help="stop everything after this (at most 1800)")
    parser.add_argument("--max-images", type=int, default=64, help="the app's MAX_IMAGES (the first ask)")
    parser.add_argument("--pid", type=int, help="the app's process (default: the one listening on the URL's port)")
    parser.add_argument("--max-latency", type=float, default=10.0, help="the target: every probe within this (s)")
    parser.add_argument("--max-memory-mb", type=float, default=4096.0, help="the target: the app's peak memory (MB)")
    args = parser.parse_args(argv)
    host = urlparse(args.url).hostname
    if host not in LOOPBACK:
        parser.error(f"{host!r} is not this machine: the load test sends real work, to your own server only "
                     f"({', '.join(LOOPBACK)})")
    rounds, limit = max(1, min(args.rounds, 5)), max(10.0, min(args.max_seconds, 1800.0))
    from gradio_client import Client
    pid = args.pid or find_pid(urlparse(args.url).port or 80)
    watch = Watch(pid, None)
    watch.start()                                  # the app's peak memory counts from here
    run = Run(start_mb=watch.rss_mb())
    probe_client = Client(args.url, verbose=False)
    n, how = worst_images(probe_client, args.checkpoint, args.max_images)
    worst = dict(WORST, checkpoint=args.checkpoint, n=n)
    print(f"worst request: DDPM over all T steps × {n} images ({how}); 3 clients × {rounds} round(s); "
          f"probe: DDIM 25 steps × 16 images; at most {limit:.0f} s; app pid {pid or '?'}", flush=True)
    deadline = time.monotonic() + limit
    running = [0]
    lock = threading.Lock()
    jobs = []

    def heavy(k: int) -> None:
        client = Client(args.url, verbose=False)
        for r in range(rounds):
            if time.monotonic() > deadline:
                break
            t0 = time.monotonic()
            with lock:
                running[0] += 1
            job = client.submit(**worst, api_name="/sample")
            jobs.append(job)
            try:
                job.result(timeout=max(1.0, deadline - time.monotonic()))
                outcome = "done"
            except TimeoutError:
                job.cancel()
                outcome = "cancelled at the time limit"
            except Exception as e:            # a refusal (the budget, the queue) is an outcome to report
                outcome = f"refused: {str(e)[:120]}"
            finally:
                with lock:
                    running[0] -= 1
            run.worst.append((k, r + 1, time.monotonic() - t0, outcome))
        client.close()

    threads = [threading.Thread(target=heavy, args=(k + 1,), daemon=True) for k in range(3)]
    for th in threads:
        th.start()
    time.sleep(1.0)                               # the heavy requests are queued or running first
    while time.monotonic() < deadline and (any(th.is_alive() for th in threads) or not run.probes):
        t0 = time.monotonic()
        job = probe_client.submit(**dict(PROBE, checkpoint=args.checkpoint), api_name="/sample")
        try:
            job.result(timeout=max(1.0, deadline - time.monotonic()))
            p = Probe(time.monotonic() - t0, True, watch.rss_mb(), running[0])
        except TimeoutError:
            job.cancel()
            p = Probe(time.monotonic() - t0, False, watch.rss_mb(), running[0], "not done by the time limit")
        except Exception as e:
            job.cancel()
            p = Probe(time.monotonic() - t0, False, watch.rss_mb(), running[0], f"{type(e).__name__}: {e}"[:150])
        run.probes.append(p)
        rss = f"{p.rss_mb:.0f} MB" if p.rss_mb is not None else "?"
        print(f"probe {len(run.probes)}: {p.seconds:6.1f} s, app RSS {rss}, {p.worst_running} worst request(s) "
              f"under way" + (f"; {p.error}" if not p.ok else ""), flush=True)
    for th in threads:
        th.join(timeout=max(0.0, deadline - time.monotonic()) + 30)
    for job in jobs:
        if not job.done():
            job.cancel()
    probe_client.close()
    peak, _ = watch.stop()
    for k, r, seconds, outcome in sorted(run.worst):
        print(f"worst request, client {k} round {r}: {seconds:.1f} s, {outcome}")
    ok = [p.seconds for p in run.probes if p.ok]
    if ok:
        print(f"probe latency: median {statistics.median(ok):.1f} s, worst {max(ok):.1f} s over {len(ok)} probes"
              + (f" ({len(run.probes) - len(ok)} failed)" if len(ok) < len(run.probes) else ""))
    peak_mb = None if run.start_mb is None or peak is None else run.start_mb + peak
    if peak_mb is not None:
        print(f"app memory: {run.start_mb:.0f} MB at the start, peak {peak_mb:.0f} MB (+{peak:.0f} MB)")
    met = bool(ok) and len(ok) == len(run.probes) and max(ok) <= args.max_latency and \
        (peak_mb is None or peak_mb <= args.max_memory_mb)
    print(f"target (every probe within {args.max_latency:g} s, memory under {args.max_memory_mb:.0f} MB): "
          + ("met" if met else "missed") + ("" if peak_mb is not None else " (memory not measured)"))
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
