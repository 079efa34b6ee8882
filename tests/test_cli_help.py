import subprocess
import sys


def test_help_lists_every_command_of_the_product():
    out = subprocess.run([sys.executable, "-m", "pexxero", "--help"], capture_output=True, text=True, check=True)
    for command in ("connect", "config", "preview", "sync", "history", "tags", "sandbox"):
        assert command in out.stdout
