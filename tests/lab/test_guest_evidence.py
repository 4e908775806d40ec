"""The real-guest pieces that need no lab: libvirt's qemu arguments as the lab's emulator rewrites
them, heartbeat records as the guest writes them, and the double-run verdict on a disk."""

from __future__ import annotations

import json

from . import double_run, emulator, guest_image

# As libvirt 9.0 starts a nova guest here (abridged from a lab hypervisor's `pgrep -af`).
LIBVIRT_ARGS = [
    "-name", "guest=instance-00000001,debug-threads=on",
    "-accel", "tcg",
    "-blockdev", '{"driver":"file","filename":"/i/disk","node-name":"libvirt-1-storage",'
    '"auto-read-only":true,"discard":"unmap"}',
    "-blockdev", '{"node-name":"libvirt-1-format","read-only":false,"driver":"raw",'
    '"file":"libvirt-1-storage"}',
]  # fmt: skip


def test_emulator_turns_locking_off_on_file_nodes_only_and_shrinks_the_tcg_cache():
    out = emulator.rewrite(LIBVIRT_ARGS)
    assert out[1] == LIBVIRT_ARGS[1]  # `pgrep -f guest=instance-00000001` still finds it
    assert out[3] == "tcg,tb-size=32"
    storage, fmt = json.loads(out[5]), json.loads(out[7])
    assert storage["locking"] == "off" and storage["filename"] == "/i/disk"
    assert "locking" not in fmt and fmt == json.loads(LIBVIRT_ARGS[7])


def record(boot: str, counter: int, wall: int, uptime: float) -> bytes:
    """One record exactly as the guest's init writes it (printf '%-511s\\n')."""
    text = f"hb {boot} {counter} {wall} {uptime:.2f}"
    return text.ljust(guest_image.RECORD - 1).encode() + b"\n"


def disk(lanes: dict[int, list[bytes]]) -> bytes:
    raw = bytearray(guest_image.DISK_BYTES)
    for lane, records in lanes.items():
        for i, rec in enumerate(records):
            offset = (lane * guest_image.LANE_RECORDS + i) * guest_image.RECORD
            raw[offset : offset + guest_image.RECORD] = rec
    return bytes(raw)


def test_heartbeats_are_read_back_per_lane():
    raw = disk({0: [record("a", n, 100 + n // 5, 3.0 + n / 5) for n in range(10)]})
    beats = guest_image.parse(raw)
    assert [b.counter for b in beats] == list(range(10))
    assert beats[-1] == guest_image.Heartbeat("a", 9, 101, 4.8)


def test_an_evacuation_after_the_power_off_is_no_double_run():
    old = [record("old", n, 100 + n, 1.0 + n) for n in range(10)]  # 100..109
    new = [record("new", n, 115 + n, 1.0 + n) for n in range(5)]  # 115..119
    spans = double_run.boots(guest_image.parse(disk({0: old, 1: new})))
    assert [(s.boot, s.first, s.last) for s in spans] == [("old", 100, 109), ("new", 115, 119)]
    assert double_run.interleaved(spans) == []


def test_two_boots_writing_in_the_same_seconds_are_a_double_run():
    old = [record("old", n, 100 + n, 1.0 + n) for n in range(10)]  # 100..109
    new = [record("new", n, 105 + n, 1.0 + n) for n in range(10)]  # 105..114
    spans = double_run.boots(guest_image.parse(disk({0: old, 1: new})))
    [(first, second)] = double_run.interleaved(spans)
    assert (first.boot, second.boot) == ("old", "new")


def test_a_handover_within_one_clock_second_is_not_counted():
    old = [record("old", n, 100 + n, 1.0 + n) for n in range(10)]  # until 109
    new = [record("new", n, 109 + n, 1.0 + n) for n in range(5)]  # from 109
    assert (
        double_run.interleaved(double_run.boots(guest_image.parse(disk({0: old, 1: new})))) == []
    )
