"""The README's demo: the guide's reserved_host example, end to end."""

from __future__ import annotations

from .. import scenario_steps, settings


def test_server_comes_back_on_the_reserved_host(clean):
    scenario_steps.demo()  # raises, naming the difference, if the guide's outcome is not met
    server = clean.servers(name="^focal-1$")[0]
    assert scenario_steps.host_of(server) == settings.RESERVED_HOST
    assert server["status"] == "ACTIVE"
