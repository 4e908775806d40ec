"""The lab's own OpenStack services (everything except Masakari, which the charm deploys).

Each service runs from Debian's packages with a config file the lab writes under ETC; nothing
in /etc is touched for these. Secrets live in STATE/secrets.json and config files, all 0600.
"""

from __future__ import annotations

import json
import os
import secrets as pysecrets
import shutil
import subprocess
from pathlib import Path

from . import hosts, procs, settings, vault
from .procs import LabError

SECRETS_FILE = settings.STATE / "secrets.json"
SERVICE_USERS = ("nova", "placement", "glance", "neutron")
# Every hypervisor's instances_path: one directory, shared as Ceph or NFS would be.
INSTANCES = settings.DATA / "nova" / "instances"
# Real guests (guests.py), or no guest process at all (the benchmark's 50 instances).
COMPUTE_DRIVERS = {"libvirt": "libvirt.LibvirtDriver", "fake": "fake.FakeDriver"}
COMPUTE_DRIVER_FILE = settings.STATE / "compute-driver"


def compute_driver() -> str:
    """The computes' driver, a key of COMPUTE_DRIVERS: libvirt unless the bench chose fake."""
    try:
        return COMPUTE_DRIVER_FILE.read_text().strip()
    except OSError:
        return "libvirt"


RABBITMQ = "/usr/lib/rabbitmq/bin"


def write_private(path: Path, text: str, mode: int = 0o600) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def load_secrets() -> dict[str, str]:
    """One random password per account, made once and kept for the life of the state dir."""
    try:
        data = json.loads(SECRETS_FILE.read_text())
    except (OSError, ValueError):
        data = {}
    names = [
        "admin",
        "rabbit",
        *SERVICE_USERS,
        "keystone_db",
        "placement_db",
        "glance_db",
        "nova_db",
        "masakari_db",
        "masakari_rabbit",
        "masakari_keystone",
        "masakari_monitors_keystone",
    ]
    changed = False
    for name in names:
        if name not in data:
            data[name] = pysecrets.token_hex(16)
            changed = True
    if changed:
        write_private(SECRETS_FILE, json.dumps(data, indent=1))
    return data


def ini(sections: dict[str, dict[str, object]]) -> str:
    out = []
    for section, options in sections.items():
        out.append(f"[{section}]")
        out += [f"{key} = {value}" for key, value in options.items()]
        out.append("")
    return "\n".join(out)


def db_url(database: str, user: str, password: str) -> str:
    return (
        f"mysql+pymysql://{user}:{password}@{settings.IP}:{settings.DB_PORT}/{database}"
        "?charset=utf8"
    )


def transport_url(sec: dict[str, str]) -> str:
    return f"rabbit://openstack:{sec['rabbit']}@{settings.IP}:{settings.RABBIT_PORT}/"


def _authtoken(user: str, sec: dict[str, str]) -> dict[str, object]:
    return {
        "www_authenticate_uri": f"http://{settings.IP}:{settings.KEYSTONE_PORT}",
        "auth_url": f"http://{settings.IP}:{settings.KEYSTONE_PORT}",
        "auth_type": "password",
        "project_domain_name": settings.SERVICE_DOMAIN,
        "user_domain_name": settings.SERVICE_DOMAIN,
        "project_name": settings.SERVICE_PROJECT,
        "username": user,
        "password": sec[user],
        "service_token_roles_required": "true",
        # keystonemiddleware's default in-process token cache is per worker; fine for the lab.
    }


def _service_auth(user: str, sec: dict[str, str]) -> dict[str, object]:
    return {
        "auth_type": "password",
        "auth_url": settings.KEYSTONE_URL,
        "project_domain_name": settings.SERVICE_DOMAIN,
        "user_domain_name": settings.SERVICE_DOMAIN,
        "project_name": settings.SERVICE_PROJECT,
        "username": user,
        "password": sec[user],
        "region_name": settings.REGION,
    }


def render_configs(sec: dict[str, str]) -> None:
    etc, data, logs = settings.ETC, settings.DATA, settings.LOGS
    write_private(
        etc / "mysql" / "my.cnf",
        ini(
            {
                "mysqld": {
                    "user": "mysql",
                    "datadir": data / "mysql",
                    "socket": settings.RUN / "mysqld.sock",
                    "pid-file": settings.RUN / "mysqld.pid",
                    "port": settings.DB_PORT,
                    "bind-address": settings.IP,
                    "skip-name-resolve": "1",
                    "log-error": logs / "mariadb.err",
                    "max_connections": 500,
                    "innodb_buffer_pool_size": "64M",
                    "innodb_log_file_size": "32M",
                    "innodb_flush_log_at_trx_commit": 2,
                    "performance_schema": "OFF",
                    "character-set-server": "utf8mb4",
                },
                "client": {"socket": settings.RUN / "mysqld.sock"},
            }
        ),
        mode=0o644,
    )
    write_private(etc / "rabbitmq" / "enabled_plugins", "[].\n", mode=0o644)
    write_private(
        etc / "rabbitmq" / "rabbitmq.conf",
        "\n".join(
            [
                f"listeners.tcp.default = {settings.IP}:{settings.RABBIT_PORT}",
                "loopback_users = none",
                "vm_memory_high_watermark.absolute = 512MiB",
                "disk_free_limit.absolute = 50MB",
                "",
            ]
        ),
        mode=0o644,
    )
    write_private(
        etc / "keystone" / "keystone.conf",
        ini(
            {
                "DEFAULT": {"log_file": logs / "keystone.log"},
                "database": {"connection": db_url("keystone", "keystone", sec["keystone_db"])},
                "token": {"provider": "fernet"},
                "fernet_tokens": {"key_repository": data / "keystone" / "fernet-keys"},
                "credential": {"key_repository": data / "keystone" / "credential-keys"},
                # Without a cache keystone runs ~200 SQL queries per token validation.
                "cache": {"enabled": "true", "backend": "dogpile.cache.memory"},
            }
        ),
    )
    write_private(
        etc / "placement" / "placement.conf",
        ini(
            {
                "DEFAULT": {"log_file": logs / "placement.log"},
                "placement_database": {
                    "connection": db_url("placement", "placement", sec["placement_db"])
                },
                "api": {"auth_strategy": "keystone"},
                "keystone_authtoken": _authtoken("placement", sec),
            }
        ),
    )
    write_private(
        etc / "glance" / "glance-api.conf",
        ini(
            {
                "DEFAULT": {
                    "bind_host": settings.IP,
                    "bind_port": settings.GLANCE_PORT,
                    "workers": 1,
                    "log_file": logs / "glance-api.log",
                    "enabled_backends": "fs:file",
                },
                "glance_store": {"default_backend": "fs"},
                "fs": {"filesystem_store_datadir": data / "glance" / "images"},
                "os_glance_staging_store": {
                    "filesystem_store_datadir": data / "glance" / "staging"
                },
                "os_glance_tasks_store": {"filesystem_store_datadir": data / "glance" / "tasks"},
                "database": {"connection": db_url("glance", "glance", sec["glance_db"])},
                "paste_deploy": {
                    "flavor": "keystone",
                    "config_file": "/etc/glance/glance-api-paste.ini",
                },
                "keystone_authtoken": _authtoken("glance", sec),
                "oslo_policy": {"enforce_new_defaults": "false", "enforce_scope": "false"},
            }
        ),
    )
    nova_common: dict[str, dict[str, object]] = {
        "DEFAULT": {
            "transport_url": transport_url(sec),
            "my_ip": settings.IP,
            "state_path": data / "nova",
            "log_dir": logs,
            "report_interval": settings.NOVA_REPORT_INTERVAL,
            "service_down_time": settings.NOVA_SERVICE_DOWN_TIME,
            # Bounds how long disabling a dead (not yet down) compute blocks in nova-api.
            "rpc_response_timeout": settings.NOVA_RPC_TIMEOUT,
            "heal_instance_info_cache_interval": -1,
        },
        "keystone_authtoken": _authtoken("nova", sec),
        "service_user": {"send_service_user_token": "true", **_service_auth("nova", sec)},
        "placement": _service_auth("placement", sec),
        "glance": {"api_servers": f"http://{settings.IP}:{settings.GLANCE_PORT}"},
        "neutron": {
            "endpoint_override": f"http://{settings.IP}:{settings.NEUTRON_PORT}",
            **_service_auth("neutron", sec),
        },
        "cinder": {"os_region_name": settings.REGION},
        "oslo_concurrency": {"lock_path": data / "nova" / "lock"},
        "vnc": {"enabled": "false"},
        "oslo_messaging_notifications": {"driver": "noop"},
        "oslo_policy": {"enforce_new_defaults": "false", "enforce_scope": "false"},
    }
    nova = json.loads(json.dumps(nova_common, default=str))
    nova["DEFAULT"].update(
        {
            "enabled_apis": "osapi_compute",
            "osapi_compute_listen": settings.IP,
            "osapi_compute_listen_port": settings.NOVA_PORT,
            "osapi_compute_workers": 1,
        }
    )
    nova["api"] = {"auth_strategy": "keystone"}
    nova["api_database"] = {"connection": db_url("nova_api", "nova", sec["nova_db"])}
    nova["database"] = {"connection": db_url("nova", "nova", sec["nova_db"])}
    nova["conductor"] = {"workers": 1}
    nova["scheduler"] = {"workers": 1, "discover_hosts_in_cells_interval": 5}
    nova["filter_scheduler"] = {
        "enabled_filters": "ComputeFilter,ComputeCapabilitiesFilter,ImagePropertiesFilter"
    }
    write_private(etc / "nova" / "nova.conf", ini(nova))
    for host in settings.COMPUTE_HOSTS:
        # Computes get no database URLs: they talk to the conductor only.
        compute = json.loads(json.dumps(nova_common, default=str))
        compute["DEFAULT"].update(
            {
                "host": host,
                "my_ip": hosts.plan(settings.COMPUTE_HOSTS, hosts.DEFAULT_SUBNET).host(host).ip,
                "state_path": data / "nova" / host,
                "instances_path": INSTANCES,
                "log_file": logs / f"nova-compute-{host}.log",
                "compute_driver": COMPUTE_DRIVERS[compute_driver()],
            }
        )
        # Software emulation (guests.py); the host's /etc/machine-id is not the hypervisor's.
        # Raw disks, as on Ceph RBD: a guest's write is in the file at once, for every reader
        # (a qcow2 overlay keeps its cluster map in qemu's memory until the guest flushes).
        compute["libvirt"] = {
            "virt_type": "qemu",
            "cpu_mode": "none",
            "sysinfo_serial": "none",
            "images_type": "raw",
        }
        # Every hypervisor shares INSTANCES and its _base: none may delete a base another uses.
        compute["image_cache"] = {"remove_unused_base_images": "false"}
        compute["DEFAULT"].pop("log_dir")
        compute["oslo_concurrency"] = {"lock_path": data / "nova" / host / "lock"}
        write_private(etc / "nova" / f"nova-compute-{host}.conf", ini(compute))


# ---------------------------------------------------------------- MariaDB
def sql(statements: str) -> str:
    result = procs.run(
        [
            "mariadb",
            f"--defaults-file={settings.ETC / 'mysql' / 'my.cnf'}",
            "-uroot",
            "--batch",
            "--skip-column-names",
        ],
        log="sql",
        input_text=statements,
        timeout=60,
    )
    return str(result.returncode)


def sql_query(statement: str) -> str:
    result = subprocess.run(
        [
            "mariadb",
            f"--defaults-file={settings.ETC / 'mysql' / 'my.cnf'}",
            "-uroot",
            "--batch",
            "--skip-column-names",
            "-e",
            statement,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode:
        raise LabError(f"MariaDB query failed: {result.stderr.strip()}")
    return result.stdout


def start_mariadb() -> None:
    datadir = settings.DATA / "mysql"
    settings.RUN.mkdir(parents=True, exist_ok=True)
    shutil.chown(settings.RUN, "mysql", "mysql")
    if not (datadir / "mysql").is_dir():
        datadir.mkdir(parents=True, exist_ok=True)
        shutil.chown(datadir, "mysql", "mysql")
        procs.run(
            [
                "mariadb-install-db",
                f"--defaults-file={settings.ETC / 'mysql' / 'my.cnf'}",
                "--user=mysql",
                "--auth-root-authentication-method=socket",
                "--skip-test-db",
            ],
            log="mariadb-install-db",
            timeout=300,
        )
    if not procs.running("mariadb"):
        procs.spawn(
            "mariadb",
            ["/usr/sbin/mariadbd", f"--defaults-file={settings.ETC / 'mysql' / 'my.cnf'}"],
        )
    procs.wait_port("mariadb", settings.DB_PORT, timeout=90)


def ensure_database(database: str, user: str, password: str, host: str = settings.IP) -> None:
    """What the mysql charm does for a shared-db request; idempotent, keeps the password."""
    quoted = password.replace("'", "''")
    sql(
        f"CREATE DATABASE IF NOT EXISTS `{database}`;\n"
        f"CREATE USER IF NOT EXISTS '{user}'@'{host}' IDENTIFIED BY '{quoted}';\n"
        f"ALTER USER '{user}'@'{host}' IDENTIFIED BY '{quoted}';\n"
        f"GRANT ALL PRIVILEGES ON `{database}`.* TO '{user}'@'{host}';\n"
    )


# ---------------------------------------------------------------- RabbitMQ
def rabbit_env() -> dict[str, str]:
    base = settings.DATA / "rabbitmq"
    return dict(
        os.environ,
        HOME=str(base),  # the Erlang cookie lives here
        RABBITMQ_NODENAME="masakarilab@localhost",
        RABBITMQ_NODE_IP_ADDRESS=settings.IP,
        RABBITMQ_NODE_PORT=str(settings.RABBIT_PORT),
        RABBITMQ_DIST_PORT=str(settings.RABBIT_DIST_PORT),
        ERL_EPMD_PORT=str(settings.EPMD_PORT),
        # Erlang distribution (epmd, rabbitmqctl's link to the node) stays on loopback.
        ERL_EPMD_ADDRESS=settings.LOOPBACK,
        RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}",
        RABBITMQ_MNESIA_BASE=str(base / "mnesia"),
        RABBITMQ_LOG_BASE=str(settings.LOGS / "rabbitmq"),
        RABBITMQ_ENABLED_PLUGINS_FILE=str(settings.ETC / "rabbitmq" / "enabled_plugins"),
        RABBITMQ_CONFIG_FILE=str(settings.ETC / "rabbitmq" / "rabbitmq"),
        # Rabbit rewrites and deletes its own pid file: keep it apart from the lab's records.
        RABBITMQ_PID_FILE=str(settings.RUN / "rabbitmq-beam.pid"),
        RABBITMQ_HOME="/usr/lib/rabbitmq",
    )


def rabbitmqctl(*args: str, input_text: str | None = None, check: bool = True):
    return procs.run(
        [f"{RABBITMQ}/rabbitmqctl", "-q", *args],
        log="rabbitmqctl",
        env=rabbit_env(),
        input_text=input_text,
        timeout=120,
        check=check,
    )


def start_rabbitmq() -> None:
    (settings.DATA / "rabbitmq").mkdir(parents=True, exist_ok=True)
    (settings.LOGS / "rabbitmq").mkdir(parents=True, exist_ok=True)
    env = rabbit_env()
    if not procs.running("epmd"):
        # Our own epmd on a private port, so the lab owns its PID and never shares another's.
        procs.spawn(
            "epmd",
            ["/usr/bin/epmd", "-port", str(settings.EPMD_PORT), "-address", settings.LOOPBACK],
            env=env,
        )
        procs.wait_port("epmd", settings.EPMD_PORT, timeout=30, host=settings.LOOPBACK)
    if not procs.running("rabbitmq"):
        procs.spawn("rabbitmq", [f"{RABBITMQ}/rabbitmq-server"], env=env)
    procs.wait_port("rabbitmq", settings.RABBIT_PORT, timeout=120)


def rabbit_users() -> set[str]:
    result = subprocess.run(
        [f"{RABBITMQ}/rabbitmqctl", "-q", "list_users"],
        env=rabbit_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode:
        raise LabError(f"rabbitmqctl list_users failed: {result.stderr.strip()}")
    return {line.split("\t")[0] for line in result.stdout.splitlines() if line.strip()}


def ensure_rabbit_user(user: str, password: str, vhost: str = "/") -> None:
    """What the rabbitmq-server charm does for an amqp request; idempotent."""
    if vhost != "/":
        rabbitmqctl("add_vhost", vhost, check=False)
    # Passwords go on stdin, never on a command line or into a log.
    if user not in rabbit_users():
        rabbitmqctl("add_user", user, input_text=password + "\n")
    else:
        rabbitmqctl("change_password", user, input_text=password + "\n")
    rabbitmqctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*")


# ---------------------------------------------------------------- Keystone & co
def uwsgi_argv(port: int, wsgi_file: str, env: str) -> list[str]:
    # "Connection: close": uwsgi's http-socket drops kept-alive connections otherwise.
    return [
        "uwsgi",
        "--plugins",
        "python3",
        "--http-socket",
        f"{settings.IP}:{port}",
        "--wsgi-file",
        wsgi_file,
        "--master",
        "--processes",
        "1",
        "--threads",
        "8",
        "--die-on-term",
        "--add-header",
        "Connection: close",
        "--env",
        env,
    ]


def keystone_manage(*args: str, env: dict[str, str] | None = None) -> None:
    procs.run(
        [
            "keystone-manage",
            "--config-file",
            str(settings.ETC / "keystone" / "keystone.conf"),
            *args,
        ],
        log="keystone-manage",
        env=env,
        timeout=300,
    )


def init_keystone(sec: dict[str, str]) -> None:
    keys = settings.DATA / "keystone"
    keys.mkdir(parents=True, exist_ok=True)
    keystone_manage("db_sync")
    keystone_manage("fernet_setup", "--keystone-user", "root", "--keystone-group", "root")
    keystone_manage("credential_setup", "--keystone-user", "root", "--keystone-group", "root")
    env = dict(os.environ, OS_BOOTSTRAP_PASSWORD=sec["admin"])
    keystone_manage(
        "bootstrap",
        "--bootstrap-admin-url",
        settings.KEYSTONE_URL,
        "--bootstrap-internal-url",
        settings.KEYSTONE_URL,
        "--bootstrap-public-url",
        settings.KEYSTONE_URL,
        "--bootstrap-region-id",
        settings.REGION,
        env=env,
    )


def start_keystone() -> None:
    if not procs.running("keystone"):
        procs.spawn(
            "keystone",
            uwsgi_argv(
                settings.KEYSTONE_PORT,
                "/usr/bin/keystone-wsgi-public",
                f"OS_KEYSTONE_CONFIG_FILES={settings.ETC / 'keystone' / 'keystone.conf'}",
            ),
        )
    procs.wait_port("keystone", settings.KEYSTONE_PORT, timeout=60)


def admin_env(sec: dict[str, str]) -> dict[str, str]:
    """Environment for `openstack` as the cloud admin."""
    return {
        "OS_AUTH_URL": settings.KEYSTONE_URL,
        "OS_USERNAME": settings.ADMIN_USER,
        "OS_PASSWORD": sec["admin"],
        "OS_PROJECT_NAME": "admin",
        "OS_USER_DOMAIN_NAME": "Default",
        "OS_PROJECT_DOMAIN_NAME": "Default",
        "OS_IDENTITY_API_VERSION": "3",
        "OS_REGION_NAME": settings.REGION,
        "OS_INTERFACE": "public",
        "OS_CACERT": str(vault.lab_ca()),  # the Masakari API's certificate is vault's
    }


def write_openrc(sec: dict[str, str]) -> Path:
    path = settings.STATE / "admin-openrc"
    write_private(path, "".join(f"export {k}={v}\n" for k, v in admin_env(sec).items()))
    return path
