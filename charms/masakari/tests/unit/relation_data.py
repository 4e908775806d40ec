"""What keystone, mysql-router, rabbitmq-server and hacluster send, as they send it."""

from __future__ import annotations

from ops import testing

DB_PASSWORD = "db-secret-8f3a"
RABBIT_PASSWORD = "rabbit-secret-1c9d"
SERVICE_PASSWORD = "keystone-secret-77e2"


def shared_db(allowed_units: str = "masakari/0", **overrides: str) -> testing.Relation:
    data = {"db_host": "10.5.0.10", "password": DB_PASSWORD, "allowed_units": allowed_units}
    return testing.Relation(
        "shared-db", remote_app_name="masakari-mysql-router",
        remote_units_data={0: {**data, **overrides}},
    )  # fmt: skip


def rabbitmq(**overrides: str) -> testing.Relation:
    return testing.Relation(
        "amqp", remote_app_name="rabbitmq-server",
        remote_units_data={
            0: {"hostname": "10.5.0.20", "password": RABBIT_PASSWORD, **overrides},
            1: {"hostname": "10.5.0.21"},
        },
    )  # fmt: skip


def identity_service(**overrides: str) -> testing.Relation:
    data = {
        "service_host": "10.5.0.30", "service_port": "5000", "service_protocol": "http",
        "auth_host": "10.5.0.30", "auth_port": "35357", "auth_protocol": "http",
        "service_username": "masakari", "service_password": SERVICE_PASSWORD,
        "service_tenant": "services", "service_domain": "service_domain",
        "api_version": "3",
    }  # fmt: skip
    return testing.Relation(
        "identity-service", remote_app_name="keystone",
        remote_units_data={0: {**data, **overrides}},
    )  # fmt: skip


def hacluster(clustered: bool = True) -> testing.SubordinateRelation:
    return testing.SubordinateRelation(
        "ha", remote_app_name="hacluster",
        remote_unit_data={"clustered": "yes"} if clustered else {},
    )  # fmt: skip


def cluster(peers: dict[int, dict[str, str]] | None = None, **app: str) -> testing.PeerRelation:
    return testing.PeerRelation("cluster", peers_data=peers or {}, local_app_data=app)
