"""The lab's guest: Debian's cloud kernel and a busybox initramfs that writes heartbeats.

Built at `up` from Debian packages only (linux-image-cloud-amd64, busybox-static) and uploaded
to glance as three images, as nova's libvirt driver boots a kernel + ramdisk guest: `lab-guest`
(the root disk, raw zeros) whose `kernel_id` and `ramdisk_id` name the other two, and whose
`os_command_line` replaces nova's. Facts from research/real-guests-feasibility.md: the cloud
kernel has virtio as modules (loaded here in dependency order) and does not mount devtmpfs;
128 MiB of RAM boots it (64 MiB does not).

The heartbeat, on the instance's own disk (/dev/vda), so it survives an evacuation on shared
storage: the disk holds LANES lanes of LANE_RECORDS 512-byte records. Each boot takes the first
lane whose first record is not a heartbeat and writes, every HEARTBEAT_SLEEP_US plus the loop's
own time, one record `hb <boot id> <counter> <wall seconds> <uptime>` padded to 512 bytes,
round-robin in its lane, with O_DIRECT (so it reaches the disk file at once). One lane per boot
keeps the evidence of two writers: a single shared ring would let one overwrite the other.
The wall clock is the guest's: its RTC, read by the kernel at boot, is the host's UTC.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

RECORD = 512
LANE_RECORDS = 2048  # 1 MiB per boot: ~5 minutes of heartbeats before a lane wraps
LANES = 16
DISK_BYTES = RECORD * LANE_RECORDS * LANES  # the image; the flavor's disk is larger
HEARTBEAT_SLEEP_US = 60_000  # + the loop itself: ~100 ms a record (one guest, idle host)
MODULES = (  # load order (each needs the ones before it)
    "drivers/virtio/virtio_ring.ko",
    "drivers/virtio/virtio.ko",
    "drivers/virtio/virtio_pci_modern_dev.ko",
    "drivers/virtio/virtio_pci_legacy_dev.ko",
    "drivers/virtio/virtio_pci.ko",
    "drivers/block/virtio_blk.ko",
)
COMMAND_LINE = "console=ttyS0 loglevel=4 panic=-1"
BUSYBOX = "/bin/busybox"  # busybox-static: the initramfs has no libc

INIT = f"""#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in {" ".join(Path(m).name for m in MODULES)}; do insmod /lib/modules/$m; done
while [ ! -b /dev/vda ]; do usleep 50000; done
boot=$(cat /proc/sys/kernel/random/boot_id)
lane=0
while [ $lane -lt {LANES} ]; do
  [ "$(dd if=/dev/vda bs={RECORD} skip=$((lane * {LANE_RECORDS})) count=1 2>/dev/null \\
       | head -c 3)" = "hb " ] || break
  lane=$((lane + 1))
done
[ $lane -lt {LANES} ] || lane=0
echo "lab-guest: boot $boot, heartbeat in lane $lane"
n=0
while :; do
  read up idle < /proc/uptime
  printf '%-{RECORD - 1}s\\n' "hb $boot $n $(date +%s) $up" \\
    | dd of=/dev/vda bs={RECORD} seek=$((lane * {LANE_RECORDS} + n % {LANE_RECORDS})) \\
         conv=notrunc oflag=direct 2>/dev/null
  n=$((n + 1))
  usleep {HEARTBEAT_SLEEP_US}
done
"""


@dataclasses.dataclass(frozen=True)
class Heartbeat:
    boot: str
    counter: int
    wall: int  # the guest's clock, whole seconds (UTC)
    uptime: float  # seconds since that boot


def kernel_version() -> str:
    """The installed cloud kernel's version (the newest if several)."""
    found = sorted(Path("/boot").glob("vmlinuz-*-cloud-amd64"))
    if not found:
        raise FileNotFoundError("no /boot/vmlinuz-*-cloud-amd64: is linux-image-cloud-amd64 in?")
    return found[-1].name.removeprefix("vmlinuz-")


def build(out: Path) -> dict[str, Path]:
    """kernel, ramdisk (gzip'd newc cpio) and disk files under `out`; their paths by role."""
    version = kernel_version()
    out.mkdir(parents=True, exist_ok=True)
    kernel, ramdisk, disk = out / "vmlinuz", out / "initrd.gz", out / "disk.raw"
    shutil.copyfile(f"/boot/vmlinuz-{version}", kernel)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for d in ("bin", "proc", "sys", "dev", "lib/modules"):
            (root / d).mkdir(parents=True)
        shutil.copyfile(BUSYBOX, root / "bin" / "busybox")
        (root / "bin" / "busybox").chmod(0o755)
        for module in MODULES:
            shutil.copyfile(
                f"/lib/modules/{version}/kernel/{module}",
                root / "lib" / "modules" / Path(module).name,
            )
        (root / "init").write_text(INIT)
        (root / "init").chmod(0o755)
        names = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
        cpio = subprocess.run(
            ["cpio", "--quiet", "-o", "-H", "newc", "--owner=0:0"],
            input="\n".join(names).encode(),
            cwd=root,
            capture_output=True,
            check=True,
        ).stdout
    ramdisk.write_bytes(gzip.compress(cpio, mtime=0))
    with open(disk, "wb") as f:
        f.truncate(DISK_BYTES)
    return {"kernel": kernel, "ramdisk": ramdisk, "disk": disk}


def parse(raw: bytes) -> list[Heartbeat]:
    """Every heartbeat record in the first DISK_BYTES of a guest disk, in disk order."""
    found = []
    for offset in range(0, min(len(raw), DISK_BYTES), RECORD):
        fields = raw[offset : offset + RECORD].split()
        if len(fields) == 5 and fields[0] == b"hb":
            try:
                found.append(
                    Heartbeat(fields[1].decode(), int(fields[2]), int(fields[3]), float(fields[4]))
                )
            except ValueError:
                continue
    return found


def read_disk(path: str | os.PathLike) -> bytes:
    """The guest's view of the first DISK_BYTES of its disk file (qcow2 over its base), read
    without taking qemu's lock (`-U`), while the guest may be running. A lane a block: with
    qemu-img dd's 512-byte default the 16 MiB took 2-3 s in the lab, with 1 MiB 0.16-0.17 s."""
    with tempfile.NamedTemporaryFile(suffix=".raw") as tmp:
        subprocess.run(
            ["qemu-img", "dd", "-U", "-O", "raw", f"if={path}", f"of={tmp.name}",
             f"bs={RECORD * LANE_RECORDS}", f"count={LANES}"],
            capture_output=True,
            check=True,
        )  # fmt: skip
        return io.FileIO(tmp.name).read()
