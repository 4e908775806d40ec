import pathlib
import sys

CHARM = pathlib.Path(__file__).resolve().parents[1]
ROOT = CHARM.parents[1]
# The charm's code, the shared library and the fence-confirmed driver, as the build stages them.
sys.path[:0] = [str(CHARM / "src"), str(ROOT / "lib"), str(ROOT / "hostmonitor"), str(ROOT)]
