import pathlib
import sys

CHARM = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(CHARM / "src"), str(CHARM.parents[1] / "lib"), str(CHARM.parents[1])]
