"""masakarimonitors.conf and process_list.yaml as the charm renders them, loaded by the real
masakari-monitors: its option definitions and its process monitor's own list handling.

Runs in the tox envs that install a real release (zed: Debian 12's 14.0.0; latest), in a pytest
run of its own: masakari and masakari-monitors register clashing options in oslo's global CONF.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import subprocess
import sys

import pytest
from keystoneauth1 import loading
from oslo_config import cfg

import masakari_monitors_workload as workload
from charm_common.system import RunResult
from charm_common.testing import FakeSystem
from tests.oslo_schema import option_errors

NAMESPACES = ["masakarimonitors.conf", "oslo.log"]

BASE = workload.MonitorsContext(
    hostname="virt-node-01.maas",
    group="masakari",
    debug=False,
    use_syslog=False,
    api=workload.Api(
        auth_url="http://10.5.0.30:35357/v3",
        username="masakari-monitors",
        password="pw",
        project="services",
        user_domain="service_domain",
        project_domain="service_domain",
        region="RegionOne",
        interface="public",
    ),
    enabled=("host", "instance", "process"),
    host_driver=workload.FENCE_CONFIRMED_DRIVER,
    monitoring_interval=10,
    monitoring_samples=1,
    stonith_wait=30,
    api_retry_max=12,
    api_retry_interval=10,
    process_check_interval=5,
    process_list=workload.DEFAULT_PROCESS_LIST,
    libvirt_group="libvirt",
    metrics_address="10.5.0.11",
    metrics_port=9787,
)

CASES = {
    "defaults": BASE,
    "every monitor, internal endpoints, CA, upstream driver, tuned": dataclasses.replace(
        BASE,
        debug=True,
        use_syslog=True,
        api=dataclasses.replace(BASE.api, interface="internal", ca_cert=b"ca"),
        enabled=tuple(workload.MONITORS),
        host_driver=workload.DEFAULT_DRIVER,
        monitoring_interval=60,
        monitoring_samples=3,
        stonith_wait=0,
        api_retry_max=0,
        api_retry_interval=1,
        process_check_interval=30,
    ),
}


def register_at_run_time(conf: cfg.ConfigOpts) -> None:
    """What masakarimonitors.conf.api, and the fence-confirmed driver, register besides what
    masakari-monitors' list_opts() reports."""
    loading.register_session_conf_options(conf, "api")  # cafile, insecure, timeout, ...
    loading.register_auth_conf_options(conf, "api")  # auth_type
    # The fence-confirmed driver's own [fence_confirmed] options (its metrics server).
    from masakari_fence_confirmed.driver import METRICS_GROUP, METRICS_OPTS

    conf.register_opts(METRICS_OPTS, group=METRICS_GROUP)


def rendered(ctx: workload.MonitorsContext, path: str) -> bytes:
    return next(f.content for f in workload.render(ctx) if f.path == path)


@pytest.mark.parametrize("case", CASES)
def test_rendered_conf_loads_with_masakari_monitors_option_definitions(case, tmp_path):
    path = tmp_path / "masakarimonitors.conf"
    path.write_bytes(rendered(CASES[case], workload.MONITORS_CONF))
    errors = option_errors(path, NAMESPACES, {"api": "password"}, register=register_at_run_time)
    assert errors == []


def test_the_check_rejects_unknown_options_and_bad_values(tmp_path: pathlib.Path):
    path = tmp_path / "masakarimonitors.conf"
    text = rendered(BASE, workload.MONITORS_CONF).decode()
    text = text.replace("pacemaker_node_type = remote", "pacemaker_node_type = member")
    text = text.replace("[host]", "[host]\nregion = RegionOne")
    path.write_text(text)
    errors = option_errors(path, NAMESPACES, {"api": "password"}, register=register_at_run_time)
    assert "[host] region is not a registered option" in errors
    assert any(e.startswith("[host] pacemaker_node_type:") for e in errors)


def test_the_daemons_read_what_the_charm_meant(tmp_path: pathlib.Path, monkeypatch):
    """The monitors' own CONF object, loaded from the rendered file."""
    import masakarimonitors.conf

    conf = masakarimonitors.conf.CONF
    path = tmp_path / "masakarimonitors.conf"
    path.write_bytes(rendered(CASES["every monitor, internal endpoints, CA, upstream driver, "
                                    "tuned"], workload.MONITORS_CONF))  # fmt: skip
    conf(args=["--config-file", str(path)], project="masakarimonitors", default_config_files=[])
    try:
        assert conf.hostname == "virt-node-01.maas"
        assert conf.api.api_interface == "internal"
        assert conf.api.cafile == workload.KEYSTONE_CA
        assert conf.api.auth_type == "password"
        assert conf.host.pacemaker_node_type == "remote"
        assert conf.host.restrict_to_remotes is True
        assert conf.host.disable_ipmi_check is True
        assert conf.host.monitoring_samples == 3
        assert conf.process.process_list_path == workload.PROCESS_LIST
        assert conf.callback.retry_interval == 1
        assert conf.introspectiveinstancemonitor.guest_monitoring_interval == 10
    finally:
        conf.reset()
        conf.clear()


def test_the_driver_reads_where_to_serve_its_metrics(tmp_path: pathlib.Path):
    """[fence_confirmed] as the charm renders it, read through the driver's own options."""
    from masakari_fence_confirmed.driver import CONF, METRICS_GROUP

    path = tmp_path / "masakarimonitors.conf"
    path.write_bytes(rendered(BASE, workload.MONITORS_CONF))
    CONF(args=["--config-file", str(path)], project="masakarimonitors", default_config_files=[])
    try:
        assert CONF[METRICS_GROUP].metrics_address == "10.5.0.11"
        assert CONF[METRICS_GROUP].metrics_port == 9787
    finally:
        CONF.reset()
        CONF.clear()
    without = dataclasses.replace(BASE, metrics_address="", metrics_port=0)
    assert b"[fence_confirmed]" not in rendered(without, workload.MONITORS_CONF)


@pytest.mark.parametrize(
    "processes",
    [
        workload.DEFAULT_PROCESS_LIST,
        workload.parse_process_list(
            "- process_name: /usr/sbin/ovs-vswitchd\n"
            "  start_command: systemctl start openvswitch-switch\n"
            "  pre_start_command: logger starting ovs\n"
            "  restart_command: systemctl restart openvswitch-switch\n"
            "  run_as_root: false\n"
        ),
    ],
    ids=["default", "override"],
)
def test_process_monitor_loads_and_runs_the_rendered_process_list(
    processes, tmp_path: pathlib.Path, monkeypatch
):
    import masakarimonitors.conf
    from masakarimonitors import utils
    from masakarimonitors.processmonitor import process
    from masakarimonitors.processmonitor.process_handler import handle_process

    path = tmp_path / "process_list.yaml"
    path.write_bytes(workload.render_process_list(processes))
    conf = masakarimonitors.conf.CONF
    conf([], project="masakarimonitors", default_config_files=[])
    conf.set_override("process_list_path", str(path), group="process")
    executed: list[tuple[tuple[str, ...], bool]] = []

    def execute(*command: str, run_as_root: bool = False) -> tuple[str, str]:
        executed.append((command, run_as_root))
        return ("", "")  # ps -ef shows nothing: every process is "down"

    monkeypatch.setattr(utils, "execute", execute)
    try:
        loaded = process.ProcessmonitorManager()._load_process_list()
        assert loaded == [{k: p.get(k) for k in workload.PROCESS_KEYS} for p in processes]
        handler = handle_process.HandleProcess()
        handler.set_process_list(loaded)
        handler.start_processes()  # indexes every key of every entry
        down = handler.monitor_processes()
        assert [p["process_name"] for p in down] == [p["process_name"] for p in processes]
    finally:
        conf.reset()
        conf.clear()
    starts = [c for c in executed if c[0][0] != "ps"]
    expected = []
    for p in processes:
        for key in ("pre_start_command", "start_command", "post_start_command"):
            if p.get(key):
                expected.append((tuple(str(p[key]).split()), p["run_as_root"]))
    assert starts == expected


LOAD_DRIVER = """
import json, sys
from stevedore import driver
loaded = driver.DriverManager("hostmonitor.driver", "fence-confirmed").driver
print(json.dumps({"class": loaded.__name__, "file": sys.modules[loaded.__module__].__file__}))
"""


def test_driver_the_charm_installs_is_what_masakari_hostmonitor_loads(tmp_path: pathlib.Path):
    site_dir = "/usr/local/lib/python3.12/dist-packages"
    system = FakeSystem()
    system.responders[(workload.SYSTEM_PYTHON, "-c")] = lambda argv: RunResult(0, site_dir, "")
    assert workload.install_fence_confirmed_driver(system) is True
    assert workload.install_fence_confirmed_driver(system) is False  # idempotent
    site = tmp_path / "site"
    for path, file in system.files.items():
        target = site / pathlib.PurePosixPath(path).relative_to(site_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(file.content)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    result = subprocess.run(
        [sys.executable, "-c", LOAD_DRIVER], env={**env, "PYTHONPATH": str(site)},
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded == {
        "class": "FenceConfirmedDriver",
        "file": str(site / "masakari_fence_confirmed" / "driver.py"),
    }
