"""Where the lab keeps its state, which ports it uses and what it calls things.

Everything listens on the control address of the lab hosts' bridge (10.213.0.1 by default,
see hosts.py): the hypervisors reach the APIs and RabbitMQ there, and nothing is reachable from
outside this machine. Ports the relation contracts carry (keystone, MariaDB) use a
private range so the lab does not collide with a stock install; RabbitMQ must use 5672 because
the amqp relation has no port key, and masakari's 15858/15868 are what the charm renders.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

from . import hosts

# The lab shares /var/lib/masakari-lab with the Pacemaker part (pcmk/): this part owns
# openstack/ only, and `down` removes nothing outside it.
STATE = Path(os.environ.get("MASAKARI_LAB_STATE", "/var/lib/masakari-lab/openstack"))
ETC = STATE / "etc"  # configs of the lab's own services (never Masakari's)
DATA = STATE / "data"  # databases, queues, images, instance dirs
LOGS = STATE / "logs"
RUN = STATE / "run"  # pid files of every process the lab started
VENV = STATE / "venv"  # Debian's python3 + system packages + ops from PyPI
VAULT = STATE / "vault"  # the vault stand-in's CA and what it issued (tests/lab/vault.py)
CA_FILE = VAULT / "ca.pem"  # what every client of the Masakari API trusts
CREATED = STATE / "created.json"  # system files the lab created or changed, for `down`

REPO = Path(__file__).resolve().parents[2]
CHARM_ROOT = REPO / "charms" / "masakari"

LOOPBACK = "127.0.0.1"  # Erlang distribution only
IP = str(next(ipaddress.ip_network(hosts.DEFAULT_SUBNET).hosts()))  # the bridge address
DB_PORT = 23306
EPMD_PORT = 24369
RABBIT_PORT = 5672
RABBIT_DIST_PORT = 25673
KEYSTONE_PORT = 25000
PLACEMENT_PORT = 28778
NOVA_PORT = 28774
GLANCE_PORT = 29292
NEUTRON_PORT = 29696
MASAKARI_API_PORT = 15858  # apache2 mod_wsgi, rendered by the charm
MASAKARI_PUBLIC_PORT = 15868  # haproxy, rendered by the charm
PROMETHEUS_PORT = 29090  # the lab's Prometheus (prometheus.py)

REGION = "RegionOne"
KEYSTONE_URL = f"http://{IP}:{KEYSTONE_PORT}/v3"
ADMIN_USER = "admin"
# Keystone charm conventions for service accounts.
SERVICE_DOMAIN = "service_domain"
SERVICE_PROJECT = "services"

# Hypervisors as the guide names them. In the guide's reserved_host example virt-node-01.maas
# is the reserved host and virt-node-02.maas, which runs the instance, fails.
COMPUTE_HOSTS = ("virt-node-01.maas", "virt-node-02.maas", "virt-node-10.maas")
RESERVED_HOST = "virt-node-01.maas"
FAILED_HOST = "virt-node-02.maas"

# Nova liveness timings (nova defaults 10 / 60): quick detection of a dead compute.
NOVA_REPORT_INTERVAL = 5
NOVA_SERVICE_DOWN_TIME = 20
NOVA_RPC_TIMEOUT = 60

SYSTEM_PYTHON = "/usr/bin/python3"
