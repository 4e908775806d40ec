"""What keystone (identity-credentials) and vault (certificates) send, as they send it."""

from __future__ import annotations

from ops import testing

CREDENTIALS_PASSWORD = "monitors-secret-5b1e"


def identity_credentials(**overrides: str) -> testing.Relation:
    # charm-keystone's add_credentials_to_keystone, for username=masakari-monitors.
    data = {
        "auth_host": "10.5.0.30", "auth_port": "35357", "auth_protocol": "http",
        "credentials_host": "10.5.0.31", "credentials_port": "5000",
        "credentials_protocol": "http", "credentials_username": "masakari-monitors",
        "credentials_password": CREDENTIALS_PASSWORD, "credentials_project": "services",
        "credentials_project_id": "4f0c", "api_version": "3", "region": "RegionOne",
        "domain": "service_domain", "credentials_user_domain_name": "service_domain",
        "credentials_user_domain_id": "9a1d", "credentials_project_domain_name": "service_domain",
        "credentials_project_domain_id": "9a1d",
    }  # fmt: skip
    return testing.Relation(
        "identity-credentials", remote_app_name="keystone",
        remote_units_data={0: {**data, **overrides}},
    )  # fmt: skip


def nova_compute() -> testing.SubordinateRelation:
    return testing.SubordinateRelation("container", remote_app_name="nova-compute")


def vault(ca: str, chain: str = "") -> testing.Relation:
    data = {"ca": ca, **({"chain": chain} if chain else {})}
    return testing.Relation("certificates", remote_app_name="vault", remote_units_data={0: data})
