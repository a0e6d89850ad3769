"""Export a checkpoint to another format.

    python -m ddpm.export checkpoints/digits_tiny.safetensors --format diffusers --out exported/digits_tiny

writes a diffusers DDPMPipeline folder (model_index.json, unet/ with config.json and safetensors weights,
scheduler/ with the exact betas) that `diffusers.DDPMPipeline.from_pretrained(DIR)` loads with no code from this
project. The U-Net maps block for block onto UNet2DModel (see README "Use your diffusers model" for the table);
a configuration that UNet2DModel cannot express is refused with the reason. The mapping lives in
`ddpm.formats.diffusers`.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Optional, Sequence

from .checkpoint import CheckpointError, LoadedCheckpoint, load_checkpoint
from .formats import diffusers as diffusers_format

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
    p.add_argument("checkpoint", help="a .safetensors checkpoint (or a diffusers folder / .zip to re-save)")
    p.add_argument("--format", default="diffusers", choices=FORMATS)
    p.add_argument("--out", required=True, help="the folder to write (must not exist yet, or be empty)")
    p.add_argument("--weights", default="ema", choices=["ema", "raw"])
    a = p.parse_args(argv)
    try:
        out = export_diffusers(a.checkpoint, a.out, weights=a.weights)
    except (CheckpointError, FileNotFoundError, FileExistsError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote a diffusers DDPMPipeline to {out}: DDPMPipeline.from_pretrained({str(out)!r}) loads it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
