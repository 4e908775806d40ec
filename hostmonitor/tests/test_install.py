"""Installing without pip, then loading the driver the way masakari-hostmonitor does."""

import json
import os
import subprocess
import sys
from pathlib import Path

import masakari_fence_confirmed
import pytest
from masakari_fence_confirmed import install

LOAD = """
import json, sys
import masakarimonitors.conf
from masakarimonitors.hostmonitor import host
from stevedore import driver

conf = masakarimonitors.conf.CONF
conf([], project="masakarimonitors", default_config_files=[])
direct = driver.DriverManager("hostmonitor.driver", "fence-confirmed", invoke_on_load=True)
conf.set_override("monitoring_driver", "fence-confirmed", group="host")
manager = host.HostmonitorManager()
manager.init_host()  # what the hostmonitor service does at start
loaded = manager.driver.driver
print(json.dumps({
    "direct": type(direct.driver).__name__,
    "class": type(loaded).__name__,
    "file": sys.modules[type(loaded).__module__].__file__,
    "default": driver.DriverManager("hostmonitor.driver", "default").driver.__name__,
}))
"""


def load_in_clean_process(site: Path, tmp_path: Path) -> dict:
    """Load through stevedore in a new interpreter that sees only `site` besides its venv."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(PYTHONPATH=str(site), XDG_CACHE_HOME=str(tmp_path / "cache"))
    result = subprocess.run(
        [sys.executable, "-c", LOAD],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_installed_copy_is_found_by_masakari_hostmonitor(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    assert install.install(site) is True
    loaded = load_in_clean_process(site, tmp_path)
    assert loaded["class"] == loaded["direct"] == "FenceConfirmedDriver"
    assert loaded["file"] == str(site / "masakari_fence_confirmed" / "driver.py")
    assert loaded["default"] == "HandleHost"  # upstream's driver is still there, untouched


def test_install_is_idempotent_and_repairs(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    assert install.install(site) is True
    assert install.install(site) is False
    # Bytecode written by a running monitor is not a change.
    (site / "masakari_fence_confirmed" / "__pycache__").mkdir()
    (site / "masakari_fence_confirmed" / "__pycache__" / "driver.cpython-311.pyc").write_bytes(
        b"x"
    )
    assert install.install(site) is False

    tracker = site / "masakari_fence_confirmed" / "tracker.py"
    tracker.write_text("broken")
    (site / "masakari_fence_confirmed" / "leftover.py").write_text("")
    assert install.install(site) is True
    assert tracker.read_bytes() == (install.PACKAGE_DIR / "tracker.py").read_bytes()
    assert not (site / "masakari_fence_confirmed" / "leftover.py").exists()
    assert not (site / "masakari_fence_confirmed" / "__pycache__").exists()
    assert oct(tracker.stat().st_mode & 0o777) == "0o644"


def test_upgrade_replaces_the_old_dist_info(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    install.install(site, version="0.0.1")
    assert install.install(site) is True
    infos = sorted(p.name for p in site.glob("*.dist-info"))
    assert infos == [f"masakari_fence_confirmed-{masakari_fence_confirmed.__version__}.dist-info"]
    meta = (site / infos[0] / "METADATA").read_text()
    assert f"Version: {masakari_fence_confirmed.__version__}\n" in meta


def test_stale_files_lists_what_an_upgrade_must_remove(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    install.install(site, version="0.0.1")
    (site / "masakari_fence_confirmed" / "gone.py").write_text("")
    (site / "unrelated.py").write_text("")
    stale = {p.relative_to(site).as_posix() for p in install.stale_files(site)}
    old_info = "masakari_fence_confirmed-0.0.1.dist-info"
    assert stale == {
        *(f"{old_info}/{n}" for n in ("INSTALLER", "METADATA", "RECORD", "entry_points.txt")),
        "masakari_fence_confirmed/gone.py",
    }
    install.install(site)
    assert install.stale_files(site) == []
    assert (site / "unrelated.py").exists()


def test_missing_site_dir_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="site_dir .*nope does not exist"):
        install.install(tmp_path / "nope")


def test_entry_point_matches_pyproject(tmp_path):
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((install.PACKAGE_DIR.parent / "pyproject.toml").read_text())
    declared = project["project"]["entry-points"]["hostmonitor.driver"]
    assert declared == {"fence-confirmed": masakari_fence_confirmed.DRIVER_TARGET}
    assert project["project"]["version"] == masakari_fence_confirmed.__version__
    site = tmp_path / "site"
    site.mkdir()
    install.install(site)
    (info,) = site.glob("*.dist-info")
    assert (info / "entry_points.txt").read_text() == (
        "[hostmonitor.driver]\n"
        "fence-confirmed = masakari_fence_confirmed.driver:FenceConfirmedDriver\n"
    )


@pytest.mark.skipif(not Path("/usr/bin/python3").exists(), reason="no system python")
def test_system_site_dir_is_a_local_dir_the_system_python_scans():
    site = install.system_site_dir("/usr/bin/python3")
    assert str(site).startswith("/usr/local/lib/python3")


def test_system_site_dir_without_local_dir_is_a_clear_error(tmp_path):
    fake = tmp_path / "python3"
    fake.write_text("#!/bin/sh\necho /usr/lib/python3/dist-packages\n")
    fake.chmod(0o755)
    with pytest.raises(FileNotFoundError, match="scans no /usr/local"):
        install.system_site_dir(str(fake))
