import datetime

import pytest
from conftest import FIXTURES
from masakari_fence_confirmed import crm

UTC = datetime.timezone.utc


def test_reads_nodes_roles_and_history_from_crm_mon_x():
    view = crm.parse((FIXTURES / "clean/t0051.1-rem2.xml").read_text())
    assert view.quorate
    assert sorted(view.remotes) == ["rem1", "rem2", "rem3"]  # node1 is a cluster member
    flapping = view.remotes["rem1"]
    # Pacemaker retrying the connection of the fenced rem1: "online", but not up.
    assert (flapping.online, flapping.unclean, flapping.connection_role) == (
        True,
        False,
        "Starting",
    )
    assert not flapping.up
    assert view.remotes["rem2"].up
    assert view.fencing_of("rem1") == [
        crm.FenceEvent(
            "rem1", "reboot", "success", datetime.datetime(2026, 11, 25, 17, 22, 58, tzinfo=UTC)
        )
    ]
    assert view.fencing_of("rem1")[0].powered_off


def test_reads_output_as_xml_root_and_pending_event():
    view = crm.parse((FIXTURES / "slow/t0020.9-rem2.xml").read_text())
    pending = [e for e in view.fencing_of("rem1") if e.status == "pending"]
    assert len(pending) == 1 and pending[0].completed is None and not pending[0].powered_off
    assert view.remotes["rem1"].unclean and not view.remotes["rem1"].online


def test_failed_fence_events_are_not_power_offs():
    view = crm.parse((FIXTURES / "failed/t0053.4-rem2.xml").read_text())
    failed = [e for e in view.fencing_of("rem1") if e.status == "failed"]
    assert len(failed) == 11
    assert not any(e.powered_off for e in failed)


def test_no_quorum_is_visible():
    doc = (
        (FIXTURES / "clean/t0000.0-rem2.xml")
        .read_text()
        .replace('with_quorum="true"', 'with_quorum="false"')
    )
    assert not crm.parse(doc).quorate


def test_unfencing_is_not_a_power_off():
    event = crm.FenceEvent("rem1", "on", "success", datetime.datetime(2026, 1, 1, tzinfo=UTC))
    assert not event.powered_off


def test_connection_missing_falls_back_to_node_attributes():
    doc = (FIXTURES / "clean/t0000.0-rem2.xml").read_text()
    view = crm.parse(doc.replace('id="rem1" resource_agent', 'id="other" resource_agent'))
    assert view.remotes["rem1"].connection_role is None and view.remotes["rem1"].up


@pytest.mark.parametrize(
    "bad, message",
    [
        ("not xml", "not XML"),
        ("<crm_mon version='2.1.5'/>", "no <nodes>"),
    ],
)
def test_bad_documents_raise_a_clear_error(bad, message):
    with pytest.raises(crm.CrmMonError, match=message):
        crm.parse(bad)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2026-11-25 17:22:58Z", datetime.datetime(2026, 11, 25, 17, 22, 58, tzinfo=UTC)),
        ("2026-11-25 17:22:58", datetime.datetime(2026, 11, 25, 17, 22, 58, tzinfo=UTC)),
        (
            "2026-11-25T17:22:58.500000+01:00",
            datetime.datetime(2026, 11, 25, 16, 22, 58, 500000, tzinfo=UTC),
        ),
        ("garbage", None),
        (None, None),
    ],
)
def test_completed_timestamps(text, expected):
    assert crm.parse_completed(text) == expected
