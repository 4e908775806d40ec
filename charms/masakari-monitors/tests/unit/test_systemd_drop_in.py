"""The rendered drop-ins, read by systemd itself on top of Debian 12's packaged units."""

from __future__ import annotations

import pathlib
import shutil
import subprocess

import pytest

import masakari_monitors_workload as workload

from .test_charm import configured

# Debian 12's masakari-*-monitor units (14.0.0-1.1), which start the generic OpenStack init
# script; that script passes --config-file=/etc/masakari/masakari.conf.
DEBIAN_UNIT = """\
[Unit]
Description=OpenStack Masakari ({service})
After=network-online.target local-fs.target remote-fs.target
Wants=network-online.target

[Service]
User=masakari
Group=masakari
Type=simple
WorkingDirectory=~
RuntimeDirectory=masakari lock/masakari
CacheDirectory=masakari
ExecStart=/etc/init.d/{service} systemd-start
Restart=on-failure
LimitNOFILE=65535
TimeoutStopSec=15

[Install]
WantedBy=multi-user.target
"""


def systemd_verdict(root: pathlib.Path, service: str) -> str:
    """What systemd says about the unit under an empty root, where no command exists (whatever
    this machine has installed): it names the ExecStart command it would run."""
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", f"--root={root}", f"{service}.service"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    return result.stdout + result.stderr


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="needs systemd-analyze")
def test_systemd_runs_each_monitor_with_the_charms_config_file(ctx, system, ready_state, tmp_path):
    ctx.run(ctx.on.config_changed(), configured(ready_state, enable_introspective_monitor=True))
    units = tmp_path / "etc/systemd/system"
    units.mkdir(parents=True)
    for monitor in workload.MONITORS.values():
        (units / f"{monitor.service}.service").write_text(
            DEBIAN_UNIT.format(service=monitor.service)
        )
        packaged = systemd_verdict(tmp_path, monitor.service)
        assert f"/etc/init.d/{monitor.service} is not executable" in packaged

        drop_in = tmp_path / workload.drop_in_path(monitor.service).lstrip("/")
        assert drop_in.parent.parent == units
        drop_in.parent.mkdir()
        drop_in.write_bytes(system.files[workload.drop_in_path(monitor.service)].content)
        ours = systemd_verdict(tmp_path, monitor.service)
        # Nothing is installed under the root, so systemd names the command it would exec.
        assert f"Command {monitor.binary} is not executable" in ours
        assert "/etc/init.d/" not in ours
        assert "Unknown key" not in ours and "Invalid" not in ours


def test_the_drop_in_carries_the_config_file_argument(ctx, system, ready_state):
    ctx.run(ctx.on.config_changed(), ready_state)
    drop_in = system.text(workload.drop_in_path(workload.MONITORS["host"].service))
    exec_start = [line for line in drop_in.splitlines() if line.startswith("ExecStart=")]
    assert exec_start == [
        "ExecStart=",
        "ExecStart=/usr/bin/masakari-hostmonitor "
        "--config-file=/etc/masakarimonitors/masakarimonitors.conf",
    ]
