"""masakari-hostmonitor driver `fence-confirmed` (entry point group `hostmonitor.driver`)."""

from __future__ import annotations

import datetime
import functools
import logging
import time
from collections.abc import Callable

import eventlet
import masakarimonitors.conf
from keystoneauth1 import loading as ks_loading
from masakarimonitors import utils
from masakarimonitors.ha import masakari
from masakarimonitors.hostmonitor import driver
from masakarimonitors.objects import event_constants as ec
from oslo_config import cfg

from masakari_fence_confirmed import crm, nova
from masakari_fence_confirmed import metrics as driver_metrics
from masakari_fence_confirmed.sender import Sender
from masakari_fence_confirmed.tracker import STOPPED, Report, Tracker

LOG = logging.getLogger(__name__)
CONF = masakarimonitors.conf.CONF

# One call gives node states and fencing history from the same moment. `timeout` because
# crm_mon blocks for a while on a host that lost the cluster.
CRM_MON = ("timeout", "30", "crm_mon", "--output-as=xml", "--fence-history=3")
# The driver's own options: where masakari-hostmonitor serves its Prometheus metrics.
METRICS_GROUP = "fence_confirmed"
METRICS_OPTS = [
    cfg.IntOpt("metrics_port", default=0, min=0, max=65535,
               help="TCP port of the driver's Prometheus metrics; 0 serves none."),
    cfg.StrOpt("metrics_address", default="127.0.0.1",
               help="Address the metrics are served on."),
]  # fmt: skip
CONF.register_opts(METRICS_OPTS, group=METRICS_GROUP)
IGNORED_OPTIONS = (
    "restrict_to_remotes",
    "pacemaker_node_type",
    "disable_ipmi_check",
    "monitoring_samples",
    "stonith_wait",
)


def make_event(report: Report) -> dict:
    """The notification upstream's pacemaker driver sends, for a confirmed state."""
    stopped = report.event == STOPPED
    generated = datetime.datetime.fromtimestamp(report.at, tz=datetime.timezone.utc)
    return {
        "type": ec.EventConstants.TYPE_COMPUTE_HOST,
        "hostname": report.hostname,
        "generated_time": generated.replace(tzinfo=None),
        "payload": {
            "event": (
                ec.EventConstants.EVENT_STOPPED if stopped else ec.EventConstants.EVENT_STARTED
            ),
            "cluster_status": "OFFLINE" if stopped else "ONLINE",
            # Fencing succeeded, which is what upstream's IPMI "Power is off" check stood for.
            "host_status": ec.EventConstants.HOST_STATUS_NORMAL,
        },
    }


def run_crm_mon() -> str | None:
    try:
        out, err = utils.execute(*CRM_MON, run_as_root=True)
    except Exception as exc:
        LOG.warning("crm_mon failed (%s); skipping this round.", exc)
        return None
    if err:
        LOG.warning("crm_mon wrote to stderr (%s); skipping this round.", err.strip())
        return None
    return out


class FenceConfirmedDriver(driver.DriverBase):
    """Reports a pacemaker-remote peer STOPPED only once its fencing is confirmed."""

    def __init__(
        self,
        crm_mon: Callable[[], str | None] = run_crm_mon,
        sender: Sender | None = None,
        hostname: str | None = None,
        clock: Callable[[], float] = time.time,
        metrics: driver_metrics.NoMetrics | None = None,
    ) -> None:
        super().__init__()
        self.running = False
        self.crm_mon = crm_mon
        self.clock = clock
        # A backup waits for the reporter's next round, its Nova calls and a margin.
        backup_delay = 2 * CONF.host.monitoring_interval + 60
        # [DEFAULT] hostname: the charm renders the name nova-compute registers (nova.conf
        # `host`, else socket.gethostname()), which is also the Pacemaker remote node name;
        # short or fully qualified, it is compared exactly, never shortened or extended.
        self.tracker = Tracker(hostname or CONF.hostname, backup_delay=backup_delay)
        self.metrics = metrics or driver_metrics.create()
        self._masakari = masakari.SendNotification()
        self._nova = None
        self.sender = sender or Sender(
            notify=self._notify,
            force_down=self._force_down,
            is_forced_down=self._is_forced_down,
            retry_max=CONF.host.api_retry_max,
            retry_interval=CONF.host.api_retry_interval,
            metrics=self.metrics,
        )

    def _notify(self, report: Report) -> object:
        return self._masakari.masakari_client.create_notification(**make_event(report))

    def _compute(self):
        if self._nova is None:
            auth = ks_loading.load_auth_from_conf_options(CONF, "api")
            sess = ks_loading.load_session_from_conf_options(CONF, "api", auth=auth)
            self._nova = nova.compute_client(sess, CONF.api.api_interface, CONF.api.region)
        return self._nova

    def _force_down(self, host: str) -> str:
        return nova.force_down(self._compute(), host)

    def _is_forced_down(self, host: str) -> bool:
        return nova.is_forced_down(self._compute(), host)

    def poll_once(self) -> list[Report]:
        document = self.crm_mon()
        if document is None:
            return []
        try:
            view = crm.parse(document)
        except crm.CrmMonError as exc:
            LOG.warning("%s; skipping this round.", exc)
            return []
        now = self.clock()
        reports = self.tracker.observe(view, now)
        if view.quorate:  # a round without quorum judged nothing
            self.metrics.round_done(self.tracker, now)
        for report in reports:
            LOG.info(
                "Reporting '%s' %s%s.",
                report.hostname,
                report.event,
                " as a backup (if nobody has acted)" if report.backup else "",
            )
            self.sender.submit(report, functools.partial(self.tracker.still_wanted, report))
        return reports

    def stop(self) -> None:
        self.running = False

    def monitor_hosts(self) -> None:
        LOG.info(
            "fence-confirmed host monitor on '%s', every %s s (it does not use [host] %s).",
            self.tracker.my_hostname,
            CONF.host.monitoring_interval,
            ", ".join(IGNORED_OPTIONS),
        )
        port = CONF[METRICS_GROUP].metrics_port
        if port:
            try:
                self.metrics.serve(
                    CONF[METRICS_GROUP].metrics_address, port, CONF.host.monitoring_interval
                )
            except OSError as exc:  # the port is taken: monitor anyway, metrics are secondary
                LOG.error("Cannot serve metrics on port %s (%s); monitoring without them.",
                          port, exc)  # fmt: skip
        self.running = True
        while self.running:
            try:
                self.poll_once()
            except Exception:
                LOG.exception("Unexpected error in the monitoring round.")
            eventlet.greenthread.sleep(CONF.host.monitoring_interval)
