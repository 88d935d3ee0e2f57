"""The layer contract (pyproject.toml [tool.importlinter]) holds: interfaces
over services over the core over storage, and no interface reaching into
paperfeed.db. A new import across a layer fails here, in CI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_the_layer_contract_is_kept() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    run = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout
