"""The README's demo: the guide's reserved_host example, end to end."""

from __future__ import annotations

from . import scenarios, settings


def test_server_comes_back_on_the_reserved_host(clean):
    scenarios.demo()  # raises, naming the difference, if the guide's outcome is not met
    server = clean.servers(name="^focal-1$")[0]
    assert scenarios.host_of(server) == settings.RESERVED_HOST
    assert server["status"] == "ACTIVE"
