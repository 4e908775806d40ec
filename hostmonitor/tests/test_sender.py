"""Delivery rules that the HTTP tests do not reach."""

import logging
import threading

from masakari_fence_confirmed.sender import Sender
from masakari_fence_confirmed.tracker import STARTED, STOPPED, Report


class HttpError(Exception):
    def __init__(self, status_code):
        super().__init__(f"HTTP {status_code}")
        self.status_code = status_code


def make(notify, force_down=lambda host: "ok", retry_max=3):
    naps = []
    return Sender(notify, force_down, retry_max, 10, sleep=naps.append), naps


def test_retry_stops_once_the_report_is_stale():
    wanted = iter([True, True, False])
    calls = []

    def notify(report):
        calls.append(report)
        raise HttpError(500)

    sender, naps = make(notify)
    assert sender.deliver(Report("rem1", STOPPED, 1, 0.0), lambda: next(wanted)) is False
    assert len(calls) == 2 and naps == [10, 10]


def test_400_is_final_like_masakari_monitors_22():
    calls = []

    def notify(report):
        calls.append(report)
        raise HttpError(400)

    sender, naps = make(notify)
    assert sender.deliver(Report("rem1", STOPPED, 1, 0.0), lambda: True) is False
    assert len(calls) == 1 and naps == []


def test_started_does_not_touch_nova():
    forced = []
    sender, _ = make(lambda report: "accepted", force_down=forced.append)
    assert sender.deliver(Report("rem1", STARTED, 1, 0.0), lambda: True) is True
    assert forced == []


def test_unexpected_errors_are_logged_not_raised(caplog):
    def still_wanted():
        raise RuntimeError("boom")

    sender, _ = make(lambda report: "accepted")
    with caplog.at_level(logging.ERROR):
        assert sender.deliver(Report("rem1", STOPPED, 1, 0.0), still_wanted) is False
    assert "Unexpected error while reporting rem1 STOPPED" in caplog.text


def test_submit_returns_while_delivery_is_still_running():
    release = threading.Event()
    sender, _ = make(lambda report: release.wait(5))
    thread = sender.submit(Report("rem1", STOPPED, 1, 0.0), lambda: True)
    assert thread.is_alive()
    release.set()
    thread.join(5)
    assert not thread.is_alive()


def test_backup_stays_silent_when_nova_shows_the_host_forced_down():
    posted, forced = [], []
    sender = Sender(posted.append, forced.append, 3, 10, is_forced_down=lambda host: True)
    backup = Report("rem1", STOPPED, 1, 0.0, backup=True)
    assert sender.deliver(backup, lambda: True) is False
    assert posted == [] and forced == []


def test_backup_reports_when_nobody_acted_or_nova_cannot_tell():
    def unknown(host):
        raise RuntimeError("nova down")

    for check in (lambda host: False, unknown):
        posted, forced = [], []
        sender = Sender(posted.append, forced.append, 3, 10, is_forced_down=check)
        assert sender.deliver(Report("rem1", STOPPED, 1, 0.0, backup=True), lambda: True)
        assert forced == ["rem1"] and len(posted) == 1
