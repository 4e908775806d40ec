"""Narrow workarounds for Debian 12 packaging bugs, applied to the installed packages.

They fix the distribution, never what the charm renders, and `down` reverts them.

1. masakari 14.0.2 with python3-oslo.messaging 14.0.3-0+deb12u1: the notifier rebuilds the
   request context from a sanitised dict without `read_deleted`, masakari's context setter
   rejects the resulting None, and every segment/host/notification create is an HTTP 500.
   Fix: the setter maps None to masakari's own default, 'no'.
2. python3-taskflow 5.0.0-3 ships without taskflow/persistence/backends/sqlalchemy/alembic/,
   so `masakari-manage db sync` dies in migration 006 once `[taskflow] connection` is set.
   Fix: put the missing directory from the same upstream release (PyPI wheel) in place.
"""

from __future__ import annotations

import glob
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

from . import install, procs, settings

MASAKARI_CONTEXT = Path("/usr/lib/python3/dist-packages/masakari/context.py")
CONTEXT_ORIGINAL = "        if read_deleted not in ('no', 'yes', 'only'):\n"
CONTEXT_FIXED = (
    "        # masakari-lab: Debian 12's oslo.messaging rebuilds contexts without read_deleted\n"
    "        if read_deleted is None:\n"
    "            read_deleted = 'no'\n" + CONTEXT_ORIGINAL
)
TASKFLOW_SQLA = Path("/usr/lib/python3/dist-packages/taskflow/persistence/backends/sqlalchemy")
BACKUPS = settings.STATE / "distro-backups"


def apply() -> list[str]:
    """Apply what is needed; returns a line per fix applied now (empty when already done)."""
    done = []
    text = MASAKARI_CONTEXT.read_text()
    if CONTEXT_FIXED not in text and CONTEXT_ORIGINAL in text:
        BACKUPS.mkdir(parents=True, exist_ok=True)
        shutil.copy2(MASAKARI_CONTEXT, BACKUPS / "masakari-context.py")
        MASAKARI_CONTEXT.write_text(text.replace(CONTEXT_ORIGINAL, CONTEXT_FIXED, 1))
        install.record_created(str(MASAKARI_CONTEXT), kind="patched")
        done.append(f"patched {MASAKARI_CONTEXT} (read_deleted=None -> 'no')")
    alembic = TASKFLOW_SQLA / "alembic"
    if TASKFLOW_SQLA.is_dir() and not (alembic / "alembic.ini").exists():
        version = _taskflow_version()
        with tempfile.TemporaryDirectory() as tmp:
            procs.run(
                [
                    str(settings.VENV / "bin" / "pip"),
                    "download",
                    "--quiet",
                    "--no-deps",
                    "--only-binary",
                    ":all:",
                    f"taskflow=={version}",
                    "-d",
                    tmp,
                ],
                log="distro-fixes",
                timeout=300,
            )
            wheel = glob.glob(f"{tmp}/taskflow-*.whl")[0]
            prefix = "taskflow/persistence/backends/sqlalchemy/alembic/"
            with zipfile.ZipFile(wheel) as zf:
                for member in zf.namelist():
                    if member.startswith(prefix) and not member.endswith("/"):
                        target = alembic / member[len(prefix) :]
                        target.parent.mkdir(parents=True, exist_ok=True)
                        target.write_bytes(zf.read(member))
        install.record_created(str(alembic), kind="dir")
        done.append(f"added {alembic} from taskflow {version} (missing from python3-taskflow)")
    return done


def revert() -> None:
    created = install.load_created()
    backup = BACKUPS / "masakari-context.py"
    if str(MASAKARI_CONTEXT) in created.get("patched", []) and backup.exists():
        shutil.copy2(backup, MASAKARI_CONTEXT)


def _taskflow_version() -> str:
    out = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Version}", "python3-taskflow"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.split(":")[-1].split("-")[0]
