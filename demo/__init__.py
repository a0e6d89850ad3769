"""The DDPM Workbench app: gradio layout (layout.py), plain handlers (handlers.py), the one model cache
(model_cache.py), the one training-job manager (jobs.py) and the per-request limits (limits.py).

app.py builds the demo with `demo.layout.build_demo()` and launches it."""
