"""Checkpoint formats: what `ddpm.load_checkpoint` recognises, one module per kind of file.

- `base`: the types every format returns (`LoadedCheckpoint`) and raises (`CheckpointError`);
- `limits`: the documented limits every config is checked against, and the shape check of a safetensors
  header against the module a config would build, both before any tensor is allocated.

Our own .safetensors format lives in `ddpm.checkpoint`.
"""
