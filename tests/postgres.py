"""A throwaway PostgreSQL server for tests that must run on a real database (MLflow tracking, the KPI history).

Debian's PostgreSQL starts in a temporary folder, listening on 127.0.0.1 only, and is torn down afterwards;
tests using it skip only where the binaries are not installed (`make system` installs them, so CI runs them).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

BINARIES = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
needs_postgres = pytest.mark.skipif(not BINARIES, reason="PostgreSQL binaries not installed "
                                                         "(/usr/lib/postgresql/*/bin); `make system` installs them")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def as_postgres(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run its tools as the `postgres` user when we are root."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    bin_dir = Path(BINARIES[-1])
    root = Path(tempfile.mkdtemp(prefix="carealloc-pg-"))  # under /tmp, reachable by the postgres user
    root.chmod(0o755)
    data = root / "data"
    data.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(data, "postgres")
    port = free_port()
    subprocess.run(as_postgres([str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                                "--no-sync"]), check=True, capture_output=True)
    subprocess.run(as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log"), "-w",
                                "-o", f"-h 127.0.0.1 -p {port} -k {root}", "start"]), check=True,
                   capture_output=True)
    try:
        subprocess.run(as_postgres([str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres",
                                    "carealloc"]), check=True, capture_output=True)
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/carealloc"  # SQLAlchemy 2.1 defaults to psycopg 3
    finally:
        subprocess.run(as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]),
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
