"""The README opens with the two set-up commands CI depends on, and the Python examples run as written: the
README's quick start, and the worked example of docs/reference/python-api.md (paths moved to a temporary folder)."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
API_PAGE = ROOT / "docs" / "reference" / "python-api.md"


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", path.read_text(encoding="utf-8"), flags=re.S | re.M)


def python_api_block() -> str:
    return python_blocks(API_PAGE)[0]


def test_readme_opens_with_the_two_commands():
    text = (ROOT / "README.md").read_text()
    assert text.startswith("---\ntitle: DDPM Workbench\n") and "\napp_file: app.py\n" in text.split("\n---\n")[0]
    blocks = re.findall(r"```bash\n(.*?)```", text, re.S)
    assert blocks[0].strip().endswith("python app.py") and "requirements.txt" in blocks[0]
    assert blocks[1].strip().endswith("python -m pytest -q") and "requirements-dev.txt" in blocks[1]
    ci = (ROOT / ".ci" / "run").read_text()
    assert blocks[1].strip() in ci      # CI runs exactly the README's test command


def test_readme_quick_start_python_runs(monkeypatch):
    monkeypatch.chdir(ROOT)
    scope: dict = {}
    exec(compile(python_blocks(ROOT / "README.md")[0], "README.md (quick start)", "exec"), scope)
    images = scope["res"].images
    assert tuple(images.shape) == (8, 1, 16, 16) and float(images.min()) >= -1 and float(images.max()) <= 1


@pytest.mark.slow
def test_readme_python_api_example_runs(tmp_path, monkeypatch):
    code = python_api_block()
    code = code.replace('"runs/api"', repr(str(tmp_path / "api"))).replace('"reports/tiny"', repr(str(tmp_path / "rep")))
    monkeypatch.chdir(ROOT)          # "checkpoints/..." as a user in the repository would type it
    scope: dict = {}
    exec(compile(code, "docs/reference/python-api.md", "exec"), scope)
    assert tuple(scope["res"].images.shape) == (8, 1, 16, 16)
    assert scope["result"].step == 200 and Path(scope["files"].html_path).exists()
