#!/usr/bin/python3
"""qemu-system-x86_64 as the lab's libvirtd runs it: Debian's binary with two changes.

- Every disk may have two writers at once: file nodes get `"locking": "off"`. qemu's image
  locking refuses a second writer of one file across the lab's hypervisors (they share one
  directory), which production shared storage such as Ceph RBD does not do across hosts; with
  the lock the lab could never show what a double run does to a disk.
- A 32 MiB TCG translation cache (`-accel tcg,tb-size=32`) instead of qemu's default, which
  saves ~20 MiB per guest (research/real-guests-feasibility.md).

libvirtd finds it first on its PATH (hypervisor_init.py) under qemu's name, and it execs Debian's
binary with libvirt's command line otherwise unchanged: the process is Debian's qemu, found by
`pgrep -f guest=<name>` as on any hypervisor. Standard library only: Debian's python3 runs it.
"""

from __future__ import annotations

import json
import os
import sys

QEMU = "/usr/bin/qemu-system-x86_64"


def rewrite(args: list[str]) -> list[str]:
    """libvirt's qemu arguments with locking off on file nodes and a small TCG cache."""
    out = []
    for i, arg in enumerate(args):
        previous = args[i - 1] if i else ""
        if previous == "-blockdev" and arg.startswith("{"):
            node = json.loads(arg)
            if node.get("driver") == "file":
                node["locking"] = "off"
            arg = json.dumps(node, separators=(",", ":"))
        elif previous == "-accel" and arg == "tcg":
            arg = "tcg,tb-size=32"
        out.append(arg)
    return out


if __name__ == "__main__":
    os.execv(QEMU, [QEMU, *rewrite(sys.argv[1:])])  # noqa: S606 - libvirt's own arguments
