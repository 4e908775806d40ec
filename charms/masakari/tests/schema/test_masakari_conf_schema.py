"""masakari.conf as the charm renders it, loaded with Masakari's own option definitions.

Runs in the tox envs that install a real masakari release (zed: Debian 12's 14.0.2; latest).
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import pathlib

import pytest
import yaml

import masakari_workload as workload
from charm_common.origin import release_of
from config import ENGINE_OPTIONS
from tests.oslo_schema import option_errors

NAMESPACES = [
    "masakari.conf", "keystonemiddleware.auth_token", "oslo.db", "oslo.log", "oslo.messaging",
    "oslo.middleware", "oslo.policy", "oslo.service.service", "oslo.service.wsgi",
    "oslo.versionedobjects", "oslo.concurrency",
]  # fmt: skip
RELEASE = release_of(importlib.metadata.version("masakari"))
OPTIONS = yaml.safe_load((pathlib.Path(__file__).parents[2] / "charmcraft.yaml").read_text())[
    "config"
]["options"]
# The recovery timers as the charm's defaults set them (defaults live in charmcraft.yaml only).
ENGINE = {
    masakari: OPTIONS[field.replace("_", "-")]["default"]
    for field, masakari in ENGINE_OPTIONS.items()
}

BASE = workload.MasakariContext(
    release=RELEASE,
    debug=False,
    use_syslog=False,
    region="RegionOne",
    transport_url="rabbit://masakari:pw@10.5.0.20:5672,masakari:pw@10.5.0.21:5672/masakari",
    rabbit_ssl=False,
    rabbit_ca=None,
    database_url="mysql+pymysql://masakari:pw@10.5.0.10:3306/masakari?charset=utf8",
    coordination_url=None,
    keystone=workload.Keystone(
        www_authenticate_uri="http://10.5.0.30:5000/v3",
        auth_url="http://10.5.0.30:35357/v3",
        username="masakari",
        password="pw",
        project="services",
        user_domain="service_domain",
        project_domain="service_domain",
    ),
    nova_endpoint_type="publicURL",
    engine=ENGINE,
    evacuate_all_instances=True,
    ignore_instances_in_error_state=False,
    api_workers=2,
    backends=(("masakari-0", "10.5.0.40"),),
    haproxy_timeouts={"server": 90000, "client": 90000, "queue": 9000, "connect": 9000},
    orphan_age=240,
    metrics_address="10.5.0.10",
    metrics_port=9786,
)

CASES = {
    "single unit, defaults": BASE,
    "three units, TLS everywhere, tuned": dataclasses.replace(
        BASE,
        debug=True,
        use_syslog=True,
        rabbit_ssl=True,
        rabbit_ca=b"ca",
        coordination_url="mysql://masakari:pw@10.5.0.10:3306/masakari",
        keystone=dataclasses.replace(BASE.keystone, ca_cert=b"ca"),
        nova_endpoint_type="internalURL",
        engine={
            **ENGINE,
            "wait_period_after_service_update": 0,
            "host_failure_recovery_threads": 10,
        },
        evacuate_all_instances=False,
        ignore_instances_in_error_state=True,
    ),
}


def masakari_conf(ctx: workload.MasakariContext) -> bytes:
    return next(f.content for f in workload.render(ctx) if f.path == workload.MASAKARI_CONF)


def test_a_dollar_in_a_password_reaches_masakari_as_written(tmp_path):
    """oslo.config substitutes `$name`: the charm writes `$$`, which oslo reads as `$`."""
    from oslo_config import cfg

    ctx = dataclasses.replace(
        BASE, keystone=dataclasses.replace(BASE.keystone, password="pa$word$$x")
    )
    path = tmp_path / "masakari.conf"
    path.write_bytes(masakari_conf(ctx))
    conf = cfg.ConfigOpts()
    conf.register_opts([cfg.StrOpt("password")], group="keystone_authtoken")
    conf.register_opts([cfg.StrOpt("os_privileged_user_password")])
    conf(args=[], default_config_files=[str(path)])
    assert conf.keystone_authtoken.password == "pa$word$$x"
    assert conf.os_privileged_user_password == "pa$word$$x"


@pytest.mark.parametrize("case", CASES)
def test_rendered_masakari_conf_loads_with_masakaris_option_definitions(case, tmp_path):
    path = tmp_path / "masakari.conf"
    path.write_bytes(masakari_conf(CASES[case]))
    assert option_errors(path, NAMESPACES, {"keystone_authtoken": "password"}) == []


def test_the_check_rejects_unknown_options_wrong_groups_and_bad_values(tmp_path: pathlib.Path):
    path = tmp_path / "masakari.conf"
    text = masakari_conf(BASE).decode()
    text = text.replace("verify_interval = 1", "verify_interval = soon")
    text = text.replace("[host_failure]", "[host_failure]\nwait_period_after_evacuation = 5")
    text += "\n[DEFAULT]\nnot_an_option = 1\n"
    path.write_text(text)
    errors = option_errors(path, NAMESPACES, {"keystone_authtoken": "password"})
    assert "[DEFAULT] not_an_option is not a registered option" in errors
    assert "[host_failure] wait_period_after_evacuation is not a registered option" in errors
    assert any(e.startswith("[DEFAULT] verify_interval:") for e in errors)
