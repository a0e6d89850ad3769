"""The README's Python API example runs as written (paths moved to a temporary folder)."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def python_api_block() -> str:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Python API"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_opens_with_the_two_commands():
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", text, re.S)
    assert blocks[0].strip().endswith("python app.py") and "requirements.txt" in blocks[0]
    assert blocks[1].strip().endswith("python -m pytest -q") and "requirements-dev.txt" in blocks[1]
    ci = (ROOT / ".ci" / "run").read_text()
    assert blocks[1].strip() in ci      # CI runs exactly the README's test command


@pytest.mark.slow
def test_readme_python_api_example_runs(tmp_path, monkeypatch):
    code = python_api_block()
    code = code.replace('"runs/api"', repr(str(tmp_path / "api"))).replace('"reports/tiny"', repr(str(tmp_path / "rep")))
    monkeypatch.chdir(ROOT)          # "checkpoints/..." as a user in the repository would type it
    scope: dict = {}
    exec(compile(code, "README.md (Python API)", "exec"), scope)
    assert tuple(scope["res"].images.shape) == (8, 1, 16, 16)
    assert scope["result"].step == 200 and Path(scope["files"].html_path).exists()
