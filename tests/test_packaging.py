"""`pip install .` gives a `pexxero` command whose runtime dependencies are requirements.txt and nothing else."""

from __future__ import annotations

import shutil
import subprocess
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _requirements(name: str) -> set[str]:
    lines = (ROOT / name).read_text(encoding="utf-8").splitlines()
    return {line.split("#")[0].strip().lower() for line in lines if line.split("#")[0].strip()}


def test_runtime_and_test_pins_are_apart_and_pinned():
    runtime, test = _requirements("requirements.txt"), _requirements("requirements-test.txt")
    assert all("==" in pin for pin in runtime | test)
    assert not {pin.split("==")[0] for pin in runtime} & {pin.split("==")[0] for pin in test}
    assert not {"pytest", "hypothesis", "playwright", "ipykernel"} & {pin.split("==")[0] for pin in runtime}


@pytest.mark.slow
def test_pip_install_gives_a_working_pexxero_command(tmp_path):
    source = tmp_path / "src"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.split()
    for name in files:
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    env_dir = tmp_path / "venv"
    # the machine's packages stand in for PyPI (tests reach no registry); the install itself is the real one
    venv.create(env_dir, with_pip=False, system_site_packages=True)  # its pip and setuptools too
    python = env_dir / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", str(source)], check=True, capture_output=True, cwd=tmp_path)
    helped = subprocess.run([str(env_dir / "bin" / "pexxero"), "--help"], capture_output=True, text=True,
                            cwd=tmp_path)
    assert helped.returncode == 0, helped.stderr
    assert "sync" in helped.stdout and "preview" in helped.stdout
    requires = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print('\\n'.join(m.requires('pexxero')))"],
        capture_output=True, text=True, check=True, cwd=tmp_path).stdout.split("\n")
    runtime = {r.lower() for r in requires if r and "extra ==" not in r}
    assert runtime == _requirements("requirements.txt")
    assert any("pytest" in r and "extra ==" in r for r in requires)
