"""The DDPM Workbench app: the page (layout.py), one module per tab (tabs/: its handlers and its layout),
what the tabs share (common.py), the one model cache (model_cache.py), the one training-job manager
(jobs.py) and the per-request limits (limits.py).

app.py builds the demo with `demo.layout.build_demo()` and launches it. The app's messages (demo/locales/{en,zh}.toml)
are registered with ddpm.messages here, so that an error of the job manager, the budget or the cache renders
wherever it is raised, with or without the page."""
from pathlib import Path

from ddpm.messages import register_catalogue

register_catalogue(Path(__file__).with_name("locales"))
