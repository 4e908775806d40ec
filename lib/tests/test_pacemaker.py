"""Reading Pacemaker's node list the way masakari-hostmonitor does, from real crm_mon output.

data/crm_mon-2.1.5*.xml were recorded with Debian 12's pacemaker-cli-utils 2.1.5 from the CIB
next to them: `CIB_file=lib/tests/data/crm_mon-2.1.5.cib.xml crm_mon -X` (and
`--output-as=xml`). One member node and three remotes: virt-node-01.maas online,
virt-node-02.maas offline, and virt-node-03 online under its short name.
data/crm_mon-2.1.5-on-remote.xml is what `crm_mon -X` answered on a hypervisor through its
pacemaker_remoted, with a real one-member cluster connected to it.
"""

import pathlib
import shutil

import pytest

from charm_common import pacemaker
from charm_common.system import HostSystem, RunResult
from charm_common.testing import FakeSystem

DATA = pathlib.Path(__file__).parent / "data"
RECORDED = (DATA / "crm_mon-2.1.5.xml").read_text()


@pytest.mark.parametrize("document", ["crm_mon-2.1.5.xml", "crm_mon-2.1.5-output-as-xml.xml"])
def test_recorded_crm_mon_documents_parse_to_the_same_nodes(document):
    nodes = pacemaker.parse_crm_mon((DATA / document).read_text())
    assert sorted(nodes) == ["juju-c0ffee-0", "virt-node-01.maas", "virt-node-02.maas",
                             "virt-node-03"]  # fmt: skip
    assert nodes["juju-c0ffee-0"] == pacemaker.ClusterNode("juju-c0ffee-0", "member", True, False)
    assert nodes["virt-node-01.maas"].type == "remote" and nodes["virt-node-01.maas"].online
    assert not nodes["virt-node-02.maas"].online
    # The resources section also has <node> elements (where a resource runs): not nodes.
    assert len(nodes) == 4


def test_answer_through_pacemaker_remoted_shows_the_remote_node_online():
    nodes = pacemaker.parse_crm_mon((DATA / "crm_mon-2.1.5-on-remote.xml").read_text())
    assert nodes == {
        "juju-c0ffee-0": pacemaker.ClusterNode("juju-c0ffee-0", "member", True, False),
        "virt-node-01.maas": pacemaker.ClusterNode("virt-node-01.maas", "remote", True, False),
    }


# What Debian 12's crm_mon 2.1.5 answered on a host running pacemaker_remoted in its own
# namespaces, and on a host without Pacemaker.
NO_CLUSTER_YET = RunResult(
    0, '<crm_mon version="2.1.5"/>\n',
    "Could not connect to the CIB: Transport endpoint is not connected\n",
)  # fmt: skip
REMOTED_STOPPED = RunResult(
    102, '<crm_mon version="2.1.5"/>\n',
    "Not connected\nerror: Could not connect to launcher: Connection refused\n"
    "crm_mon: Connection to cluster failed: Connection refused\n",
)  # fmt: skip
NO_PACEMAKER = RunResult(
    105, '<crm_mon version="2.1.5"/>\n',
    "No such object\nerror: Could not connect to launcher: No such file or directory\n"
    "crm_mon: Connection to cluster failed: No such file or directory\n",
)  # fmt: skip


@pytest.mark.parametrize(
    ("result", "message"),
    [
        # rc 0 but an error on stderr: masakari-hostmonitor skips such a cycle too.
        (NO_CLUSTER_YET, "crm_mon failed: Could not connect to the CIB: Transport endpoint"),
        (REMOTED_STOPPED, "crm_mon failed: crm_mon: Connection to cluster failed: Connection "
         "refused"),
        (NO_PACEMAKER, "crm_mon failed: crm_mon: Connection to cluster failed: No such file"),
        (RunResult(124, "", "\ntimed out after 10s"), "crm_mon timed out after 10s"),
        (RunResult(0, "<crm_mon version=", ""), "crm_mon output is not XML"),
        (RunResult(0, '<crm_mon version="2.1.5"/>', ""), "crm_mon output lists no nodes"),
    ],
)  # fmt: skip
def test_no_usable_answer_is_an_error_saying_why(result, message):
    system = FakeSystem()
    system.responders[("crm_mon",)] = lambda argv: result
    with pytest.raises(pacemaker.ClusterStatusError, match=f"^{message}"):
        pacemaker.cluster_nodes(system)


def test_crm_mon_is_always_run_with_a_timeout():
    system = FakeSystem()
    system.responders[("crm_mon", "-X")] = lambda argv: RunResult(0, RECORDED, "")
    assert "virt-node-01.maas" in pacemaker.cluster_nodes(system)
    assert system.commands == [["crm_mon", "-X"]]
    assert system.timeouts == [pacemaker.CRM_MON_TIMEOUT]
    assert pacemaker.CRM_MON_TIMEOUT < 16  # below the hang seen on a cut network


@pytest.mark.skipif(not shutil.which("crm_mon"), reason="pacemaker-cli-utils not installed")
def test_real_crm_mon_on_the_recorded_cib_gives_the_same_nodes(monkeypatch):
    monkeypatch.setenv("CIB_file", str(DATA / "crm_mon-2.1.5.cib.xml"))
    nodes = pacemaker.cluster_nodes(HostSystem())
    assert nodes == pacemaker.parse_crm_mon(RECORDED)
