"""The DDPM Workbench app: the page (layout.py), one module per tab (tabs/: its handlers and its layout),
what the tabs share (common.py), the one model cache (model_cache.py), the one training-job manager
(jobs.py) and the per-request limits (limits.py).

app.py builds the demo with `demo.layout.build_demo()` and launches it."""
