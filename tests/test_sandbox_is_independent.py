"""The sandbox's Xero books are written by its own rules, never by the code under test: no module of
pexxero/sandbox/ imports pexxero.mapping or pexxero.reconcile, directly or through another module, so `synced`
and `changed` in the sandbox tests compare the product with an independent answer."""

import ast
import pathlib
import subprocess
import sys

SANDBOX = pathlib.Path(__file__).resolve().parent.parent / "pexxero" / "sandbox"
FORBIDDEN = ("pexxero.mapping", "pexxero.reconcile")


def _imported(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.module:
        return [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
    return []


def test_no_sandbox_module_imports_mapping_or_reconcile():
    offenders = [f"{path.name}:{node.lineno} {name}"
                 for path in sorted(SANDBOX.glob("*.py"))
                 for node in ast.walk(ast.parse(path.read_text(), filename=str(path)))
                 for name in _imported(node)
                 if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)]
    assert offenders == []


def test_importing_the_sandbox_and_building_its_books_loads_neither():
    modules = sorted("pexxero.sandbox." + p.stem for p in SANDBOX.glob("*.py") if p.stem != "__init__")
    code = ("import importlib, sys\n"
            f"for name in {modules!r}: importlib.import_module(name)\n"
            "from pexxero.sandbox import demo\n"
            "demo.xero_seed(1)\n"
            f"print(sorted(m for m in sys.modules if m in {FORBIDDEN!r}))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=SANDBOX.parent.parent)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
