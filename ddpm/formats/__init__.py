"""Checkpoint formats: what `ddpm.load_checkpoint` recognises, one module per kind of file.

- `base`: the types every format returns (`LoadedCheckpoint`) and raises (`CheckpointError`);
- `limits`: the documented limits every config is checked against, and the shape check of a safetensors
  header against the module a config would build, both before any tensor is allocated;
- `diffusers_config`: diffusers scheduler and UNet2DModel configs mapped to ours, or refused by field;
- `diffusers`: diffusers pipeline / UNet2DModel folders, their .zip and Hub ids (load), and export.

Our own .safetensors format lives in `ddpm.checkpoint`, whose `load_checkpoint` dispatches on what a path is.
"""
