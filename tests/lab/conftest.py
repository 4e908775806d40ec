"""The live scenarios (scenarios/) need the running lab and Debian's OpenStack clients: they are
collected only under `python -m tests.lab test`, which brings the lab up first. Everything else
under tests/lab is a pure unit test (no lab, no root), collected by tox's `unit` env."""

from __future__ import annotations

import os

if not os.environ.get("MASAKARI_LAB_RUN"):
    collect_ignore = ["scenarios"]
