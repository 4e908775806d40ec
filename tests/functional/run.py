"""`functest-run-suite` for this suite: `python -m tests.functional.run [functest-run-suite args]`
from the repository root.

zaza takes tests.yaml and bundles from `--test-directory`, but overlay templates always from
`./tests/bundles/overlays` relative to the working directory; this points that at the suite's
own `tests/functional/bundles/overlays` and adds `--test-directory tests/functional` unless
given. Run from the repository root, so `{{ charm_location }}` is where `tox -e build` leaves
the packed charms and tests.yaml's dotted names import.
"""

from __future__ import annotations

import pathlib
import sys

SUITE = pathlib.Path(__file__).resolve().parent
ROOT = SUITE.parents[1]


def configure_zaza(argv: list[str]) -> list[str]:
    import zaza.charm_lifecycle.deploy as deploy

    deploy.DEFAULT_OVERLAY_TEMPLATE_DIR = str(SUITE.relative_to(ROOT) / "bundles" / "overlays")
    if not any(arg == "--test-directory" or arg.startswith("--test-directory=") for arg in argv):
        argv = [*argv, "--test-directory", str(SUITE.relative_to(ROOT))]
    return argv


def main() -> int:
    if pathlib.Path.cwd().resolve() != ROOT:
        print(f"run from the repository root ({ROOT})", file=sys.stderr)
        return 2
    import zaza.charm_lifecycle.func_test_runner as runner

    sys.argv = [sys.argv[0], *configure_zaza(sys.argv[1:])]
    return runner.main() or 0


if __name__ == "__main__":
    sys.exit(main())
