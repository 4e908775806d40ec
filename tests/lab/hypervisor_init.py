#!/usr/bin/python3
"""PID 1 of a lab hypervisor's PID namespace: virtlogd, libvirtd, and the guests they start.

Without a PID namespace per hypervisor, `pkill -9 -f guest=<instance>` run inside one lab
hypervisor would also kill a same-named guest on another (every namespace sees every process).
guests.py starts this as `unshare --pid --fork --mount-proc --kill-child=SIGTERM` inside the
hypervisor's network, mount and UTS namespaces, so its mount namespace is the hypervisor's plus
its own /proc; the operator's commands (guests.shell) enter it the same way.

libvirtd finds qemu-system-x86_64 on its PATH: the lab's emulator (emulator.py) comes first, and
runs Debian's /usr/bin/qemu-system-x86_64 (which must stay there: qemu finds its modules relative
to its own executable). In this mount namespace only, a private /var/cache/libvirt (libvirt's
capabilities cache) per hypervisor. virtlogd must run next
to libvirtd: libvirtd does not start it, and a guest does not start without it.

On SIGTERM (the hypervisor's "systemctl stop libvirtd" in the lab, or its power-off) it stops
both daemons and exits, and the kernel kills every guest of the namespace with it. It reaps
every orphan (qemu is re-parented to it). Standard library only, Debian's python3.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time


def main(emulator_dir: str, cache: str) -> int:
    subprocess.run(["mount", "--bind", cache, "/var/cache/libvirt"], check=True)
    # A new PID namespace runs no guest yet: libvirt's runtime state of an earlier one (its
    # guests died with it) is stale, as after a reboot; libvirtd would try to reconnect to it.
    shutil.rmtree("/run/libvirt", ignore_errors=True)
    os.makedirs("/run/libvirt")
    env = dict(os.environ, PATH=f"{emulator_dir}:{os.environ['PATH']}")
    daemons = [subprocess.Popen(["virtlogd"]), subprocess.Popen(["libvirtd"], env=env)]

    def stop(*_: object) -> None:
        for daemon in daemons:
            daemon.terminate()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(d.poll() is None for d in daemons):
            time.sleep(0.1)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            time.sleep(1)
            continue
        if pid in (d.pid for d in daemons):
            name = "virtlogd" if pid == daemons[0].pid else "libvirtd"
            print(
                f"{name} (pid {pid}) exited with wait status {status:#x}: stopping the "
                "hypervisor's guests",
                flush=True,
            )
            stop()


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
