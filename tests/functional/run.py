"""`functest-run-suite` for this suite: `python -m tests.functional.run [functest-run-suite args]`
from the repository root.

zaza takes tests.yaml and bundles from `--test-directory`, but overlay templates always from
`./tests/bundles/overlays` relative to the working directory; this points that at the suite's
own `tests/functional/bundles/overlays` and adds `--test-directory tests/functional` unless
given. Run from the repository root, so `{{ charm_location }}` is where `tox -e build` leaves
the packed charms and tests.yaml's dotted names import.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import sys

import yaml

SUITE = pathlib.Path(__file__).resolve().parent
ROOT = SUITE.parents[1]


def configure_zaza(argv: list[str]) -> list[str]:
    import zaza.charm_lifecycle.deploy as deploy

    deploy.DEFAULT_OVERLAY_TEMPLATE_DIR = str(SUITE.relative_to(ROOT) / "bundles" / "overlays")
    if not any(arg == "--test-directory" or arg.startswith("--test-directory=") for arg in argv):
        argv = [*argv, "--test-directory", str(SUITE.relative_to(ROOT))]
    return argv


CHARM_LOCATION = "{{ charm_location }}/"
REQUIRED_VARIABLES = {
    "OS_VIP00": "a free address for the masakari API VIP",
    "TEST_MAAS_URL": "the MAAS API URL, e.g. http://10.0.0.2:5240/MAAS",
    "TEST_MAAS_API_KEY": "a MAAS API key (consumer:token:secret) that may power the hypervisors",
}


def selected_bundles(args: object) -> list[str]:
    if getattr(args, "bundles", None):
        return list(args.bundles)  # type: ignore[attr-defined]
    key = "smoke_bundles" if getattr(args, "smoke", False) else "gate_bundles"
    key = "dev_bundles" if getattr(args, "dev", False) else key
    tests = yaml.safe_load((SUITE / "tests.yaml").read_text())
    return [name for name in tests[key] if isinstance(name, str)]


def preflight(bundles: list[str], environ: dict[str, str] | None = None) -> list[str]:
    """What would make the run fail before it deploys anything, each with its fix."""
    environ = dict(os.environ if environ is None else environ)
    problems = [
        f"{name} is not set: export {name}=<{what}>"
        for name, what in REQUIRED_VARIABLES.items()
        if not environ.get(name)
    ]
    if not shutil.which("juju", path=environ.get("PATH")):
        problems.append("juju is not on the PATH: install it (snap install juju) and bootstrap")
    for name in bundles:
        path = SUITE / "bundles" / f"{name}.yaml"
        if not path.is_file():
            problems.append(f"no bundle {name}: the bundles are {', '.join(known_bundles())}")
            continue
        overlay = SUITE / "bundles" / "overlays" / f"{name}.yaml.j2"
        for app, charm in local_charms(overlay).items():
            if not (ROOT / charm).is_file():
                problems.append(f"{name}: {app} needs {charm}; run `tox -e build` first")
    return problems


def local_charms(overlay: pathlib.Path) -> dict[str, str]:
    """{application: packed charm file name} for the overlay's `{{ charm_location }}/` charms."""
    if not overlay.is_file():
        return {}
    charms = {}
    for app, spec in (yaml.safe_load(overlay.read_text()).get("applications") or {}).items():
        charm = str((spec or {}).get("charm", ""))
        if charm.startswith(CHARM_LOCATION):
            charms[app] = charm.removeprefix(CHARM_LOCATION)
    return charms


def known_bundles() -> list[str]:
    return sorted(p.name.removesuffix(".yaml") for p in (SUITE / "bundles").glob("*.yaml"))


def main() -> int:
    if pathlib.Path.cwd().resolve() != ROOT:
        print(f"run from the repository root ({ROOT})", file=sys.stderr)
        return 2
    import zaza.charm_lifecycle.func_test_runner as runner

    argv = configure_zaza(sys.argv[1:])
    if "-h" not in argv and "--help" not in argv:
        problems = preflight(selected_bundles(runner.parse_args(argv)))
        if problems:
            print("cannot run the functional tests:\n  " + "\n  ".join(problems), file=sys.stderr)
            return 2
    sys.argv = [sys.argv[0], *argv]
    return runner.main() or 0


if __name__ == "__main__":
    sys.exit(main())
