"""Install this package into a site-packages directory without pip.

The masakari-monitors charm calls `install(site_dir)`: distribution Pythons (e.g. Ubuntu noble's)
refuse pip installs, but they do scan a local dist-packages directory. The package's modules are
copied there with a minimal `<name>-<version>.dist-info/` (METADATA, entry_points.txt, RECORD),
which is all importlib.metadata, and so stevedore, need to find the `hostmonitor.driver` entry
point. The distribution's masakari-monitors is left untouched.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from masakari_fence_confirmed import (
    DIST_NAME,
    DRIVER_NAME,
    DRIVER_TARGET,
    ENTRY_POINT_GROUP,
    __version__,
)

PACKAGE_DIR = Path(__file__).resolve().parent
_DIST_PREFIX = DIST_NAME.replace("-", "_")


def wanted_files(version: str = __version__) -> dict[str, bytes]:
    """Relative path -> content of everything the installed copy consists of."""
    files = {
        f"{PACKAGE_DIR.name}/{src.name}": src.read_bytes()
        for src in sorted(PACKAGE_DIR.glob("*.py"))
    }
    info = f"{_DIST_PREFIX}-{version}.dist-info"
    files[f"{info}/METADATA"] = (
        f"Metadata-Version: 2.1\nName: {DIST_NAME}\nVersion: {version}\n"
        "Summary: Fence-confirmed host-monitoring driver for masakari-hostmonitor\n"
    ).encode()
    files[f"{info}/entry_points.txt"] = (
        f"[{ENTRY_POINT_GROUP}]\n{DRIVER_NAME} = {DRIVER_TARGET}\n"
    ).encode()
    files[f"{info}/INSTALLER"] = b"masakari-monitors charm\n"
    record = "".join(f"{path},,\n" for path in sorted(files)) + f"{info}/RECORD,,\n"
    files[f"{info}/RECORD"] = record.encode()
    return files


def stale_files(site_dir: str | Path, version: str = __version__) -> list[Path]:
    """Files of ours in `site_dir` that are not part of `version` (e.g. an older dist-info,
    whose entry point would otherwise be found twice). Bytecode is left to Python."""
    site = Path(site_dir)
    wanted = wanted_files(version)
    ours = [site / PACKAGE_DIR.name, *site.glob(f"{_DIST_PREFIX}-*.dist-info")]
    return sorted(
        path
        for top in ours
        if top.is_dir()
        for path in top.rglob("*")
        if path.is_file()
        and path.suffix != ".pyc"
        and path.relative_to(site).as_posix() not in wanted
    )


def install(site_dir: str | Path, version: str = __version__) -> bool:
    """Copy the package into `site_dir`; return True if anything changed (idempotent)."""
    site = Path(site_dir)
    if not site.is_dir():
        raise FileNotFoundError(
            f"site_dir {site} does not exist; pass a directory the target Python scans "
            "(see system_site_dir())"
        )
    wanted = wanted_files(version)
    changed = False
    for path in stale_files(site, version):
        path.unlink()
        changed = True
    for info in site.glob(f"{_DIST_PREFIX}-*.dist-info"):
        if info.is_dir() and not any(info.iterdir()):
            info.rmdir()

    for rel, content in wanted.items():
        target = site / rel
        if target.is_file() and target.read_bytes() == content:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_bytes(content)
        tmp.chmod(0o644)
        tmp.replace(target)  # atomic: a running monitor never imports a half-written file
        changed = True
    if changed:
        # Stale bytecode of replaced modules must not shadow them.
        shutil.rmtree(site / PACKAGE_DIR.name / "__pycache__", ignore_errors=True)
    return changed


def system_site_dir(python: str = "/usr/bin/python3") -> Path:
    """The first local (/usr/local) dist- or site-packages directory `python` scans."""
    out = subprocess.run(
        [python, "-c", "import sys; print('\\n'.join(sys.path))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    for entry in out:
        if entry.startswith("/usr/local/lib/python3") and entry.endswith(
            ("dist-packages", "site-packages")
        ):
            return Path(entry)
    raise FileNotFoundError(f"{python} scans no /usr/local/lib/python3*/dist-packages directory")
