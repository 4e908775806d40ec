"""The shipped bundle and overlay pass the offline contract check; broken copies do not."""

from __future__ import annotations

import pathlib
import re
import shutil
import subprocess
import sys

import bundle_contract as contract
import pytest
import yaml

ROOT = contract.ROOT
BUNDLE = ROOT / "bundles" / "openstack-masakari.yaml"
OVERLAY = ROOT / "overlays" / "masakari.yaml"
FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "bundle-contract"
SUBORDINATES = ("masakari-monitors", "pacemaker-remote")
FILLED = {
    "<INSERT VIP(S)>": "10.0.0.100",
    "<INSERT MAAS URL>": "http://10.0.0.2:5240/MAAS",
    "<INSERT MAAS API KEY>": "consumer:token:secret",
}
README = ROOT / "README.md"
# The jammy variant's edits to the bundle (README "Deploy on a real cloud" has them as sed).
JAMMY_BUNDLE_EDITS = {
    "default-base: ubuntu@24.04": "default-base: ubuntu@22.04",
    "&openstack-origin distro": "&openstack-origin cloud:jammy-caracal",
    "&ceph-channel squid/stable": "&ceph-channel reef/stable",
}


@pytest.fixture
def catalog() -> contract.Catalog:
    """Our masakari charm, and stand-ins for the subordinates with upstream's endpoint names."""
    return contract.Catalog([FIXTURES, ROOT / "charms"])


def edited(tmp_path: pathlib.Path, source: pathlib.Path, edits: dict[str, str]) -> pathlib.Path:
    """A copy of a shipped file with exact text edits; each edit must apply."""
    text = source.read_text()
    for old, new in edits.items():
        assert old in text, f"{source.name} no longer contains {old!r}: update this test"
        text = text.replace(old, new)
    # Same directory depth as the original, so relative charm paths still resolve alike.
    copy = tmp_path / source.parent.name / source.name
    copy.parent.mkdir(exist_ok=True)
    copy.write_text(text)
    return copy


def problems_with(
    tmp_path, catalog, overlay_edits=None, bundle_edits=None, filled=False
) -> list[str]:
    bundle = edited(tmp_path, BUNDLE, bundle_edits or {})
    overlay = edited(tmp_path, OVERLAY, overlay_edits or {})
    return contract.check_files(bundle, [overlay], filled=filled, catalog=catalog)


def test_shipped_bundle_alone_is_a_consistent_cloud():
    assert contract.check_files(BUNDLE) == []


def test_shipped_bundle_and_overlay_pass_against_the_subordinates_upstream_contract(catalog):
    assert contract.check_files(BUNDLE, [OVERLAY], catalog=catalog) == []


def test_shipped_bundle_and_overlay_pass_against_the_real_charms():
    missing = [
        f"charms/{n}/charmcraft.yaml"
        for n in SUBORDINATES
        if not (ROOT / "charms" / n / "charmcraft.yaml").exists()
    ]
    if missing:
        pytest.skip(f"not in this tree yet: {', '.join(missing)}")
    assert contract.check_files(BUNDLE, [OVERLAY]) == []


def test_overlay_carries_the_guides_masakari_settings():
    (overlay,) = contract.load_yaml(OVERLAY)
    apps = overlay["applications"]
    assert apps["masakari"]["num_units"] == 3
    assert apps["masakari"]["to"] == ["lxd:1", "lxd:2", "lxd:3"]
    assert set(apps["masakari"]["bindings"]) == {
        "public",
        "admin",
        "internal",
        "shared-db",
        "amqp",
    }
    assert apps["pacemaker-remote"]["options"] == {
        "enable-stonith": True,
        "enable-resources": False,
    }
    relations = {frozenset(r) for r in overlay["relations"]}
    for pair in (
        ("nova-compute:juju-info", "masakari-monitors:container"),
        ("nova-compute:juju-info", "pacemaker-remote:juju-info"),
        ("hacluster:pacemaker-remote", "pacemaker-remote:pacemaker-remote"),
        ("masakari:ha", "hacluster:ha"),
        ("keystone:identity-service", "masakari:identity-service"),
        ("keystone:identity-credentials", "masakari-monitors:identity-credentials"),
        ("masakari:amqp", "rabbitmq-server:amqp"),
        ("masakari:shared-db", "masakari-mysql-router:shared-db"),
        ("vault:certificates", "masakari-monitors:certificates"),
        ("vault:certificates", "masakari:certificates"),
    ):
        assert frozenset(pair) in relations, pair


def test_overlay_points_at_the_files_the_build_packs():
    (overlay,) = contract.load_yaml(OVERLAY)
    for name in ("masakari", *SUBORDINATES):
        charm = overlay["applications"][name]["charm"]
        # tools/build_charms.py moves <name>_<platform>.charm to the repository root.
        assert (OVERLAY.parent / charm).resolve() == ROOT / f"{name}_ubuntu-24.04-amd64.charm"


def test_charmhub_alternative_resolves_to_the_same_contract(tmp_path, catalog):
    edits = {
        f"charm: ../{name}_ubuntu-24.04-amd64.charm": f"charm: ch:{name}\n    channel: latest/edge"
        for name in ("masakari", *SUBORDINATES)
    }
    assert problems_with(tmp_path, catalog, edits) == []


def test_placeholders_are_exactly_the_documented_ones(catalog):
    problems = contract.check_files(BUNDLE, [OVERLAY], filled=True, catalog=catalog)
    assert sorted(problems) == [
        "applications.hacluster.options.maas_credentials: still '<INSERT MAAS API KEY>': set "
        "it to a MAAS API key, consumer_key:token_key:token_secret",
        "applications.hacluster.options.maas_url: still '<INSERT MAAS URL>': set it to the "
        "MAAS API URL, e.g. http://10.0.0.2:5240/MAAS",
        "applications.masakari.options.vip: still '<INSERT VIP(S)>': set it to the masakari "
        "VIP(s), space separated IP addresses",
    ]


def test_filled_overlay_is_ready_to_deploy(tmp_path, catalog):
    assert problems_with(tmp_path, catalog, FILLED, filled=True) == []


def readme_commands(containing: str) -> str:
    """The README's one shell block that mentions `containing`."""
    blocks = [
        b for b in re.findall(r"```sh\n(.*?)```", README.read_text(), re.S) if containing in b
    ]
    assert len(blocks) == 1, f"README has {len(blocks)} sh blocks with {containing!r}"
    return blocks[0]


def test_readme_jammy_commands_give_a_consistent_jammy_caracal_variant(tmp_path, catalog):
    copies = []
    for source in (BUNDLE, OVERLAY):
        copy = tmp_path / source.parent.name / source.name
        copy.parent.mkdir()
        shutil.copy(source, copy)
        copies.append(copy)
    subprocess.run(
        ["bash", "-euc", readme_commands("cloud:jammy-caracal")], cwd=tmp_path, check=True
    )
    bundle, overlay = copies
    (jammy,) = contract.load_yaml(bundle)
    (jammy_overlay,) = contract.load_yaml(overlay)
    assert jammy["default-base"] == "ubuntu@22.04"
    assert jammy["applications"]["nova-compute"]["options"]["openstack-origin"] == (
        "cloud:jammy-caracal"
    )
    assert jammy["applications"]["ceph-osd"]["channel"] == "reef/stable"
    masakari = jammy_overlay["applications"]["masakari"]
    assert masakari["charm"] == "../masakari_ubuntu-22.04-amd64.charm"
    assert masakari["options"]["openstack-origin"] == "cloud:jammy-caracal"
    assert contract.check_files(bundle, [overlay], catalog=catalog) == []


def test_jammy_bundle_with_noble_charm_files_is_rejected(tmp_path, catalog):
    problems = problems_with(tmp_path, catalog, bundle_edits=JAMMY_BUNDLE_EDITS)
    assert (
        "applications.masakari.charm: ../masakari_ubuntu-24.04-amd64.charm is built for Ubuntu "
        "24.04, the bundle deploys Ubuntu 22.04: use masakari_ubuntu-22.04-amd64.charm"
    ) in problems


MONITORS_ON_NOVA = "- - nova-compute:juju-info\n  - masakari-monitors:container\n"
REMOTE_ON_NOVA = "- - nova-compute:juju-info\n  - pacemaker-remote:juju-info\n"
REMOTE_CHARM = "    charm: ../pacemaker-remote_ubuntu-24.04-amd64.charm\n"
CREDENTIALS = "keystone:identity-credentials\n  - masakari-monitors"
VAULT_CINDER = "- [vault:certificates, cinder:certificates]"


@pytest.mark.parametrize(
    ("overlay_edits", "expected"),
    [
        pytest.param(
            {"masakari-monitors:container": "masakari-monitors:containers"},
            "relation nova-compute:juju-info - masakari-monitors:containers: masakari-monitors "
            "(masakari-monitors) has no endpoint containers",
            id="wrong-endpoint",
        ),
        pytest.param(
            {"enable-stonith: True": "enable-fencing: True"},
            "applications.pacemaker-remote.options.enable-fencing: pacemaker-remote has no option "
            "enable-fencing",
            id="wrong-option",
        ),
        pytest.param(
            {"enable-resources: False": "enable-resources: 'no'"},
            "applications.pacemaker-remote.options.enable-resources: pacemaker-remote expects "
            "boolean, got string 'no'",
            id="option-of-wrong-type",
        ),
        pytest.param(
            {CREDENTIALS: CREDENTIALS.replace("identity-credentials", "identity-service")},
            "relation keystone:identity-service - masakari-monitors:identity-credentials: "
            "interface mismatch: keystone:identity-service is keystone, "
            "masakari-monitors:identity-credentials is keystone-credentials",
            id="interface-mismatch",
        ),
        pytest.param(
            {REMOTE_ON_NOVA: ""},
            "applications.pacemaker-remote: subordinate pacemaker-remote has no container-scoped "
            "relation to a principal",
            id="subordinate-not-attached",
        ),
        pytest.param(
            # Container scope to another subordinate: the monitors would land beside hacluster
            # in the masakari containers, not on the hypervisors.
            {MONITORS_ON_NOVA: MONITORS_ON_NOVA.replace("nova-compute", "hacluster")},
            "applications.masakari-monitors: subordinate masakari-monitors has no "
            "container-scoped relation to a principal",
            id="subordinate-related-to-a-subordinate",
        ),
        pytest.param(
            {REMOTE_CHARM: REMOTE_CHARM + "    num_units: 3\n"},
            "applications.pacemaker-remote: pacemaker-remote is a subordinate charm: remove "
            "num_units/to",
            id="units-on-a-subordinate",
        ),
        pytest.param(
            {"- lxd:3": "- lxd:7"},
            "applications.masakari.to: 'lxd:7' names machine 7, which the machines section does "
            "not define",
            id="missing-machine",
        ),
        pytest.param(
            {"openstack-origin: distro": "openstack-origin: cloud:jammy-caracal"},
            "applications.masakari.options.openstack-origin: cloud:jammy-caracal is a pocket for "
            "jammy, the bundle deploys noble",
            id="origin-for-another-series",
        ),
        pytest.param(
            {"channel: 2.4/stable": "channel: <INSERT CHANNEL>"},
            "applications.hacluster.channel: placeholder '<INSERT CHANNEL>' outside the "
            "documented fields",
            id="placeholder-outside-documented-fields",
        ),
        pytest.param(
            {"      vip: <INSERT VIP(S)>\n": ""},
            "applications.masakari.options.vip: not set: set it to the masakari VIP(s)",
            id="documented-field-removed",
        ),
        pytest.param(
            {"charm: ch:hacluster": "charm: cs:hacluster"},
            "applications.hacluster.charm: cs:hacluster: the charm store is retired; use "
            "ch:hacluster",
            id="charm-store-url",
        ),
        pytest.param(
            {"masakari_ubuntu-24.04-amd64.charm": "masakari_ubuntu-20.04-amd64.charm"},
            "applications.masakari.charm: ../masakari_ubuntu-20.04-amd64.charm: masakari is not "
            "built for platform 'ubuntu-20.04-amd64'",
            id="charm-file-for-an-unbuilt-platform",
        ),
        pytest.param(
            {"      public: public\n": "      public: public\n      databse: internal\n"},
            "applications.masakari.bindings.databse: masakari has no endpoint or extra-binding "
            "databse",
            id="binding-to-no-endpoint",
        ),
    ],
)
def test_broken_overlay_is_rejected_naming_the_culprit(tmp_path, catalog, overlay_edits, expected):
    problems = problems_with(tmp_path, catalog, overlay_edits)
    assert any(p.startswith(expected) for p in problems), problems


@pytest.mark.parametrize(
    ("bundle_edits", "expected"),
    [
        pytest.param(
            {"- [nova-compute:ceph, ceph-mon:client]": "- [nova-compute:ceph, ceph-mon:osd]"},
            "relation nova-compute:ceph - ceph-mon:osd: interface mismatch",
            id="interface-mismatch",
        ),
        pytest.param(
            {"libvirt-image-backend: rbd": "libvirt-image-backend: <INSERT BACKEND>"},
            "openstack-masakari.yaml: applications.nova-compute.options.libvirt-image-backend: "
            "placeholder '<INSERT BACKEND>' outside the documented fields",
            id="placeholder-in-the-bundle",
        ),
        pytest.param(
            {"expected-osd-count: 4": "expected-osd-count: four"},
            "applications.ceph-mon.options.expected-osd-count: ceph-mon expects int, got string "
            "'four'",
            id="option-of-wrong-type",
        ),
        pytest.param(
            {"enable-resize: true": "enable-resize: 1"},
            "applications.nova-compute.options.enable-resize: nova-compute expects boolean, got "
            "int 1",
            id="int-for-a-boolean",
        ),
        pytest.param(
            {"charm: ch:ovn-central": "charm: ch:ovn-centrall"},
            "applications.ovn-central.charm: ch:ovn-centrall: unknown charm",
            id="unknown-charm",
        ),
        pytest.param(
            {VAULT_CINDER: VAULT_CINDER + "\n- [cinder:certificates, vault:certificates]"},
            "relation cinder:certificates - vault:certificates: listed twice",
            id="duplicate-relation",
        ),
    ],
)
def test_broken_bundle_is_rejected_naming_the_culprit(tmp_path, catalog, bundle_edits, expected):
    problems = problems_with(tmp_path, catalog, bundle_edits=bundle_edits)
    assert any(p.startswith(expected) for p in problems), problems


@pytest.mark.parametrize(
    ("filled", "expected"),
    [
        (
            {"<INSERT VIP(S)>": "10.0.0.100 10.0.0.300"},
            "applications.masakari.options.vip: '10.0.0.300' is not an IP address",
        ),
        (
            {"<INSERT MAAS URL>": "maas:5240"},
            "applications.hacluster.options.maas_url: not an http(s) URL",
        ),
        (
            {"<INSERT MAAS API KEY>": "consumer:token"},
            "applications.hacluster.options.maas_credentials: not three ':'-separated parts",
        ),
    ],
)
def test_badly_filled_documented_field_is_rejected(tmp_path, catalog, filled, expected):
    problems = problems_with(tmp_path, catalog, {**FILLED, **filled}, filled=True)
    assert any(p.startswith(expected) for p in problems), problems


@pytest.mark.parametrize(
    ("bundle", "expected"),
    [
        ({"services": {}}, "services: write `applications:`"),
        ({"applications": {"k": {"charm": "ch:keystone", "num_units": "two"}}}, "applications.k"),
        (
            {"applications": {"k": {"charm": "ch:keystone", "num_units": 1, "to": 0}}},
            "applications.k.to: 0 names machine 0, which the machines section does not define",
        ),
        (
            {
                "applications": {
                    "k": {"charm": "ch:keystone", "num_units": 1, "to": ["g/0"]},
                    "g": {"charm": "ch:glance", "num_units": "x"},
                }
            },
            "applications.k.to: 'g/0' names a unit the bundle does not deploy",
        ),
        ({"applications": {"k": "keystone"}}, "applications.k: expected a mapping"),
        ({"relations": [["a:b"]]}, "relations: ['a:b'] is not a pair"),
        (
            {"applications": {"k": {"charm": "ch:keystone", "optoins": {}}}},
            "applications.k.optoins",
        ),
    ],
)
def test_malformed_bundle_gets_messages_not_tracebacks(bundle, expected):
    problems = contract.check(bundle, contract.Catalog())
    assert any(p.startswith(expected) for p in problems), problems


def test_merge_follows_juju_overlay_rules():
    base = {
        "applications": {
            "a": {"charm": "ch:a", "num_units": 1, "options": {"x": 1, "y": 2}, "to": ["0"]},
            "b": {"charm": "ch:b", "num_units": 1},
        },
        "machines": {"0": {"constraints": "mem=4G"}},
        "relations": [["a:r", "b:p"]],
    }
    overlay = {
        "applications": {
            "a": {"options": {"y": 3, "z": 4}, "to": ["1"]},
            "b": None,
            "c": {"charm": "ch:c"},
        },
        "machines": {"1": {}},
        "relations": [["a:q", "c:p"]],
    }
    merged = contract.merge(base, overlay)
    assert merged["applications"] == {
        "a": {"charm": "ch:a", "num_units": 1, "options": {"x": 1, "y": 3, "z": 4}, "to": ["1"]},
        "c": {"charm": "ch:c"},
    }
    assert merged["machines"] == {"0": {"constraints": "mem=4G"}, "1": {}}
    assert merged["relations"] == [["a:q", "c:p"]]  # b's relation went with b
    assert base["applications"]["a"]["options"] == {"x": 1, "y": 2}  # the input is untouched


def test_overlay_documents_in_the_bundle_file_are_applied(tmp_path, catalog):
    combined = tmp_path / "bundles" / "combined.yaml"
    combined.parent.mkdir()
    combined.write_text(BUNDLE.read_text() + "\n---\n" + OVERLAY.read_text())
    assert contract.check_files(combined, catalog=catalog) == []


def test_command_line_reports_problems_without_a_traceback(tmp_path):
    broken = edited(
        tmp_path, BUNDLE, {"[glance:ceph, ceph-mon:client]": "[glance:cephh, ceph-mon:client]"}
    )
    result = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "bundle_contract.py"), str(broken)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert (
        "relation glance:cephh - ceph-mon:client: glance (glance) has no endpoint cephh"
        in result.stdout
    )
    assert "Traceback" not in result.stderr


def test_command_line_accepts_the_shipped_bundle():
    result = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "bundle_contract.py"), str(BUNDLE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout
    assert result.stdout.strip().endswith(": consistent")


def test_unreadable_input_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("applications: [unclosed\n")
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tests" / "bundle_contract.py"),
            str(bad),
            "--overlay",
            str(tmp_path / "nope.yaml"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {bad}: not valid YAML")
    assert "Traceback" not in result.stderr


def test_external_table_cites_a_source_for_every_charm():
    (table,) = contract.load_yaml(contract.EXTERNAL_CHARMS)
    for name, spec in table.items():
        assert spec.get("sources"), f"{name} has no source"


def test_every_external_charm_and_option_in_the_table_is_used():
    """The table stays small: nothing in it that the bundle and overlay do not use."""
    (bundle,) = contract.load_yaml(BUNDLE)
    (overlay,) = contract.load_yaml(OVERLAY)
    merged = contract.merge(bundle, overlay)
    used_charms: dict[str, set[str]] = {}
    for app in merged["applications"].values():
        name = app["charm"].removeprefix("ch:")
        used_charms.setdefault(name, set()).update(app.get("options") or {})
    used_endpoints = {
        (merged["applications"][end.split(":")[0]]["charm"].removeprefix("ch:"), end.split(":")[1])
        for relation in merged["relations"]
        for end in relation
    }
    (table,) = contract.load_yaml(contract.EXTERNAL_CHARMS)
    for name, spec in table.items():
        assert name in used_charms, f"{name} is in the table but not deployed"
        assert set(spec.get("options") or {}) <= used_charms[name], name
        for role in ("provides", "requires"):
            for endpoint in spec.get(role) or {}:
                assert (name, endpoint) in used_endpoints, (name, endpoint)


def test_bundle_yaml_parses_with_anchors_resolved():
    (bundle,) = contract.load_yaml(BUNDLE)
    assert bundle["applications"]["keystone"]["options"]["openstack-origin"] == "distro"
    assert bundle["applications"]["keystone"]["channel"] == "2024.1/stable"
    assert (
        yaml.safe_load(OVERLAY.read_text())["applications"]["masakari"]["options"][
            "openstack-origin"
        ]
        == "distro"
    )
