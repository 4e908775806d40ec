"""State sequences recorded in a Pacemaker lab (1 cluster node, remotes rem1-rem3, rem1 failing),
replayed as each surviving remote saw them."""

import logging

from conftest import doc_time, edit_node, recording
from masakari_fence_confirmed import crm
from masakari_fence_confirmed.tracker import (
    CONFIRMED,
    FAILED,
    PENDING,
    STARTED,
    STOPPED,
    UNCONFIRMED,
    WAITING,
    Tracker,
)


def replay(tracker, docs):
    """Feed documents; return {file name: [(host, event)]} for the documents that produced any."""
    out = {}
    for name, doc in docs:
        reports = tracker.observe(crm.parse(doc), doc_time(doc))
        if reports:
            out[name] = [(r.hostname, r.event) for r in reports]
    return out


def phase(tracker, host="rem1"):
    return tracker.hosts[host].phase


def test_clean_failure_reported_once_after_fencing_confirmed():
    tracker = Tracker("rem2")
    sent = replay(tracker, recording("clean", "rem2")[:2])
    # t20.7: offline and fence already recorded, but Pacemaker still says unclean: wait.
    assert sent == {} and phase(tracker) == WAITING
    sent = replay(tracker, recording("clean", "rem2")[2:3])
    assert sent == {"t0022.3-rem2.xml": [("rem1", STOPPED)]}
    assert phase(tracker) == CONFIRMED


def test_reconnect_flaps_after_fencing_send_nothing_until_really_up():
    tracker = Tracker("rem2")
    sent = replay(tracker, recording("clean", "rem2"))
    # online="true" while Pacemaker retries the connection (t51.1), offline again (t70.3): no
    # STARTED, no second STOPPED.
    assert sent == {"t0022.3-rem2.xml": [("rem1", STOPPED)]}
    # The host really comes back (connection Started): one STARTED.
    sent = replay(tracker, recording("recover", "rem2"))
    assert sent == {"t0000.0-rem2.xml": [("rem1", STARTED)]}


def test_two_surviving_peers_send_one_notification():
    rem2, rem3 = Tracker("rem2"), Tracker("rem3")
    # Interleave both monitors' views in time order, as they ran in the lab.
    docs = sorted(recording("clean", "rem2") + recording("clean", "rem3"))
    sent = []
    for name, doc in docs:
        tracker = rem2 if name.endswith("rem2.xml") else rem3
        sent += [
            (tracker.my_hostname, r.hostname, r.event)
            for r in tracker.observe(crm.parse(doc), doc_time(doc))
        ]
    assert sent == [("rem2", "rem1", STOPPED)]
    # rem3 saw the same confirmation but left it to rem2, the lowest-named up remote.
    assert rem3.hosts["rem1"].confirmed_at is not None and not rem3.hosts["rem1"].reported


def test_backup_reports_after_its_delay_if_the_reporter_stays_silent():
    # rem2 is up but its monitor does not run: rem3, backup #1, reports after backup_delay.
    rem3 = Tracker("rem3", backup_delay=20)
    sent = {}
    for name, doc in recording("clean", "rem3"):
        for report in rem3.observe(crm.parse(doc), doc_time(doc)):
            sent[name] = (report.hostname, report.event, report.backup)
    # Confirmed at t20.7 (17:22:58); t51.1 is 30 s later.
    assert sent == {"t0051.1-rem3.xml": ("rem1", STOPPED, True)}


def test_next_peer_reports_when_the_lowest_named_one_is_gone_too():
    rem3 = Tracker("rem3")
    docs = recording("clean", "rem3")
    replay(rem3, docs[:1])
    both_down = [(n, edit_node(d, "rem2", online="false", role="Stopped")) for n, d in docs[1:2]]
    assert replay(rem3, both_down) == {"t0020.7-rem3.xml": [("rem1", STOPPED)]}


def test_slow_fence_is_not_reported_while_pending():
    tracker = Tracker("rem2")
    docs = recording("slow", "rem2")
    assert [n for n, _ in docs] == ["t0000.0-rem2.xml", "t0020.9-rem2.xml", "t0033.8-rem2.xml"]
    # The history still holds the success of the previous failure (17:22:58): not this one.
    replay(tracker, docs[:2])
    assert phase(tracker) == PENDING
    assert replay(tracker, docs[2:]) == {"t0033.8-rem2.xml": [("rem1", STOPPED)]}


def test_slow_fence_unclean_with_success_still_waits():
    tracker = Tracker("rem3")
    docs = recording("slow", "rem3")
    sent = replay(tracker, docs[:3])  # t32.2: new success recorded, node still unclean
    assert sent == {} and phase(tracker) == WAITING
    # rem3 is not the reporter (rem2 is up), so even the confirmation sends nothing from here.
    assert replay(tracker, docs[3:]) == {} and phase(tracker) == CONFIRMED


def test_failed_fence_is_never_reported_and_logged(caplog):
    tracker = Tracker("rem2")
    with caplog.at_level(logging.WARNING):
        sent = replay(tracker, recording("failed", "rem2"))
    assert sent == {} and phase(tracker) == FAILED
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == [
        "'rem1': FENCING FAILED; Pacemaker keeps retrying; NOT reporting it, still watching."
    ]


def test_failed_fence_that_later_succeeds_is_reported():
    tracker = Tracker("rem2")
    replay(tracker, recording("failed", "rem2"))
    sent = replay(tracker, recording("failed-then-ok", "rem2"))
    # The fence succeeded and Pacemaker went straight to retrying the connection
    # (online="true", connection Starting): still dead, now confirmed.
    assert sent == {"t0016.7-rem2.xml": [("rem1", STOPPED)]}


def test_offline_without_any_fencing_is_not_reported():
    tracker = Tracker("rem2")
    up = recording("clean", "rem2")[0][1]
    replay(tracker, [("up", up)])
    stopped = edit_node(up, "rem1", online="false", role="Stopped")
    assert replay(tracker, [("stopped", stopped)] * 3) == {}
    assert phase(tracker) == UNCONFIRMED


def test_fence_of_an_earlier_failure_does_not_count():
    # rem1 was fenced at 17:22:58 and seen up at 17:26:56 (slow/t0); it then goes offline
    # with no new fence: the old success must not confirm anything.
    tracker = Tracker("rem2")
    up = recording("slow", "rem2")[0][1]
    replay(tracker, [("up", up)])
    stopped = edit_node(up, "rem1", online="false", role="Stopped")
    assert replay(tracker, [("stopped", stopped)]) == {}
    assert phase(tracker) == UNCONFIRMED


def test_old_fence_is_ignored_even_if_history_was_missing_while_up():
    # Baseline unknown (history not shown while up), but the only success is minutes older
    # than the last time the peer was seen up.
    tracker = Tracker("rem2")
    up = recording("slow", "rem2")[0][1]
    no_history = up.split("<fence_history>")[0] + up.split("</fence_history>")[1]
    replay(tracker, [("up", no_history)])
    assert tracker.hosts["rem1"].baseline is None
    stopped = edit_node(up, "rem1", online="false", role="Stopped")
    assert replay(tracker, [("stopped", stopped)]) == {}


def test_peer_already_down_at_start_is_not_reported():
    tracker = Tracker("rem2")
    docs = recording("clean", "rem2")
    assert replay(tracker, docs[2:]) == {}  # first document already shows rem1 down
    assert tracker.hosts["rem1"].state == "unknown"


def test_peer_unclean_at_start_is_reported_once_fenced():
    tracker = Tracker("rem2")
    docs = recording("slow", "rem2")
    assert replay(tracker, docs[1:]) == {"t0033.8-rem2.xml": [("rem1", STOPPED)]}


def test_no_quorum_means_no_decision():
    tracker = Tracker("rem2")
    docs = recording("clean", "rem2")
    replay(tracker, docs[:1])
    no_quorum = [(n, d.replace('with_quorum="true"', 'with_quorum="false"')) for n, d in docs[1:]]
    assert replay(tracker, no_quorum) == {}


def test_monitor_whose_name_is_not_a_node_never_reports(caplog):
    tracker = Tracker("compute-7")
    with caplog.at_level(logging.ERROR):
        assert replay(tracker, recording("clean", "rem2")) == {}
    assert "'compute-7' is not a pacemaker-remote node" in caplog.text


def test_stale_reports_are_not_wanted():
    tracker = Tracker("rem2")
    replay(tracker, recording("clean", "rem2")[:2])
    name, doc = recording("clean", "rem2")[2]
    (stopped,) = tracker.observe(crm.parse(doc), doc_time(doc))
    assert tracker.still_wanted(stopped)
    _, flap = recording("clean", "rem2")[3]
    tracker.observe(crm.parse(flap), doc_time(flap))
    assert tracker.still_wanted(stopped)  # a reconnect attempt is not a recovery
    _, back = recording("recover", "rem2")[0]
    tracker.observe(crm.parse(back), doc_time(back))
    assert not tracker.still_wanted(stopped)
