"""The test bundles are the shipped bundle and overlay, changed only where a test needs it."""

from __future__ import annotations

import pathlib

import pytest
import yaml

from tests.functional import build_bundles

SHIPPED_BUNDLE = """\
default-base: ubuntu@24.04
variables:
  openstack-origin: &openstack-origin distro
  ceph-channel: &ceph-channel squid/stable
applications:
  keystone:
    charm: ch:keystone
    options: {openstack-origin: *openstack-origin}
  ceph-mon:
    charm: ch:ceph-mon
    channel: *ceph-channel
    options: {source: *openstack-origin}
  vault: {charm: ch:vault, channel: 1.8/stable}
relations: []
"""
SHIPPED_OVERLAY = """\
applications:
  masakari:
    charm: ../masakari_ubuntu-24.04-amd64.charm
    options: {openstack-origin: distro, vip: <INSERT VIP(S)>}
  hacluster:
    charm: ch:hacluster
    options: {maas_url: <INSERT MAAS URL>, maas_credentials: <INSERT MAAS API KEY>}
relations:
- [masakari:ha, hacluster:ha]
"""


def shipped(tmp_path: pathlib.Path, overlay: str = SHIPPED_OVERLAY) -> pathlib.Path:
    (tmp_path / "bundles").mkdir()
    (tmp_path / "overlays").mkdir()
    (tmp_path / build_bundles.SHIPPED_BUNDLE).write_text(SHIPPED_BUNDLE)
    (tmp_path / build_bundles.SHIPPED_OVERLAY).write_text(overlay)
    return tmp_path


def built(tmp_path: pathlib.Path, name: str) -> tuple[dict, dict]:
    files = build_bundles.build(shipped(tmp_path))
    bundle = files[build_bundles.OUTPUT / f"{name}.yaml"]
    overlay = files[build_bundles.OUTPUT / "overlays" / f"{name}.yaml.j2"]
    assert bundle.startswith("# Bundle for the functional tests") and "do not edit" in bundle
    return yaml.safe_load(bundle), yaml.safe_load(overlay)


def test_noble_is_the_shipped_bundle_with_templated_placeholders(tmp_path: pathlib.Path) -> None:
    bundle, overlay = built(tmp_path, "noble-caracal")
    assert bundle == {
        "default-base": "ubuntu@24.04",
        "applications": {
            "keystone": {"charm": "ch:keystone", "options": {"openstack-origin": "distro"}},
            "ceph-mon": {
                "charm": "ch:ceph-mon",
                "channel": "squid/stable",
                "options": {"source": "distro"},
            },
            "vault": {"charm": "ch:vault", "channel": "1.8/stable"},
        },
        "relations": [],
    }
    assert overlay["applications"]["masakari"] == {
        "charm": "{{ charm_location }}/masakari_ubuntu-24.04-amd64.charm",
        "options": {"openstack-origin": "distro", "vip": "{{ OS_VIP00 }}"},
    }
    assert overlay["applications"]["hacluster"]["options"] == {
        "maas_url": "{{ TEST_MAAS_URL }}",
        "maas_credentials": "{{ TEST_MAAS_API_KEY }}",
    }
    assert overlay["relations"] == [["masakari:ha", "hacluster:ha"]]


def test_jammy_takes_the_cloud_archive_reef_and_the_22_04_charms(tmp_path: pathlib.Path) -> None:
    bundle, overlay = built(tmp_path, "jammy-caracal")
    assert bundle["default-base"] == "ubuntu@22.04"
    assert bundle["applications"]["keystone"]["options"] == {
        "openstack-origin": "cloud:jammy-caracal"
    }
    assert bundle["applications"]["ceph-mon"]["channel"] == "reef/stable"
    assert bundle["applications"]["ceph-mon"]["options"] == {"source": "cloud:jammy-caracal"}
    assert bundle["applications"]["vault"]["channel"] == "1.8/stable"
    masakari = overlay["applications"]["masakari"]
    assert masakari["charm"] == "{{ charm_location }}/masakari_ubuntu-22.04-amd64.charm"
    assert masakari["options"]["openstack-origin"] == "cloud:jammy-caracal"


def test_an_unknown_placeholder_is_refused(tmp_path: pathlib.Path) -> None:
    overlay = SHIPPED_OVERLAY.replace("vip: <INSERT VIP(S)>", "vip: '10.0.0.1 <INSERT VIP(S)>'")
    with pytest.raises(ValueError, match=r"placeholders not replaced: <INSERT VIP\(S\)>"):
        build_bundles.build(shipped(tmp_path, overlay))


def test_a_missing_shipped_file_is_named(tmp_path: pathlib.Path) -> None:
    with pytest.raises(build_bundles.SourceMissing, match="bundles/openstack-masakari.yaml"):
        build_bundles.build(tmp_path)
    assert build_bundles.main([str(tmp_path)]) == 1
