"""zaza configure steps (tests.yaml `configure:`), run in order after the model settles.

Each is idempotent, so `functest-configure` can be re-run on a kept model.
"""

from __future__ import annotations

import logging
import os
import tempfile
import urllib.request

import hvac
import zaza.model

from . import scenarios
from .juju_cloud import FunctionalConfigError, JujuCloud, test_options

# Vault's unseal key and root token stay on the machine running the tests, owner-only.
VAULT_SECRETS = os.path.expanduser("~/.masakari-functional-vault")
DEFAULT_IMAGE_URL = "https://download.cirros-cloud.net/0.6.2/cirros-0.6.2-x86_64-disk.img"
# Once vault issued certificates every application is active; zaza's default message check
# ("Unit is ready"...) fits all but pacemaker-remote, which names its cluster node.
READY = {
    "pacemaker-remote": {
        "workload-status": "active",
        "workload-status-message-regex": r"^Remote node \S+ online in cluster$",
    },
}


def unseal_vault(application: str = "vault") -> None:
    """Initialise and unseal vault, authorise its charm and let it generate a root CA, so the
    API charms get their certificates (what zaza-openstack-tests' auto_initialize does)."""
    addresses = zaza.model.get_app_ips(application)
    clients = [hvac.Client(url=f"http://{address}:8200") for address in addresses]
    if not clients[0].is_initialized():
        result = clients[0].initialize(secret_shares=1, secret_threshold=1)
        fd = os.open(VAULT_SECRETS, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"{result['keys'][0]}\n{result['root_token']}\n")
    try:
        with open(VAULT_SECRETS) as f:
            key, root_token = f.read().split()
    except (OSError, ValueError) as error:
        raise FunctionalConfigError(
            f"vault is initialised but {VAULT_SECRETS} (its unseal key and root token from the "
            "first run) is missing or unreadable; redeploy vault or restore that file"
        ) from error
    for client in clients:
        if client.is_sealed():
            client.unseal(key)
    clients[0].token = root_token
    token = clients[0].create_token(ttl="10m")["auth"]["client_token"]
    zaza.model.run_action_on_leader(
        application, "authorize-charm", action_params={"token": token}, raise_on_failure=True
    )
    action = zaza.model.run_action_on_leader(
        application, "generate-root-ca", action_params={}, raise_on_failure=False
    )
    if action.data.get("status") != "completed":
        logging.info("vault generate-root-ca: %s (a CA may exist already)", action.data)
    zaza.model.wait_for_application_states(states=READY, timeout=3600)


def create_image() -> None:
    """The guest image (`TEST_IMAGE_URL`, default CirrOS), uploaded once."""
    cloud = JujuCloud()
    conn = cloud.api.conn
    name = cloud.options["image-name"]
    if conn.image.find_image(name, ignore_missing=True):
        return
    url = os.environ.get("TEST_IMAGE_URL", DEFAULT_IMAGE_URL)
    if not url.startswith(("https://", "http://", "file://")):
        raise FunctionalConfigError(f"TEST_IMAGE_URL must be an http(s) or file URL, got {url}")
    with tempfile.NamedTemporaryFile(suffix=".img") as image:
        with urllib.request.urlopen(url) as response:  # noqa: S310 - scheme checked above
            while chunk := response.read(1 << 20):
                image.write(chunk)
        image.flush()
        conn.create_image(
            name, filename=image.name, disk_format="qcow2", container_format="bare", wait=True
        )


def create_flavor() -> None:
    cloud = JujuCloud()
    conn = cloud.api.conn
    name = cloud.options["flavor-name"]
    if not conn.compute.find_flavor(name, ignore_missing=True):
        conn.compute.create_flavor(name=name, ram=512, vcpus=1, disk=0)


def create_segments() -> None:
    """The guide's segment from tests_options (segment-name, recovery-method, reserved-host),
    with every nova-compute host; the reserved host's nova-compute is disabled."""
    cloud = JujuCloud()
    hosts = cloud.compute_hosts()
    if len(hosts) < 3:
        raise FunctionalConfigError(
            f"the failover scenarios need 3 compute hosts (one reserved), found {len(hosts)}"
        )
    options = test_options()
    reserved = options["reserved-host"] or hosts[-1]
    scenarios.ensure_segment(
        cloud, options["segment-name"], options["recovery-method"], hosts, reserved
    )


def launch_protected_instance() -> None:
    """A boot-from-volume instance with HA_Enabled=True on the first non-reserved host."""
    cloud = JujuCloud()
    options = cloud.options
    hosts = cloud.compute_hosts()
    reserved = options["reserved-host"] or hosts[-1]
    cloud.ensure_instance(options["instance-name"], next(h for h in hosts if h != reserved))
