"""Export a checkpoint to another format.

    python -m ddpm.export checkpoints/digits_tiny.safetensors --format diffusers --out exported/digits_tiny

writes a diffusers DDPMPipeline folder (model_index.json, unet/ with config.json and safetensors weights,
scheduler/ with the exact betas, README.md) that `diffusers.DDPMPipeline.from_pretrained(DIR)` loads with no code
from this project. An unconditional model runs in `DDPMPipeline` / `DDIMPipeline` as it is (DDIM as this project
samples it with `use_clipped_model_output=True`); diffusers' pixel pipelines take no class labels, so the README.md
of a class-conditional export gives the few-line diffusers loop that samples it (ddpm/formats/diffusers_card.py).
The U-Net maps block for block onto UNet2DModel (see README "Use your diffusers model" for the table);
a configuration that UNet2DModel cannot express is refused with the reason. The mapping lives in
`ddpm.formats.diffusers`.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Optional, Sequence

from .checkpoint import CheckpointError, LoadedCheckpoint, load_checkpoint
from .formats import diffusers as diffusers_format
from .messages import msg, render
from .threads import add_threads_arg, set_threads

FORMATS = ("diffusers",)


def export_diffusers(checkpoint: str | os.PathLike | LoadedCheckpoint, out: str | os.PathLike,
                     weights: str = "ema") -> Path:
    """Write `checkpoint` (a path or a LoadedCheckpoint) as a diffusers DDPMPipeline folder at `out` (new or empty)."""
    ck = checkpoint if isinstance(checkpoint, LoadedCheckpoint) else load_checkpoint(checkpoint, weights=weights,
                                                                                      max_bytes=None)
    return diffusers_format.export_pipeline(ck, out)


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ddpm.export", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("checkpoint", help="a .safetensors checkpoint, a bundled model's name (digits, mnist), or a "
                                      "diffusers folder / .zip to re-save")
    p.add_argument("--format", default="diffusers", choices=FORMATS)
    p.add_argument("--out", required=True, help="the folder to write (must not exist yet, or be empty)")
    p.add_argument("--weights", default="ema", choices=["ema", "raw"])
    add_threads_arg(p)
    p.add_argument("--lang", choices=("en", "zh"), default="en", help="language of the messages: en or zh (中文)")
    a = p.parse_args(argv)
    try:
        set_threads(a.threads)
        out = export_diffusers(a.checkpoint, a.out, weights=a.weights)
    except (CheckpointError, FileNotFoundError, FileExistsError, ValueError) as e:
        print(render(msg("cli.error", error=getattr(e, "message", str(e))), a.lang), file=sys.stderr)
        return 2
    conditional = bool(json.loads((out / "unet" / "config.json").read_text()).get("num_class_embeds"))
    print(render(msg("export.wrote_conditional" if conditional else "export.wrote", out=str(out),
                     readme=str(out / "README.md")), a.lang))
    return 0


if __name__ == "__main__":
    sys.exit(main())
