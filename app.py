"""DDPM Workbench: build the gradio app and launch it (demo/launch.py; installed, the same is `ddpm-app`).

    python app.py                       # http://127.0.0.1:7860, opened in a browser tab on a desktop
    python app.py --host 0.0.0.0 --port 8080
    GRADIO_SERVER_NAME=0.0.0.0 GRADIO_SERVER_PORT=8080 python app.py

On a Hugging Face Space (SPACE_ID is set) it listens on 0.0.0.0 by default.
"""
from __future__ import annotations

import os
import sys

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")   # gradio would reach the internet at launch

from demo.launch import has_display, main, server_address  # noqa: E402,F401

if __name__ == "__main__":
    sys.exit(main())
