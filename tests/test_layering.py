"""The architecture rule: dlcore knows nothing of Streamlit, and pages do no torch work themselves."""

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_dlcore_never_imports_streamlit():
    for path in (REPO / "dlcore").glob("*.py"):
        assert "streamlit" not in _imported_modules(path), path
    code = "import sys, dlcore.cli, dlcore.training, dlcore.runs; import pkgutil, importlib, dlcore\n" \
           "[importlib.import_module(f'dlcore.{m.name}') for m in pkgutil.iter_modules(dlcore.__path__) if m.name != '__main__']\n" \
           "print('streamlit' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_ui_layer_never_imports_torch():
    ui_files = [REPO / "app.py", *(REPO / "ui").glob("*.py"), *(REPO / "app_pages").glob("*.py")]
    for path in ui_files:
        assert not _imported_modules(path) & {"torch", "torchvision"}, path
