"""Write a run's raw (non-EMA) weights as a shareable checkpoint, without the training state.

    python tools/export_raw_weights.py runs/mnist_b16/last.safetensors checkpoints/mnist_tiny.safetensors

For a short run the EMA is still mostly the initialisation (with decay d after n steps, d^n of it: 0.999^1229 =
29%), so its raw weights sample better; load_checkpoint falls back to raw weights when a file holds no EMA.
"""
from __future__ import annotations

import json
import sys

from safetensors import safe_open
from safetensors.torch import save_file


def main(argv=None) -> int:
    src, dst = (argv if argv is not None else sys.argv[1:])[:2]
    with safe_open(src, "pt") as f:
        meta = json.loads(f.metadata()["ddpm"])
        meta.pop("train_state", None)
        tensors = {k: f.get_tensor(k).contiguous() for k in f.keys() if k.startswith("model.")}
    save_file(tensors, dst, metadata={"ddpm": json.dumps(meta)})
    print(f"{dst}: {len(tensors)} raw tensors, step {meta.get('step')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
