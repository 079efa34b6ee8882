"""The engine never imports streamlit: the command line and a notebook must run without it."""

import ast
import pathlib
import subprocess
import sys

ENGINE = pathlib.Path(__file__).resolve().parent.parent / "pexxero"


def test_no_module_in_the_engine_imports_streamlit():
    offenders = []
    for path in ENGINE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(name == "streamlit" or name.startswith("streamlit.") for name in names):
                offenders.append(f"{path.relative_to(ENGINE.parent)}:{node.lineno}")
    assert offenders == []


def test_importing_the_whole_engine_loads_no_streamlit():
    modules = sorted(
        "pexxero." + ".".join(p.relative_to(ENGINE).with_suffix("").parts)
        for p in ENGINE.rglob("*.py")
        if p.name not in ("__main__.py",)
    )
    code = (
        "import importlib, sys\n"
        f"for m in {[m.removesuffix('.__init__') for m in modules]!r}: importlib.import_module(m)\n"
        "print('streamlit' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
