"""Real guests on the lab's hypervisors: libvirt in each lab host, the guest in glance.

Each hypervisor runs libvirtd and virtlogd (Debian 12's libvirt 9.0, qemu 7.2) under
hypervisor_init.py, PID 1 of the hypervisor's own PID namespace; nova-compute drives them with
the libvirt driver and `virt_type = qemu` (software emulation: nested KVM does not boot guests
on this machine kind, research/real-guests-feasibility.md). Every hypervisor's instances
directory is one shared directory (services.INSTANCES), as Ceph or NFS would be, so Nova
evacuates by rebuilding on shared storage and keeps the instance's disk.

The lab's libvirt configuration (qemu.conf, libvirtd.conf in the hypervisor's own /etc):
qemu runs as root without libvirt changing disk ownership (two libvirtds sharing one disk file
would chown it back and forth), no cgroups (libvirt would put every hypervisor's guest of one
name into one host-wide cgroup), no security driver (none is available here), and the monitors'
group may connect without polkit (there is no D-Bus).
"""

from __future__ import annotations

import os
from pathlib import Path

from . import guest_image, hosts, procs, settings

DAEMON = "libvirtd"  # the hypervisor's boot service: hypervisor_init.py, virtlogd, libvirtd
IMAGE = "lab-guest"
FLAVOR = {"name": "lab.guest", "vcpus": 1, "ram": 128, "disk": 1}
HERE = Path(__file__).resolve().parent
QEMU_CONF = """\
# Written by the masakari lab (tests/lab/guests.py).
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
cgroup_controllers = [ ]
security_driver = "none"
"""
LIBVIRTD_CONF = """\
# Written by the masakari lab (tests/lab/guests.py).
unix_sock_group = "libvirt"
unix_sock_rw_perms = "0770"
auth_unix_ro = "none"
auth_unix_rw = "none"
"""


def start_libvirt(host: hosts.Host) -> None:
    """libvirtd + virtlogd in `host`, in its own PID namespace; waits for libvirt's socket."""
    if hosts.daemon_pid(host, DAEMON):
        return
    hosts.write_file(host, "/etc/libvirt/qemu.conf", QEMU_CONF.encode())
    hosts.write_file(host, "/etc/libvirt/libvirtd.conf", LIBVIRTD_CONF.encode())
    cache, emulator = host.dir / "libvirt-cache", host.dir / "emulator"
    cache.mkdir(parents=True, exist_ok=True)
    emulator.mkdir(exist_ok=True)
    (emulator / "qemu-system-x86_64").unlink(missing_ok=True)
    (emulator / "qemu-system-x86_64").symlink_to(HERE / "emulator.py")
    hosts.start_daemon(
        host,
        DAEMON,
        ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child=SIGTERM",
         settings.SYSTEM_PYTHON, str(HERE / "hypervisor_init.py"), str(emulator), str(cache)],
    )  # fmt: skip
    step = f"libvirtd on {host.fqdn}"

    def answers() -> bool:
        if (
            hosts.run(host, ["virsh", "-c", "qemu:///system", "version"], check=False).returncode
            == 0
        ):
            return True
        if not hosts.daemon_pid(host, DAEMON):
            raise hosts.LabError(
                step,
                "exited before it answered `virsh version`",
                hosts.tail(hosts.daemon_log(host, DAEMON)),
            )
        return False

    procs.wait_for(
        step,
        answers,
        timeout=60,
        interval=0.5,
        ignore=(),
        details=lambda: hosts.tail(hosts.daemon_log(host, DAEMON)),
        error=hosts.LabError,
    )


def init_pid(host: hosts.Host) -> int | None:
    """PID (in the machine's namespace) of PID 1 of the hypervisor's PID namespace."""
    unshare = hosts.daemon_pid(host, DAEMON)
    if unshare is None:
        return None
    try:
        children = Path(f"/proc/{unshare}/task/{unshare}/children").read_text().split()
    except OSError:
        return None
    return int(children[0]) if children else None


def shell(host: hosts.Host, argv: list[str], check: bool = False):
    """argv as an operator's shell on the hypervisor runs it: its network, host name, files and
    processes (`pgrep` sees this hypervisor's guests only)."""
    pid = init_pid(host)
    if pid is None:
        raise hosts.LabError(f"shell on {host.fqdn}", "libvirtd is not running there")
    ns = ["-t", str(pid), "--net", "--uts", "--mount", "--pid"]
    return hosts.run(host, argv, check=check, ns=ns)


def guest_pids(host: hosts.Host, instance_name: str) -> list[int]:
    """`pgrep -f guest=<instance_name>` on the hypervisor; pids in the machine's namespace."""
    found = shell(host, ["pgrep", "-f", f"guest={instance_name}"]).stdout.split()
    return [machine_pid(host, int(p)) for p in found]


def machine_pid(host: hosts.Host, ns_pid: int) -> int:
    """The machine-namespace pid of a process the hypervisor knows as `ns_pid`."""
    init = init_pid(host)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("NSpid:"):
                ids = line.split()[1:]
                if len(ids) == 2 and int(ids[1]) == ns_pid and _under(int(entry.name), init):
                    return int(entry.name)
    raise hosts.LabError(f"pid on {host.fqdn}", f"no process {ns_pid} in its PID namespace")


def _under(pid: int, init: int | None) -> bool:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid") == os.readlink(f"/proc/{init}/ns/pid")
    except OSError:
        return False


def ensure_flavor_image(admin) -> None:
    """The lab.guest flavor and the guest's three images in glance (built here when missing)."""
    flavors = admin.call("compute", "GET", "/flavors")["flavors"]
    if not any(f["name"] == FLAVOR["name"] for f in flavors):
        admin.call("compute", "POST", "/flavors", json={"flavor": FLAVOR})
    images = admin.call("image", "GET", f"/v2/images?name={IMAGE}")["images"]
    if images and images[0]["status"] == "active":
        return
    for image in admin.call("image", "GET", "/v2/images")["images"]:
        if image["name"].startswith(IMAGE):  # a half-uploaded set from an interrupted run
            admin.call("image", "DELETE", f"/v2/images/{image['id']}")
    files = guest_image.build(settings.DATA / "guest-image")
    kernel = _upload(admin, f"{IMAGE}-kernel", "aki", files["kernel"])
    ramdisk = _upload(admin, f"{IMAGE}-ramdisk", "ari", files["ramdisk"])
    _upload(
        admin,
        IMAGE,
        "raw",
        files["disk"],
        kernel_id=kernel,
        ramdisk_id=ramdisk,
        os_command_line=guest_image.COMMAND_LINE,
    )


def _upload(admin, name: str, disk_format: str, path: Path, **properties: str) -> str:
    container = disk_format if disk_format in ("aki", "ari") else "bare"
    image = admin.call(
        "image",
        "POST",
        "/v2/images",
        json={
            "name": name,
            "disk_format": disk_format,
            "container_format": container,
            "visibility": "public",
            **properties,
        },
    )
    admin.call(
        "image",
        "PUT",
        f"/v2/images/{image['id']}/file",
        data=path.read_bytes(),
        headers={"Content-Type": "application/octet-stream"},
    )
    return image["id"]
