"""juju_cloud finds a compute unit by any name its machine goes by, Nova's first of all."""

from __future__ import annotations

import pathlib
import socket
import subprocess

import pytest

from tests.functional import juju_cloud


def names(nova_conf: pathlib.Path) -> list[str]:
    shell = juju_cloud.host_names(str(nova_conf))
    return subprocess.run(["sh", "-c", shell], capture_output=True, text=True).stdout.split()


@pytest.mark.parametrize(
    ("text", "nova_host"),
    [("[DEFAULT]\nhost = virt-node-01.maas\n[libvirt]\nhost = other\n", ["virt-node-01.maas"]),
     ("[DEFAULT]\ndebug = true\n[libvirt]\nhost = other\n", []),
     ("[DEFAULT]\nhost=a\nhost = b\n", ["b"])],
)  # fmt: skip
def test_names_are_the_host_name_the_fqdn_and_novas_host(tmp_path, text, nova_host):
    conf = tmp_path / "nova.conf"
    conf.write_text(text)
    assert names(conf)[0] == socket.gethostname()
    assert names(conf)[2:] == nova_host


def test_a_machine_without_nova_conf_still_answers_its_names(tmp_path):
    assert names(tmp_path / "absent")[0] == socket.gethostname()
