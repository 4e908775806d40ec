"""tests.yaml, read by zaza's own loader, names only bundles, overlays, configure steps and test
classes that exist, import and fit together; runs without a cloud (`tox -e functional-check`)."""

from __future__ import annotations

import inspect
import pathlib
import re
import subprocess
import unittest
from collections.abc import Iterator

import pytest
import yaml
import zaza.charm_lifecycle.deploy as deploy
import zaza.charm_lifecycle.func_test_runner as func_test_runner
import zaza.charm_lifecycle.utils as utils
import zaza.global_options

from tests.functional import build_bundles, configure, juju_cloud, openstack_api, run
from tests.functional import cloud as cloud_module

ROOT = pathlib.Path(__file__).resolve().parents[3]
SUITE = ROOT / "tests" / "functional"
OVERLAYS = SUITE / "bundles" / "overlays"
SUITE_CHARMS = {"masakari", "masakari-monitors", "pacemaker-remote"}
BASE_PLATFORM = {"ubuntu@24.04": "ubuntu-24.04-amd64", "ubuntu@22.04": "ubuntu-22.04-amd64"}
ENVIRONMENT = {
    "OS_VIP00": "10.5.100.1",
    "TEST_MAAS_URL": "http://10.5.0.2:5240/MAAS",
    "TEST_MAAS_API_KEY": "consumer:token:secret",
}


@pytest.fixture(autouse=True)
def zaza_reads_this_suite(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.chdir(ROOT)
    utils.set_base_test_dir(str(SUITE))
    zaza.global_options.reset_options()
    yield
    utils.unset_base_test_dir()
    zaza.global_options.reset_options()


def config() -> dict:
    return utils.get_charm_config(cached=False)


def bundle_names() -> list[str]:
    names = []
    for key in ("gate_bundles", "smoke_bundles", "dev_bundles"):
        for environment in utils.get_environment_deploys(key):
            names += [deploy.bundle for deploy in environment.model_deploys]
    return sorted(set(names))


def load_bundle(name: str) -> dict:
    return yaml.safe_load((pathlib.Path(utils.get_bundle_dir()) / f"{name}.yaml").read_text())


def charm_metadata(name: str) -> dict | None:
    path = ROOT / "charms" / name / "charmcraft.yaml"
    return yaml.safe_load(path.read_text()) if path.exists() else None


def endpoints(metadata: dict) -> set[str]:
    names = {"juju-info"}
    for kind in ("requires", "provides", "peers"):
        names |= set(metadata.get(kind) or {})
    return names


def test_tests_yaml_names_the_masakari_charm_and_both_series() -> None:
    assert config()["charm_name"] == "masakari"
    assert bundle_names() == ["jammy-caracal", "noble-caracal"]
    assert [e.model_deploys[0].bundle for e in utils.get_environment_deploys("smoke_bundles")] == [
        "noble-caracal"
    ]


def test_every_bundle_exists_once() -> None:
    for name in bundle_names():
        plain = pathlib.Path(utils.get_bundle_dir()) / f"{name}.yaml"
        assert plain.is_file(), plain
        assert not plain.with_suffix(".yaml.j2").exists(), "zaza refuses a bundle and a template"


def render_overlay(name: str, tmp_path: pathlib.Path) -> dict:
    template = deploy.get_template(f"{name}.yaml", template_dir=str(OVERLAYS))
    assert template is not None, f"no overlay template for {name}"
    target = tmp_path / f"{name}.yaml"
    deploy.render_template(template, str(target))
    return yaml.safe_load(target.read_text())


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in ENVIRONMENT.items():
        monkeypatch.setenv(key, value)


def deployment(name: str, tmp_path: pathlib.Path) -> tuple[dict, dict]:
    """(bundle, rendered overlay) as zaza hands them to `juju deploy`."""
    return load_bundle(name), render_overlay(name, tmp_path)


@pytest.mark.parametrize("name", ["noble-caracal", "jammy-caracal"])
def test_overlay_uses_the_packed_local_charms_for_the_bundle_base(
    name: str, tmp_path: pathlib.Path, environment: None
) -> None:
    bundle, overlay = deployment(name, tmp_path)
    platform = BASE_PLATFORM[bundle["default-base"]]
    local = {}
    for app, spec in {**bundle["applications"], **overlay["applications"]}.items():
        charm = spec.get("charm", "")
        if not charm.startswith("ch:"):
            local[app] = pathlib.Path(charm)
            assert local[app] == ROOT / f"{app}_{platform}.charm", f"{app}: {charm}"
            metadata = charm_metadata(app)
            if metadata is not None:
                assert platform in metadata["platforms"], f"{app} is not built for {platform}"
    assert set(local) == SUITE_CHARMS
    assert not deploy.should_render_local_overlay(str(SUITE / "bundles" / f"{name}.yaml"))


def test_test_bundles_are_built_from_the_shipped_bundle_and_overlay() -> None:
    try:
        files = build_bundles.build(ROOT)
    except build_bundles.SourceMissing as missing:
        pytest.skip(f"{missing} (merge the branch that ships it)")
    for path, text in files.items():
        assert (ROOT / path).read_text() == text, (
            f"{path} is stale: run python -m tests.functional.build_bundles"
        )


@pytest.mark.parametrize("name", ["noble-caracal", "jammy-caracal"])
def test_relations_join_endpoints_the_charms_have(
    name: str, tmp_path: pathlib.Path, environment: None
) -> None:
    bundle, overlay = deployment(name, tmp_path)
    applications = {**bundle["applications"], **overlay["applications"]}
    for pair in bundle["relations"] + overlay["relations"]:
        for end in pair:
            app, _, endpoint = end.partition(":")
            assert app in applications, f"{end}: no such application"
            metadata = charm_metadata(app) if app in SUITE_CHARMS else None
            if metadata is not None:
                assert endpoint in endpoints(metadata), f"{end}: {app} has no such endpoint"


@pytest.mark.parametrize("name", ["noble-caracal", "jammy-caracal"])
def test_target_deploy_status_covers_every_application(
    name: str, tmp_path: pathlib.Path, environment: None
) -> None:
    bundle, overlay = deployment(name, tmp_path)
    applications = set(bundle["applications"]) | set(overlay["applications"])
    assert set(config()["target_deploy_status"]) == applications
    assert config()["target_deploy_status"]["vault"]["workload-status"] == "blocked"


@pytest.mark.parametrize("name", ["noble-caracal", "jammy-caracal"])
def test_overlay_renders_the_guide_settings_from_the_environment(
    name: str, tmp_path: pathlib.Path, environment: None
) -> None:
    bundle, overlay = deployment(name, tmp_path)
    apps = overlay["applications"]
    assert apps["masakari"]["options"]["vip"] == "10.5.100.1"
    assert apps["hacluster"]["options"] == {
        "maas_url": "http://10.5.0.2:5240/MAAS",
        "maas_credentials": "consumer:token:secret",
    }
    assert apps["pacemaker-remote"]["options"] == {
        "enable-stonith": True,
        "enable-resources": False,
    }
    for app, spec in apps.items():
        assert app in bundle["applications"] or "charm" in spec, f"{app}: no charm anywhere"
        metadata = charm_metadata(app) if app in SUITE_CHARMS else None
        if metadata is not None:
            known = set(metadata["config"]["options"])
            assert set(spec.get("options", {})) <= known, f"{app}: unknown options"


@pytest.mark.parametrize("missing", sorted(ENVIRONMENT))
def test_overlay_refuses_to_render_without_each_variable(
    missing: str, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in ENVIRONMENT.items():
        if key != missing:
            monkeypatch.setenv(key, value)
    monkeypatch.delenv(missing, raising=False)
    with pytest.raises(SystemExit):
        render_overlay("noble-caracal", tmp_path)


def test_overlays_are_found_where_the_runner_points_zaza() -> None:
    argv = run.configure_zaza(["--keep-model", "--bundle", "noble-caracal"])
    assert pathlib.Path(deploy.get_overlay_template_dir()).resolve() == OVERLAYS
    args = func_test_runner.parse_args(argv)
    assert args.bundles == ["noble-caracal"] and args.test_directory == "tests/functional"
    # the local charms' directory that zaza hands templates as charm_location
    assert deploy.get_charm_config_context()["charm_location"] == str(ROOT)


def test_every_configure_step_imports_and_is_callable() -> None:
    steps = utils.get_config_steps()["default_alias"]
    assert steps
    for step in steps:
        function = utils.get_class(step)
        assert callable(function), step
        assert not inspect.signature(function).parameters or all(
            p.default is not p.empty for p in inspect.signature(function).parameters.values()
        ), f"{step}: zaza calls configure steps without arguments"


def test_every_test_class_imports_and_has_tests() -> None:
    classes = utils.get_test_steps()["default_alias"]
    assert classes
    for name in classes:
        cls = utils.get_class(name)
        assert issubclass(cls, unittest.TestCase), name
        assert unittest.TestLoader().getTestCaseNames(cls), f"{name} has no tests"


def test_failover_class_runs_the_shared_scenarios_in_order() -> None:
    cls = utils.get_class("tests.functional.masakari_tests.MasakariFailoverTest")
    assert list(unittest.TestLoader().getTestCaseNames(cls)) == [
        "test_1_instance_restart",
        "test_2_host_failover_to_reserved_host",
        "test_3_second_failure_after_reinsertion",
    ]


def test_juju_cloud_implements_the_whole_interface() -> None:
    assert not inspect.isabstract(juju_cloud.JujuCloud)


def test_sdk_api_has_every_call_the_scenarios_make() -> None:
    protocol = cloud_module.OpenStackApi
    wanted = {n for n, f in vars(protocol).items() if callable(f) and not n.startswith("_")}
    for name in wanted:
        implementation = getattr(openstack_api.SdkOpenStackApi, name)
        assert inspect.signature(implementation) == inspect.signature(getattr(protocol, name)), (
            name
        )


def test_tests_options_are_valid_and_unknown_ones_are_named() -> None:
    config()  # merges tests_options into zaza's global options, as the runner does
    options = juju_cloud.test_options()
    assert options["segment-name"] == "S1"
    assert options["timers"] == {"host_boot_timeout": 900}
    zaza.global_options.merge({"masakari": {"segment_nmae": "S2"}}, override=True)
    with pytest.raises(juju_cloud.FunctionalConfigError, match="unknown option.*segment-nmae"):
        juju_cloud.test_options()


def test_failed_host_interface_is_the_one_holding_the_units_address() -> None:
    def interface(address: str) -> str:
        shell = juju_cloud.find_interface(address) + '; echo "$iface"'
        return subprocess.run(["sh", "-c", shell], capture_output=True, text=True).stdout.strip()

    assert interface("127.0.0.1") == "lo"
    assert interface("192.0.2.254") == ""  # TEST-NET-1: held by no interface here


def test_preflight_names_each_missing_variable_and_charm(tmp_path: pathlib.Path) -> None:
    (tmp_path / "juju").write_text("#!/bin/sh\n")
    (tmp_path / "juju").chmod(0o755)
    problems = run.preflight(["noble-caracal"], {"PATH": str(tmp_path), "OS_VIP00": "10.0.0.9"})
    text = "\n".join(problems)
    assert "OS_VIP00" not in text
    assert "TEST_MAAS_URL is not set" in text and "TEST_MAAS_API_KEY is not set" in text
    missing_charms = [p for p in problems if "run `tox -e build` first" in p]
    packed = {f"{app}_ubuntu-24.04-amd64.charm" for app in SUITE_CHARMS}
    assert len(missing_charms) == len([n for n in packed if not (ROOT / n).exists()])
    assert run.preflight(["noble-caracl"], {"PATH": str(tmp_path)})[-1].startswith(
        "no bundle noble-caracl: the bundles are jammy-caracal, noble-caracal"
    )
    assert "juju is not on the PATH" in "\n".join(run.preflight([], {"PATH": "/nonexistent"}))


def test_runner_selects_the_bundles_tests_yaml_names() -> None:
    parse = func_test_runner.parse_args
    argv = run.configure_zaza([])
    assert run.selected_bundles(parse(argv)) == ["noble-caracal", "jammy-caracal"]
    assert run.selected_bundles(parse([*argv, "--smoke"])) == ["noble-caracal"]
    assert run.selected_bundles(parse([*argv, "-b", "jammy-caracal"])) == ["jammy-caracal"]


def test_deploy_states_accept_the_suites_own_ready_messages() -> None:
    states = config()["target_deploy_status"]
    for app, message in {
        "masakari": "Incomplete relations: identity-service",
        "masakari-monitors": "Unit is ready",
        "pacemaker-remote": "Remote node virt-node-01.maas online in cluster",
        "keystone": "'certificates' awaiting server certificate data",
    }.items():
        assert re.search(states[app]["workload-status-message-regex"], message), app
    after_vault = configure.READY["pacemaker-remote"]["workload-status-message-regex"]
    assert re.search(after_vault, "Remote node virt-node-01.maas online in cluster")
    assert not re.search(
        after_vault, "Remote node virt-node-01.maas known to the cluster but offline"
    )


def test_juju_cloud_timers_come_from_the_deployed_charms(monkeypatch: pytest.MonkeyPatch) -> None:
    configs = {  # as libjuju's Application.get_config returns them
        "masakari": {
            "evacuation-delay": {"value": 0},
            "evacuation-timeout": {"value": 45},
            "debug": {"value": False},
        },
        "masakari-monitors": {
            "host-monitoring-interval": {"value": 10},
            "host-monitoring-samples": {"value": 2},
        },
    }
    monkeypatch.setattr(juju_cloud.zaza.model, "get_application_config", configs.__getitem__)
    cloud = juju_cloud.JujuCloud.__new__(juju_cloud.JujuCloud)
    cloud.options = {**juju_cloud.OPTIONS, "timers": {"host_boot_timeout": 900}}
    timers = cloud.timers()
    assert (timers.evacuation_delay, timers.evacuation_timeout) == (0, 45)
    assert timers.host_monitor_interval == 20
    assert timers.host_boot_timeout == 900
    assert timers.power_off_timeout == cloud_module.Timers().power_off_timeout
    cloud.options["timers"] = {"boot": 900}
    with pytest.raises(juju_cloud.FunctionalConfigError, match="unknown timer.*boot"):
        cloud.timers()
