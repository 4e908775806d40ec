"""Stage the shared code into each charm and pack it with charmcraft where charmcraft runs.

charmcraft only sees files under the charm's own directory, so the shared package (and, for
masakari-monitors, the host-monitor driver it installs) is copied into charms/<name>/lib/
(git-ignored) first. Packing needs Ubuntu with LXD; elsewhere the staged trees are left ready.
"""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
# What each charm carries besides its own code: (source directory, name under the charm's lib/).
STAGED = {
    "masakari": [(ROOT / "lib/charm_common", "charm_common")],
    # The charm installs the fence-confirmed host-monitoring driver onto each hypervisor.
    "masakari-monitors": [
        (ROOT / "lib/charm_common", "charm_common"),
        (ROOT / "hostmonitor/masakari_fence_confirmed", "masakari_fence_confirmed"),
    ],
}


def stage(charm: str) -> pathlib.Path:
    charm_dir = ROOT / "charms" / charm
    for source, name in STAGED.get(charm, [(ROOT / "lib/charm_common", "charm_common")]):
        target = charm_dir / "lib" / name
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "tests"))
    return charm_dir


def main(names: list[str]) -> int:
    charms = names or sorted(p.parent.name for p in ROOT.glob("charms/*/charmcraft.yaml"))
    can_pack = shutil.which("charmcraft") and pathlib.Path("/etc/lsb-release").exists()
    for charm in charms:
        charm_dir = stage(charm)
        print(f"staged {charm_dir.relative_to(ROOT)}")
        if can_pack:
            subprocess.run(["charmcraft", "pack", "--verbose"], cwd=charm_dir, check=True)
            for built in charm_dir.glob("*.charm"):
                shutil.move(built, ROOT / built.name)
                print(f"packed {built.name}")
    if not can_pack:
        print(
            "charmcraft pack needs Ubuntu with LXD (snap install charmcraft --classic; lxd "
            "init --auto); the staged charm directories above are ready for it."
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
