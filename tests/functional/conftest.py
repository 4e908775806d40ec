import pathlib
import sys

# The suite is imported as `tests.functional` (as zaza imports it from the repository root).
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
