"""Force a dead host's nova-compute service down through Nova's os-services API."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from keystoneauth1 import adapter, session

# PUT /os-services/{id} with {"forced_down": true} needs 2.53 (Nova Pike and later).
MICROVERSION = "2.53"
# Nova calls must never hang a report for long, whatever [api] timeout says.
DEFAULT_TIMEOUT = 30.0


class NovaError(RuntimeError):
    pass


def compute_client(sess: session.Session, interface: str, region: str) -> adapter.Adapter:
    if sess.timeout is None:
        sess.timeout = DEFAULT_TIMEOUT
    return adapter.Adapter(
        sess,
        service_type="compute",
        interface=interface,
        region_name=region,
        default_microversion=MICROVERSION,
    )


def _services(nova: adapter.Adapter, host: str) -> list[dict]:
    query = urlencode({"host": host, "binary": "nova-compute"})
    services = nova.get(f"/os-services?{query}").json().get("services", [])
    services = [s for s in services if s.get("host") == host]
    if not services:
        raise NovaError(f"Nova has no nova-compute service on host '{host}'")
    return services


def is_forced_down(nova: adapter.Adapter, host: str) -> bool:
    return all(svc.get("forced_down") for svc in _services(nova, host))


def force_down(nova: adapter.Adapter, host: str) -> str:
    """Mark nova-compute on `host` forced down; return what was done. Raises on failure."""
    services = _services(nova, host)
    done = []
    for svc in services:
        if svc.get("forced_down"):
            done.append(f"{svc['id']} already forced down")
            continue
        nova.put(f"/os-services/{quote(str(svc['id']))}", json={"forced_down": True})
        done.append(f"{svc['id']} forced down")
    return ", ".join(done)
