"""Record a model's recommended sampling setting in its checkpoint file, or print it (ddpm.recommended says where
a setting comes from).

    python -m ddpm.recommend mnist                 # ddim, 50 steps, η = 0.5, guidance w = 1.25 (the bundled …)
    python -m ddpm.recommend my.safetensors --sampler ddim --steps 20 --eta 0.5 --guidance-scale 1.5 \
        --why "docs/my_report/report.json"         # written into the file's metadata; the weights are not touched
    python -m ddpm.recommend my.safetensors --sampler ddim --steps 50 --eta 1 --guidance-scale 4 \
        --guidance-interval 0.28 5.42              # guidance only at middle noise levels (ddpm.sampling)
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .checkpoint import CheckpointError, atomic_write, load_checkpoint, read_metadata
from .messages import MessageError, msg, render
from .paths import bundled_dir, cache_dir
from .recommended import META_KEY, SAMPLERS_WITH_STEPS, SamplingSetting, check_setting


def record_setting(path: str, setting: SamplingSetting) -> None:
    """Write `setting` into the checkpoint file's meta, keeping every tensor as it is (an atomic rewrite)."""
    from safetensors.torch import load_file, save_file
    meta = read_metadata(path, max_bytes=None)
    check_setting(setting.as_meta(), Path(path).name)
    meta[META_KEY] = setting.as_meta()
    tensors = load_file(str(path))
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata={"ddpm": json.dumps(meta)}))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m ddpm.recommend",
                                description="Print a model's recommended sampling setting, or record one in the file.")
    p.add_argument("checkpoint", help="a checkpoint (.safetensors, or a bundled name such as mnist)")
    p.add_argument("--sampler", choices=SAMPLERS_WITH_STEPS, help="record this sampler (with the options below)")
    p.add_argument("--steps", type=int, default=50, help="steps to record (default 50)")
    p.add_argument("--eta", type=float, default=0.0, help="DDIM η to record (default 0)")
    p.add_argument("--guidance-scale", type=float, default=1.0, help="guidance scale w to record (default 1)")
    p.add_argument("--guidance-interval", type=float, nargs=2, default=None, metavar=("S_LO", "S_HI"),
                   help="record guidance only where S_LO < s <= S_HI, s = sigma/alpha (inf: open; default: every step)")
    p.add_argument("--why", default="", help="where it was measured (a report or benchmark path)")
    p.add_argument("--lang", choices=("en", "zh"), default="en")
    a = p.parse_args(argv)
    try:
        ck = load_checkpoint(a.checkpoint, max_bytes=None)
        if a.sampler is not None:
            if ck.source != "ddpm-workbench":
                raise MessageError("recommended.not_ours", name=Path(ck.path).name)
            if Path(ck.path).resolve().parent in (bundled_dir().resolve(), cache_dir().resolve()):
                raise MessageError("recommended.bundled_file", name=Path(ck.path).name)
            record_setting(ck.path, check_setting(dict(sampler=a.sampler, steps=a.steps, eta=a.eta,
                                                       guidance_scale=a.guidance_scale, why=a.why,
                                                       guidance_interval=a.guidance_interval)))
            ck = load_checkpoint(ck.path, max_bytes=None)
    except (MessageError, CheckpointError, FileNotFoundError, ValueError) as e:
        print(render(msg("recommended.error", error=getattr(e, "message", str(e))), a.lang), file=sys.stderr)
        return 2
    print(ck.recommended.describe(a.lang))
    return 0


if __name__ == "__main__":
    sys.exit(main())
