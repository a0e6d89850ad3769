"""Launch the DDPM Workbench app: `python app.py` in a checkout (also what a Hugging Face Space runs), or the
`ddpm-app` command after `pip install .[app]`. Builds the gradio app and serves it; nothing else happens here.

    ddpm-app                            # http://127.0.0.1:7860, opened in a browser tab on a desktop
    ddpm-app --host 0.0.0.0 --port 8080
    GRADIO_SERVER_NAME=0.0.0.0 GRADIO_SERVER_PORT=8080 ddpm-app

On a Hugging Face Space (SPACE_ID is set) it listens on 0.0.0.0 by default.
"""
from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")   # gradio would reach the internet at launch


def server_address(host: str | None, port: int | None) -> tuple[str, int]:
    default_host = "0.0.0.0" if os.environ.get("SPACE_ID") else "127.0.0.1"
    host = host or os.environ.get("GRADIO_SERVER_NAME") or default_host
    port = port or int(os.environ.get("GRADIO_SERVER_PORT") or 7860)
    return host, port


def has_display() -> bool:
    """A desktop to open a browser tab on: macOS, Windows, or X11/Wayland (not a Space, CI or an SSH session)."""
    if os.environ.get("SPACE_ID") or os.environ.get("CI"):
        return False
    return sys.platform in ("darwin", "win32") or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


INSTALL_APP = "pip install 'ddpm-workbench[app]'"        # the [app] extra of pyproject.toml: gradio


def gradio_missing() -> bool:
    """True where gradio is not installed (the package was installed without its [app] extra). A gradio that is
    installed but fails to import is not hidden: its own error is raised."""
    try:
        import gradio  # noqa: F401
    except ModuleNotFoundError as e:
        if (e.name or "").split(".")[0] == "gradio":
            return True
        raise
    return False


def main(argv=None) -> int:
    prog = "ddpm-app" if os.path.basename(sys.argv[0]) == "ddpm-app" else "python app.py"
    parser = argparse.ArgumentParser(prog=prog, description="Launch the DDPM Workbench app.")
    parser.add_argument("--host", default=None, help="default: GRADIO_SERVER_NAME, else 127.0.0.1 "
                                                     "(0.0.0.0 on a Hugging Face Space)")
    parser.add_argument("--port", type=int, default=None, help="default: GRADIO_SERVER_PORT, else 7860")
    parser.add_argument("--no-browser", action="store_true",
                        help="do not open a browser tab (none is opened on a Space or a machine without a display)")
    args = parser.parse_args(argv)
    if gradio_missing():
        from ddpm.messages import msg       # demo/__init__.py registered demo/locales (no gradio needed)
        print(f"error: {msg('app.needs_gradio', install=INSTALL_APP)}", file=sys.stderr)
        return 2
    host, port = server_address(args.host, args.port)

    # this instance's training runs are its own (another app on this checkout neither lists nor stops them);
    # keyed by the port, so a restarted app adopts the run it left training
    os.environ.setdefault("DDPM_WORKBENCH_INSTANCE", f"app-{port}")
    from demo.guard import configure_logging
    configure_logging()                  # one line per refused or abandoned request, no traceback
    from demo.layout import build_demo, launch_kwargs
    from demo.limits import CONCURRENCY_LIMIT, QUEUE_MAX_SIZE
    demo = build_demo()
    demo.queue(default_concurrency_limit=CONCURRENCY_LIMIT, max_size=QUEUE_MAX_SIZE)
    demo.launch(server_name=host, server_port=port, show_error=False, footer_links=["api"],
                inbrowser=not args.no_browser and has_display(), **launch_kwargs())
    return 0


if __name__ == "__main__":
    sys.exit(main())
