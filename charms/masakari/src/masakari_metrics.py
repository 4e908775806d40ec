"""Prometheus metrics of Masakari's recoveries: the masakari charm's exporter service.

Runs under the machine's python3 beside Masakari (SQLAlchemy, keystoneauth1 and the MySQL
driver come with it; python3-prometheus-client is installed by the charm), as the masakari user,
from the directory masakari_recovery.py is installed in, whose database reading it shares.
Everything is read when Prometheus scrapes (GET /metrics), never in between:
- Masakari's database through masakari.conf's `[database] connection`: notifications, segments,
  hosts;
- Nova's nova-compute services through keystoneauth1 with masakari.conf's `[keystone_authtoken]`
  credentials (Masakari's own service user), at the catalog interface of `[DEFAULT]
  nova_catalog_admin_info`; cached for NOVA_CACHE_SECONDS, so a scrape every 15 s asks Nova at
  most once a minute.

Every unit of the charm runs one and reports the same deployment-wide facts (one database):
dashboards and alert rules take `max` over the units, never `sum`. No label carries a secret:
types, statuses, recovery methods, segment and host names only.

Metrics (units in the names, Prometheus conventions):
- masakari_up: 1 when the database answered this scrape, else 0 (and nothing else from it).
- masakari_notifications{type,status}: notifications in the database (not purged); 0 for
  every known type and status without any.
- masakari_recovery_duration_seconds{type}: histogram of finished notifications, generated ->
  finished (the notification's last update).
- masakari_notifications_running: notifications `running` now.
- masakari_oldest_running_notification_age_seconds: age of the oldest of them (generated time),
  0 when none.
- masakari_segments{recovery_method}: segments by recovery method (0 for a known method unused).
- masakari_segment_hosts{segment}, masakari_hosts_on_maintenance{segment},
  masakari_segment_reserved_hosts_available{segment,recovery_method}: hosts, hosts on
  maintenance, and reserved hosts not on maintenance, per segment.
- masakari_nova_up: 1 when Nova's services list was read within the cache time, else 0.
- masakari_compute_hosts_in_no_segment: nova-compute hosts that are in no segment (only while
  masakari_nova_up is 1), and masakari_compute_host_in_no_segment{host} = 1 for each.
"""

from __future__ import annotations

import argparse
import configparser
import datetime
import logging
import sys
import time
from collections.abc import Callable

import masakari_recovery as recovery

LOG = logging.getLogger("masakari-metrics")
DURATION_BUCKETS = (30.0, 60.0, 120.0, 180.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0)
RECOVERY_METHODS = ("auto", "reserved_host", "auto_priority", "rh_priority")
# Masakari's notification types and statuses (masakari/objects/fields.py): each pair is exported,
# 0 when none, so a first failure is an increase that alert rules see.
NOTIFICATION_TYPES = ("COMPUTE_HOST", "VM", "PROCESS")
NOTIFICATION_STATUSES = ("new", "running", "error", "failed", "ignored", "finished")
NOVA_CACHE_SECONDS = 60.0
# Seconds per keystone or Nova call. The scrape that refreshes the cache waits for them (two
# calls; Prometheus' default scrape timeout is 10 s): a Nova that hangs fails at most that one
# scrape a minute, and the failure is cached as masakari_nova_up 0 for the others.
NOVA_TIMEOUT = 8.0
NOVA_MICROVERSION = "2.53"


class NovaHosts:
    """Host names of Nova's nova-compute services, fetched at most once per `ttl` seconds.

    `hosts()` is None while Nova cannot be asked (the last failure within ttl, or never read).
    """

    def __init__(self, fetch: Callable[[], list[str]], ttl: float = NOVA_CACHE_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self._fetch = fetch
        self._ttl = ttl
        self._clock = clock
        self._at: float | None = None
        self._hosts: list[str] | None = None

    def hosts(self) -> list[str] | None:
        now = self._clock()
        if self._at is None or now - self._at >= self._ttl:
            self._at = now
            try:
                self._hosts = sorted(set(self._fetch()))
            except Exception as error:  # noqa: BLE001 - keystone, Nova, TLS fail in many ways
                LOG.warning("cannot list Nova's compute services: %s", type(error).__name__)
                self._hosts = None
        return self._hosts


def nova_compute_hosts(masakari_conf: str) -> Callable[[], list[str]]:
    """A function listing nova-compute hosts with Masakari's service credentials.

    Raises KeyError (missing option) here, keystoneauth's errors when called.
    """
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.read(masakari_conf)
    auth = {k: v.replace("$$", "$") for k, v in parser["keystone_authtoken"].items()}
    # compute:nova:internalURL -> internal
    catalog = parser["DEFAULT"].get("nova_catalog_admin_info", "compute:nova:publicURL")
    interface = catalog.rsplit(":", 1)[-1].removesuffix("URL") or "public"
    ca_file = parser["DEFAULT"].get("nova_ca_certificates_file") or auth.get("cafile")

    def fetch() -> list[str]:
        from keystoneauth1 import adapter, session
        from keystoneauth1.identity import v3

        password = v3.Password(
            auth_url=auth["auth_url"], username=auth["username"], password=auth["password"],
            project_name=auth.get("project_name"),
            user_domain_name=auth.get("user_domain_name", "Default"),
            project_domain_name=auth.get("project_domain_name", "Default"),
        )  # fmt: skip
        nova = adapter.Adapter(
            session.Session(auth=password, verify=ca_file or True, timeout=NOVA_TIMEOUT),
            service_type="compute", interface=interface, region_name=auth.get("region_name"),
            default_microversion=NOVA_MICROVERSION,
        )  # fmt: skip
        services = nova.get("/os-services?binary=nova-compute").json()["services"]
        return [s["host"] for s in services if s.get("binary") == "nova-compute"]

    return fetch


class MasakariCollector:
    """prometheus_client collector: one database read (and a cached Nova list) per scrape."""

    def __init__(self, engine, nova: NovaHosts | None,
                 now: Callable[[], datetime.datetime] = recovery.utcnow) -> None:  # fmt: skip
        self.engine = engine
        self.nova = nova
        self.now = now

    def describe(self):
        return []  # collected on demand: nothing is read at registration

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        up = GaugeMetricFamily("masakari_up", "1 when Masakari's database answered this scrape")
        try:
            with self.engine.connect() as connection:
                counts = recovery.notification_counts(connection)
                durations = recovery.recovery_durations(connection)
                running = recovery.running(connection)
                segments = recovery.segments(connection)
        except Exception as error:  # noqa: BLE001 - MySQL down, not migrated yet, ...
            LOG.warning("cannot read Masakari's database: %s", type(error).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from self._notifications(counts, durations, running)
        yield from self._segments(segments)
        if self.nova is not None:
            yield from self._unprotected(segments, self.nova.hosts())

    def _notifications(self, counts, durations, running):
        from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily

        by_status = GaugeMetricFamily(
            "masakari_notifications", "Notifications in Masakari's database by type and status",
            labels=["type", "status"],
        )  # fmt: skip
        found = {(kind, state): n for kind, state, n in counts}
        known = {(k, s): 0 for k in NOTIFICATION_TYPES for s in NOTIFICATION_STATUSES}
        for (kind, state), how_many in sorted({**known, **found}.items()):
            by_status.add_metric([kind, state], how_many)
        yield by_status
        histogram = HistogramMetricFamily(
            "masakari_recovery_duration_seconds",
            "Finished recoveries: notification generated -> finished, in seconds",
            labels=["type"],
        )
        for kind in sorted({k for k, _ in durations}):
            seconds = [s for k, s in durations if k == kind]
            buckets = [(str(b), sum(1 for s in seconds if s <= b)) for b in DURATION_BUCKETS]
            buckets.append(("+Inf", len(seconds)))
            histogram.add_metric([kind], buckets, sum_value=sum(seconds))
        yield histogram
        yield GaugeMetricFamily(
            "masakari_notifications_running", "Notifications running now", value=len(running)
        )
        now = self.now()
        ages = [
            max(0.0, (now - n["generated_at"]).total_seconds())
            for n in running if n["generated_at"] is not None
        ]  # fmt: skip
        yield GaugeMetricFamily(
            "masakari_oldest_running_notification_age_seconds",
            "Age of the oldest running notification (since generated); 0 when none runs",
            value=max(ages, default=0.0),
        )

    def _segments(self, segments):
        from prometheus_client.core import GaugeMetricFamily

        methods = GaugeMetricFamily(
            "masakari_segments", "Failover segments by recovery method", labels=["recovery_method"]
        )
        for method in sorted({*RECOVERY_METHODS, *(s["recovery_method"] for s in segments)}):
            methods.add_metric([method], sum(s["recovery_method"] == method for s in segments))
        yield methods
        hosts = GaugeMetricFamily(
            "masakari_segment_hosts", "Hosts in each segment", labels=["segment"]
        )
        maintenance = GaugeMetricFamily(
            "masakari_hosts_on_maintenance", "Hosts on maintenance in each segment",
            labels=["segment"],
        )  # fmt: skip
        reserved = GaugeMetricFamily(
            "masakari_segment_reserved_hosts_available",
            "Reserved hosts not on maintenance in each segment: what reserved_host recovery "
            "can still evacuate to",
            labels=["segment", "recovery_method"],
        )
        for segment in segments:
            name, members = segment["name"], segment["hosts"]
            hosts.add_metric([name], len(members))
            maintenance.add_metric([name], sum(h["on_maintenance"] for h in members))
            reserved.add_metric(
                [name, segment["recovery_method"]],
                sum(h["reserved"] and not h["on_maintenance"] for h in members),
            )
        yield from (hosts, maintenance, reserved)

    def _unprotected(self, segments, compute_hosts: list[str] | None):
        from prometheus_client.core import GaugeMetricFamily

        yield GaugeMetricFamily(
            "masakari_nova_up", "1 when Nova's compute services were listed within the cache time",
            value=0 if compute_hosts is None else 1,
        )  # fmt: skip
        if compute_hosts is None:
            return
        in_segments = {h["name"] for s in segments for h in s["hosts"]}
        outside = [h for h in compute_hosts if h not in in_segments]
        yield GaugeMetricFamily(
            "masakari_compute_hosts_in_no_segment",
            "nova-compute hosts in no Masakari segment: not protected", value=len(outside),
        )  # fmt: skip
        each = GaugeMetricFamily(
            "masakari_compute_host_in_no_segment",
            "1 for each nova-compute host in no Masakari segment", labels=["host"],
        )  # fmt: skip
        for host in outside:
            each.add_metric([host], 1)
        yield each


def registry_for(masakari_conf: str, with_nova: bool = True):
    """A CollectorRegistry holding the collector for `masakari_conf`'s database (and Nova)."""
    from prometheus_client import CollectorRegistry
    from sqlalchemy import create_engine

    engine = create_engine(recovery.database_url(masakari_conf), pool_pre_ping=True)
    nova = NovaHosts(nova_compute_hosts(masakari_conf)) if with_nova else None
    registry = CollectorRegistry(auto_describe=False)
    registry.register(MasakariCollector(engine, nova))
    return registry


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config-file", default="/etc/masakari/masakari.conf")
    parser.add_argument("--address", required=True, help="address to listen on")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    from prometheus_client import start_http_server

    start_http_server(args.port, addr=args.address, registry=registry_for(args.config_file))
    LOG.info("serving Masakari's metrics on %s port %d", args.address, args.port)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main())
