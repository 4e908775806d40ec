"""Where the lab can run from (no lab, no root needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from . import hosts


@pytest.mark.parametrize("checkout", ["/tmp/ciclone", "/run/user/0/repo", "/dev/shm/x", "/tmp"])
def test_a_checkout_the_hypervisors_cannot_see_is_refused_with_the_fix(checkout):
    with pytest.raises(hosts.LabError) as error:
        hosts.check_checkout(Path(checkout))
    assert "clone the repository elsewhere" in str(error.value)


@pytest.mark.parametrize("checkout", ["/work/main", "/root/masakari", "/tmpfoo/repo", "/srv"])
def test_a_checkout_the_hypervisors_share_is_accepted(checkout):
    hosts.check_checkout(Path(checkout))
