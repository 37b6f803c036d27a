#!/usr/bin/env python3
"""One entry point for a fresh clone: set up .venv, then run the demo or the checks.

    python3 dev.py demo    # install and run a scripted Sev 1 against the built-in sandbox
    python3 dev.py test    # install and run ruff, mypy and the whole test suite

Only the Python standard library is used here, so it works before anything is installed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".sev1bot-installed"


def _inputs_hash() -> str:
    digest = hashlib.sha256()
    for name in ("pyproject.toml", "constraints.txt"):
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()


def ensure_venv() -> None:
    """Create .venv and install the project with its dev extras, once per change of the inputs."""
    if STAMP.exists() and STAMP.read_text() == _inputs_hash():
        return
    if not (BIN / "python").exists():
        print("dev.py: creating .venv", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("dev.py: installing sev1bot and its dependencies (pinned by constraints.txt)", flush=True)
    run(
        [
            str(BIN / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-c",
            "constraints.txt",
            "-e",
            ".[dev]",
        ]
    )
    STAMP.write_text(_inputs_hash())


def run(cmd: list[str]) -> None:
    result = subprocess.run(cmd, cwd=ROOT)
    if result.returncode != 0:
        sys.exit(result.returncode)


def main(argv: list[str]) -> None:
    if not argv or argv[0] not in {"demo", "test"}:
        sys.exit(__doc__)
    ensure_venv()
    py = str(BIN / "python")
    if argv[0] == "demo":
        run([str(BIN / "sev1bot"), "demo", *argv[1:]])
        return
    run([py, "-m", "ruff", "check", "src", "tests", "dev.py"])
    run([py, "-m", "ruff", "format", "--check", "src", "tests", "dev.py"])
    run([py, "-m", "mypy"])
    run([py, "-m", "pytest", *argv[1:]])


if __name__ == "__main__":
    main(sys.argv[1:])
