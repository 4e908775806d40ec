"""Install what the lab needs: Debian packages, then a venv with ops from PyPI.

Idempotent: packages already installed are not asked for again, an existing venv is reused.
Stdlib only, because it runs before anything else exists.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from . import pacemaker, procs, settings

# nova-compute needs "nova-compute-kvm | nova-compute-hypervisor"; nova-compute-ironic satisfies
# it without pulling every qemu-system-* architecture in (nova-compute-qemu would: it ships only
# a config file naming the libvirt driver, which the lab writes itself; it conflicts with -ironic).
PACKAGES = [
    "mariadb-server",
    "rabbitmq-server",
    "keystone",
    "placement-api",
    "glance-api",
    "nova-api",
    "nova-conductor",
    "nova-scheduler",
    "nova-compute",
    "nova-compute-ironic",
    "masakari-api",
    "masakari-engine",
    "apache2",
    "libapache2-mod-wsgi-py3",
    "haproxy",
    "uwsgi-core",
    "uwsgi-plugin-python3",
    "python3-openstackclient",
    "python3-masakariclient",
    "python3-osc-placement",
    "python3-venv",
    "python3-pymysql",
    "unzip",
    "prometheus",  # plays COS for the charms' cos-agent relations (prometheus.py)
    "python3-prometheus-client",  # both charms' exporters (they install it too)
    # The hypervisors' side: hacluster's cluster (pacemaker.py's list), and the monitors the
    # masakari-monitors charm runs (as user masakari, crm_mon through sudo).
    *pacemaker.PACKAGES,
    "sudo",
    "masakari-monitors-common",
    "masakari-host-monitor",
    # Real guests (research/real-guests-feasibility.md): libvirt with software emulation in
    # every hypervisor, qemu-system-common for its TCG accelerator module, qemu-img for nova's
    # disks, the cloud kernel + busybox for the guest image, python3-libvirt for nova's driver.
    "libvirt-daemon-system",
    "libvirt-clients",
    "qemu-system-x86",
    "qemu-system-common",
    "qemu-utils",
    "python3-libvirt",
    "busybox-static",
    "linux-image-cloud-amd64",
    "cpio",
    "masakari-instance-monitor",
]
# Answers that stop the packages' postinst scripts from configuring databases, rabbit or
# keystone on their own: the lab (and the charm) do that.
DEBCONF_FALSE = {
    "keystone": [
        "keystone/configure_db",
        "keystone/create-admin-tenant",
        "keystone/register-endpoint",
    ],
    "nova-common": [
        "nova/configure_db",
        "nova/configure_rabbit",
        "nova/configure_ksat",
        "nova/configure_neutron",
        "nova/configure_placement",
        "nova/configure_api-endpoint",
    ],
    "nova-api": ["novaapi/configure_db"],
    "placement-common": [
        "placement/configure_db",
        "placement/configure_ksat",
        "placement/configure_api-endpoint",
    ],
    "masakari-common": [
        "masakari/configure_db",
        "masakari/configure_rabbit",
        "masakari/configure_ksat",
        "masakari/configure_api-endpoint",
    ],
    "glance-common": [
        "glance/configure_db",
        "glance/configure_rabbit",
        "glance/configure_ksat",
        "glance/configure_api-endpoint",
    ],
}
# What the lab's own python needs from PyPI (the rest comes from Debian's python3-* packages).
# python-libmaas: the MAAS client hacluster's STONITH plugin uses, run against the emulator.
PYPI = ["ops[testing]>=2.17", "pytest>=7", "jinja2", "python-libmaas"]
POLICY_RC = "/usr/sbin/policy-rc.d"


def record_created(path: str, kind: str = "file") -> None:
    """Remember a system file the lab created so `down` can remove it."""
    settings.STATE.mkdir(parents=True, exist_ok=True)
    created = load_created()
    created.setdefault(kind, [])
    if path not in created[kind]:
        created[kind].append(path)
    settings.CREATED.write_text(json.dumps(created, indent=1))


def load_created() -> dict[str, list[str]]:
    try:
        return json.loads(settings.CREATED.read_text())
    except (OSError, ValueError):
        return {}


def missing_packages(packages: list[str]) -> list[str]:
    result = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Package} ${db:Status-Status}\n", *packages],
        capture_output=True,
        text=True,
        check=False,
    )
    installed = {
        line.split()[0] for line in result.stdout.splitlines() if line.endswith(" installed")
    }
    return [p for p in packages if p not in installed]


def apt_install(packages: list[str]) -> float:
    """Install the missing packages; returns seconds spent (0 when nothing was missing)."""
    missing = missing_packages(packages)
    if not missing:
        return 0.0
    if os.geteuid() != 0:
        raise procs.LabError("the lab installs Debian packages and must run as root")
    started = time.monotonic()
    # No daemon may start from a postinst: the lab starts everything itself.
    if not os.path.exists(POLICY_RC):
        with open(POLICY_RC, "w") as f:
            f.write(
                "#!/bin/sh\n# installed by the masakari lab: no daemon starts from dpkg\n"
                "exit 101\n"
            )
        os.chmod(POLICY_RC, 0o755)  # noqa: S103 - dpkg runs it as a program
        record_created(POLICY_RC)
    selections = "".join(
        f"{pkg} {q} boolean false\n" for pkg, qs in DEBCONF_FALSE.items() for q in qs
    )
    procs.run(["debconf-set-selections"], log="apt", input_text=selections)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    apt = ["apt-get", "-o", "DPkg::Lock::Timeout=900", "-y"]
    procs.run([*apt, "update"], log="apt", env=env, timeout=900)
    print(f"  apt: installing {len(missing)} packages (and their dependencies)", flush=True)
    procs.run(
        [*apt, "install", "--no-install-recommends", *missing], log="apt", env=env, timeout=2400
    )
    return time.monotonic() - started


def venv_ready() -> bool:
    return (settings.VENV / ".lab-ready").exists()


def make_venv() -> float:
    """Debian's python3 with system site-packages (OpenStack clients) plus ops from PyPI."""
    if venv_ready():
        return 0.0
    started = time.monotonic()
    python = str(settings.VENV / "bin" / "python")
    if not os.path.exists(python):
        procs.run(
            [settings.SYSTEM_PYTHON, "-m", "venv", "--system-site-packages", str(settings.VENV)],
            log="venv",
        )
    # Not the charm's requirements.txt: its apt/systemd/charmhelpers libraries serve
    # HostSystem's production methods, which the lab's system interface replaces.
    procs.run([python, "-m", "pip", "install", "--quiet", *PYPI], log="venv", timeout=900)
    (settings.VENV / ".lab-ready").write_text("ok\n")
    return time.monotonic() - started


def in_lab_python() -> bool:
    return os.path.realpath(sys.prefix) == os.path.realpath(settings.VENV)


def ensure(timings: dict[str, float] | None = None) -> None:
    """Make sure packages and the venv are there (cheap when they are)."""
    timings = timings if timings is not None else {}
    timings["apt"] = apt_install(PACKAGES)
    timings["venv"] = make_venv()


def reexec_in_lab_python(argv: list[str]) -> None:
    """Replace this process with the same command under the lab's python."""
    python = str(settings.VENV / "bin" / "python")
    os.chdir(settings.REPO)
    env = dict(os.environ, PYTHONPATH=str(settings.REPO))
    os.execve(python, [python, "-m", "tests.lab", *argv], env)  # noqa: S606 - argv is ours
