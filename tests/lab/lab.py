"""Bring the lab up, report its status, take it down."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from . import hosts, install, procs, settings
from .procs import LabError

# masakari-monitors' instance monitor, by its daemon name in each hypervisor.
INSTANCE_MONITOR = "masakari-instance-monitor"

# Stop order: consumers first, storage last.
STOP_ORDER = [
    "masakari-engine",
    "apache2",
    "haproxy",
    *(f"nova-compute-{h}" for h in settings.COMPUTE_HOSTS),
    "nova-scheduler",
    "nova-conductor",
    "nova-api",
    "neutron-stub",
    "glance-api",
    "placement",
    "keystone",
    "rabbitmq",
    "epmd",
    "mariadb",
]
LAB_DATABASES = {
    "keystone": "keystone",
    "placement": "placement",
    "glance": "glance",
    "nova_api": "nova",
    "nova": "nova",
    "nova_cell0": "nova",
}


class Timer:
    """Prints and keeps the duration of each phase."""

    def __init__(self) -> None:
        self.phases: dict[str, float] = {}
        self.started = time.monotonic()

    def phase(self, name: str, func: Callable[[], object]) -> object:
        print(f"[{time.strftime('%H:%M:%S')}] {name} ...", flush=True)
        t0 = time.monotonic()
        result = func()
        self.phases[name] = time.monotonic() - t0
        print(f"[{time.strftime('%H:%M:%S')}] {name}: {self.phases[name]:.1f} s", flush=True)
        return result

    def total(self) -> float:
        return time.monotonic() - self.started


def _marker(name: str) -> Path:
    return settings.STATE / f".done-{name}"


def once(name: str, func: Callable[[], object]) -> None:
    """Run a one-time initialisation step unless it completed before."""
    if _marker(name).exists():
        return
    func()
    _marker(name).write_text("done\n")


def check_ports_free() -> None:
    """Fail early, naming the port, if something not started by the lab holds one of ours."""
    ours = {p.name for p in procs.recorded() if p.alive}
    wanted = {
        "mariadb": settings.DB_PORT,
        "rabbitmq": settings.RABBIT_PORT,
        "epmd": settings.EPMD_PORT,
        "keystone": settings.KEYSTONE_PORT,
        "placement": settings.PLACEMENT_PORT,
        "nova-api": settings.NOVA_PORT,
        "glance-api": settings.GLANCE_PORT,
        "neutron-stub": settings.NEUTRON_PORT,
        "apache2": settings.MASAKARI_API_PORT,
        "haproxy": settings.MASAKARI_PUBLIC_PORT,
        "prometheus": settings.PROMETHEUS_PORT,
    }
    for name, port in wanted.items():
        host = settings.LOOPBACK if name == "epmd" else settings.IP
        if name not in ours and procs.port_open(port, host):
            raise LabError(
                f"port {port} (for {name}) is already in use by a process the lab "
                f"did not start; free it (see `ss -ltnp 'sport = :{port}'`) and retry"
            )


def up(with_masakari: bool = True) -> Timer:
    from . import (
        distro_fixes,
        hypervisors,
        rest_client,  # needs Debian's python3-keystoneauth1
        services,
    )

    timer = Timer()
    settings.STATE.mkdir(parents=True, exist_ok=True)
    os.chmod(settings.STATE, 0o755)  # noqa: S103 - mysql and masakari must traverse it
    for d in (settings.ETC, settings.DATA, settings.LOGS, settings.RUN):
        d.mkdir(parents=True, exist_ok=True)
    if not hosts.is_up():
        timer.phase("lab hosts", hosts.up)
    check_ports_free()
    for line in timer.phase("distro fixes", distro_fixes.apply) or []:
        print(f"  {line}")
    sec = services.load_secrets()
    services.render_configs(sec)
    services.write_openrc(sec)

    def mariadb() -> None:
        services.start_mariadb()
        for database, user in LAB_DATABASES.items():
            services.ensure_database(database, user, sec[f"{user}_db"])

    timer.phase("mariadb", mariadb)

    def rabbit() -> None:
        services.start_rabbitmq()
        services.ensure_rabbit_user("openstack", sec["rabbit"])

    timer.phase("rabbitmq", rabbit)

    def keystone() -> rest_client.RestClient:
        once("keystone-init", lambda: services.init_keystone(sec))
        services.start_keystone()
        admin = rest_client.RestClient(sec["admin"])
        procs.wait_for(
            "a keystone token", lambda: admin.session.get_token(), timeout=60, procs=["keystone"]
        )
        ensure_lab_catalog(admin, sec)
        admin.session.invalidate()  # the next token carries the new catalog
        return admin

    admin = timer.phase("keystone", keystone)
    timer.phase("db syncs", lambda: once("db-sync", db_syncs))
    timer.phase("apis", start_apis)
    timer.phase("computes", lambda: start_computes(admin))
    timer.phase("flavor and image", lambda: ensure_flavor_image(admin))
    if with_masakari:
        from . import deploy

        if deploy.charm_available():
            timer.phase("masakari (charm)", lambda: deploy.deploy(admin, sec))
        else:
            print(f"  masakari charm not found at {settings.CHARM_ROOT}; skipped")
        timer.phase("pacemaker + pacemaker-remote (charm)", start_cluster)
        timer.phase(
            "masakari-monitors (charm)",
            lambda: hypervisors.deploy_monitors(hosts.load(), admin, sec),
        )
        # The charms' cos-agent data, played into Prometheus by deploy and deploy_monitors.
        from . import prometheus

        timer.phase("prometheus scrapes both exporters", prometheus.wait_scraped)
    timer.phases["total"] = timer.total()
    (settings.LOGS / "up-timings.json").write_text(json.dumps(timer.phases, indent=1))
    print(
        f"lab is up in {timer.phases['total']:.1f} s; admin credentials: "
        f"source {settings.STATE / 'admin-openrc'}"
    )
    return timer


def start_cluster() -> None:
    """hacluster's cluster on the control side, the hypervisors as its remote nodes (their
    pacemaker-remote charm), the MAAS emulator as their power control."""
    from . import hypervisors, pacemaker

    lab = hosts.load()
    if not pacemaker.control_pids():
        pacemaker.up(deploy_remotes=lambda: hypervisors.deploy_pacemaker_remote(lab))
    pacemaker.restore_hosts()  # hosts an earlier run left failed or fenced
    hypervisors.settle_pacemaker_remote(lab)


def ensure_lab_catalog(admin, sec: dict[str, str]) -> None:
    """Domain/project/users of the lab's own services, their services and endpoints."""
    domain = admin.ensure(
        "domains", {"name": settings.SERVICE_DOMAIN, "description": "service accounts"}
    )
    project = admin.ensure(
        "projects",
        {"name": settings.SERVICE_PROJECT, "domain_id": domain["id"]},
        domain_id=domain["id"],
    )
    for user in ("nova", "placement", "glance", "neutron"):
        admin.ensure_user(user, sec[user], domain["id"], project["id"])
    ip = settings.IP
    for name, kind, url in (
        ("nova", "compute", f"http://{ip}:{settings.NOVA_PORT}/v2.1"),
        ("placement", "placement", f"http://{ip}:{settings.PLACEMENT_PORT}"),
        ("glance", "image", f"http://{ip}:{settings.GLANCE_PORT}"),
        ("neutron", "network", f"http://{ip}:{settings.NEUTRON_PORT}"),
    ):
        admin.ensure_service(name, kind, url)


def db_syncs() -> None:
    etc = settings.ETC
    nova = ["nova-manage", "--config-file", str(etc / "nova" / "nova.conf")]
    from . import services

    sec = services.load_secrets()
    cell0 = services.db_url("nova_cell0", "nova", sec["nova_db"])
    jobs = {
        "placement": [
            [
                "placement-manage",
                "--config-file",
                str(etc / "placement" / "placement.conf"),
                "db",
                "sync",
            ]
        ],
        "glance": [
            ["glance-manage", "--config-file", str(etc / "glance" / "glance-api.conf"), "db_sync"]
        ],
        "nova": [
            [*nova, "api_db", "sync"],
            [*nova, "cell_v2", "map_cell0", "--database_connection", cell0],
            [*nova, "cell_v2", "create_cell", "--name", "cell1"],
            [*nova, "db", "sync"],
        ],
    }
    # The three run in parallel; each one's commands in sequence.
    running = {}
    for name, commands in jobs.items():
        script = " && ".join(subprocess.list2cmdline(c) for c in commands)
        log = open(settings.LOGS / f"db-sync-{name}.log", "ab")  # noqa: SIM115
        running[name] = (
            subprocess.Popen(
                ["sh", "-c", script],
                stdout=log,  # noqa: S607
                stderr=subprocess.STDOUT,
            ),
            log,
        )
    failed = []
    for name, (popen, log) in running.items():
        if popen.wait(timeout=900) != 0:
            failed.append(name)
        log.close()
    if failed:
        raise LabError(
            "db sync failed for "
            + ", ".join(failed)
            + "".join(
                f"\nlast lines of {settings.LOGS}/db-sync-{n}.log:\n"
                + procs.log_tail(settings.LOGS / f"db-sync-{n}.log")
                for n in failed
            )
        )


def start_apis() -> None:
    from . import services

    etc = settings.ETC
    for d in ("images", "staging", "tasks"):
        (settings.DATA / "glance" / d).mkdir(parents=True, exist_ok=True)
    (settings.DATA / "nova" / "lock").mkdir(parents=True, exist_ok=True)
    nova_conf = ["--config-file", str(etc / "nova" / "nova.conf")]
    daemons = {
        "placement": services.uwsgi_argv(
            settings.PLACEMENT_PORT,
            "/usr/bin/placement-api",
            f"OS_PLACEMENT_CONFIG_DIR={etc / 'placement'}",
        ),
        "glance-api": ["glance-api", "--config-file", str(etc / "glance" / "glance-api.conf")],
        "neutron-stub": [
            settings.SYSTEM_PYTHON,
            str(Path(__file__).with_name("neutron_stub.py")),
            settings.IP,
            str(settings.NEUTRON_PORT),
        ],
        "nova-api": ["nova-api", *nova_conf],
        "nova-conductor": ["nova-conductor", *nova_conf],
        "nova-scheduler": ["nova-scheduler", *nova_conf],
    }
    for name, argv in daemons.items():
        if not procs.running(name):
            procs.spawn(name, argv, log=settings.LOGS / f"{name}.out")
    for name, port in (
        ("placement", settings.PLACEMENT_PORT),
        ("glance-api", settings.GLANCE_PORT),
        ("neutron-stub", settings.NEUTRON_PORT),
        ("nova-api", settings.NOVA_PORT),
    ):
        procs.wait_port(name, port, timeout=120)


def compute_argv(host: str) -> list[str]:
    """nova-compute inside the lab host (its network, mount and UTS namespaces): it reaches
    RabbitMQ and the APIs over the bridge, and dies with the host when it is powered off.
    nsenter does not fork, so the recorded pid is nova-compute's own."""
    etc = settings.ETC / "nova"
    return hosts.command(
        hosts.load().host(host),
        ["nova-compute", "--config-file", str(etc / f"nova-compute-{host}.conf")],
    )


def start_compute(host: str) -> None:
    """The hypervisor's libvirt (guests.py) and instance monitor, then its nova-compute."""
    from . import guests, services

    (settings.DATA / "nova" / host / "lock").mkdir(parents=True, exist_ok=True)
    services.INSTANCES.mkdir(parents=True, exist_ok=True)
    lab_host = hosts.load().host(host)
    guests.start_libvirt(lab_host)
    # masakari-instancemonitor exits once libvirt is gone and systemd starts it again
    # (Restart=); the lab has no systemd, so it does that here, once the charm has deployed it.
    spec_file = lab_host.dir / "daemons" / f"{INSTANCE_MONITOR}.json"
    if spec_file.exists() and hosts.daemon_pid(lab_host, INSTANCE_MONITOR) is None:
        spec = json.loads(spec_file.read_text())
        hosts.start_daemon(lab_host, INSTANCE_MONITOR, spec["argv"], env=spec["env"])
    if not procs.running(f"nova-compute-{host}"):
        procs.spawn(
            f"nova-compute-{host}",
            compute_argv(host),
            log=settings.LOGS / f"nova-compute-{host}.out",
        )


def start_computes(admin) -> None:
    for host in settings.COMPUTE_HOSTS:
        start_compute(host)
    names = [f"nova-compute-{h}" for h in settings.COMPUTE_HOSTS] + ["nova-conductor"]
    hosts = set(settings.COMPUTE_HOSTS)
    procs.wait_for(
        "all nova-compute services to register",
        lambda: hosts <= {s["host"] for s in admin.compute_services()},
        timeout=180,
        procs=names,
    )
    # A host forced down or disabled by an earlier run stays so in the database.
    enable_computes(admin)
    procs.wait_for(
        "all nova-compute services up",
        lambda: all(s["state"] == "up" for s in admin.compute_services() if s["host"] in hosts),
        timeout=120,
        procs=names,
    )

    def mapped() -> bool:
        if hosts <= {h["hypervisor_hostname"] for h in admin.hypervisors()}:
            return True
        # The scheduler's periodic discovery does not always pick new hosts up; do it here.
        procs.run(
            [
                "nova-manage",
                "--config-file",
                str(settings.ETC / "nova" / "nova.conf"),
                "cell_v2",
                "discover_hosts",
            ],
            log="nova-manage",
            timeout=120,
        )
        return False

    procs.wait_for(
        "all hypervisors mapped to cell1",
        mapped,
        timeout=120,
        interval=2,
        procs=["nova-scheduler"],
    )


def use_compute_driver(admin, driver: str) -> None:
    """Every nova-compute with `driver` (services.COMPUTE_DRIVERS), restarted if it changes;
    the lab has no servers meanwhile (reset first)."""
    from . import services

    if services.compute_driver() == driver:
        return
    services.COMPUTE_DRIVER_FILE.write_text(driver + "\n")
    services.render_configs(services.load_secrets())
    for host in settings.COMPUTE_HOSTS:
        procs.stop(f"nova-compute-{host}")
    start_computes(admin)


def reporting(service: dict) -> bool:
    """Up, and heartbeating since the lab last started it. A restarted nova-compute still
    counts as up on its old heartbeat, and until its own first report it is in init_host,
    which errors out any build scheduled to it meanwhile."""
    import datetime

    if service["state"] != "up" or not service["updated_at"]:
        return False
    proc = procs.get(f"nova-compute-{service['host']}")
    if proc is None:
        return True
    updated = datetime.datetime.fromisoformat(service["updated_at"]).replace(
        tzinfo=datetime.timezone.utc
    )
    return updated.timestamp() >= proc.started_at + 1


def enable_computes(admin) -> None:
    """Every nova-compute service up, not forced down, and enabled, in that order: nova-api
    clears a host's COMPUTE_STATUS_DISABLED trait in placement only while its compute is up,
    so enabling a host that is still down leaves the scheduler unable to use it."""
    for service in admin.compute_services():
        if service["forced_down"]:
            # Nova refuses to force a host up until its restarted nova-compute has cleaned
            # up after the evacuations from it (HTTP 400 meanwhile).
            procs.wait_for(
                f"nova to accept {service['host']} as up again",
                lambda host=service["host"]: admin.set_compute_service(host, forced_down=False),
                timeout=120,
                interval=1,
                ignore=(LabError,),
            )
    procs.wait_for(
        "every nova-compute service up and reporting since its (re)start",
        lambda: all(reporting(s) for s in admin.compute_services()),
        timeout=120,
        interval=1,
        ignore=(LabError,),
    )
    for service in admin.compute_services():
        if service["status"] != "enabled":
            admin.set_compute_service(service["host"], status="enabled")
    # A nova-compute that read its service as disabled at start-up can put the trait back
    # after the enable call cleared it; its next resource update (each minute) clears it again.
    try:
        procs.wait_for(
            "placement",
            lambda: not disabled_in_placement(admin),
            timeout=150,
            interval=2,
            ignore=(LabError,),
        )
    except LabError:
        stuck = disabled_in_placement(admin)
        if not stuck:  # placement or nova did not answer: that error says more
            raise
        raise LabError(
            f"placement still marks {', '.join(stuck)} COMPUTE_STATUS_DISABLED 150 s after "
            "Nova enabled them, so the scheduler cannot use them; see "
            + ", ".join(str(settings.LOGS / f"nova-compute-{h}.log") for h in stuck)
        ) from None


def disabled_in_placement(admin) -> list[str]:
    """Hosts the scheduler cannot use because placement still marks them disabled."""
    hypervisors = admin.call("compute", "GET", "/os-hypervisors")["hypervisors"]
    found = []
    for hypervisor in hypervisors:
        traits = admin.call(
            "placement",
            "GET",
            f"/resource_providers/{hypervisor['id']}/traits",
            headers={"OpenStack-API-Version": "placement 1.6"},
        )["traits"]
        if "COMPUTE_STATUS_DISABLED" in traits:
            found.append(hypervisor["hypervisor_hostname"])
    return found


def ensure_flavor_image(admin) -> None:
    """Unlimited quotas (room for the benchmark's servers), the guest's flavor and images."""
    from . import guests

    project = admin.session.get_project_id()
    admin.call(
        "compute",
        "PUT",
        f"/os-quota-sets/{project}",
        json={"quota_set": {"instances": -1, "cores": -1, "ram": -1}},
    )
    guests.ensure_flavor_image(admin)


# ---------------------------------------------------------------- down / status
def stop_all() -> list[str]:
    """Stop every process the lab recorded: consumers, then the broker and keystone, then the
    database (each stage in parallel); processes of unknown names go first."""
    from concurrent.futures import ThreadPoolExecutor

    names = [p.name for p in procs.recorded()]
    late = ["keystone", "rabbitmq", "epmd", "mariadb"]
    stages = [
        [n for n in names if n not in late],
        [n for n in ("keystone", "rabbitmq") if n in names],
        [n for n in ("epmd", "mariadb") if n in names],
    ]
    stopped = []
    with ThreadPoolExecutor(max_workers=8) as pool:
        for stage in stages:
            results = list(pool.map(procs.stop, stage))
            stopped += [name for name, found in zip(stage, results, strict=True) if found]
    return stopped


def down() -> None:
    stopped = stop_all()
    print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
    from . import pacemaker  # stdlib only, like hosts

    notes = pacemaker.down()  # the cluster, the MAAS emulator, then the hosts
    print("lab hosts down" + (": " + "; ".join(notes) if notes else ""))
    from . import distro_fixes

    distro_fixes.revert()
    _restore_system_files(install.load_created())
    remove_state_dir()
    print(f"removed {settings.STATE} and the system files the lab created")


def remove_state_dir() -> None:
    """Delete the lab's state dir, refusing to cross into anything mounted below it."""
    state = settings.STATE
    if not state.exists():
        return
    for root, dirs, files in os.walk(state):
        for name in dirs + files:
            if os.path.ismount(os.path.join(root, name)):
                raise LabError(
                    f"{os.path.join(root, name)} is a mount point; unmount it, "
                    "then run `down` again (nothing below it was removed)"
                )
    shutil.rmtree(state)


def _restore_system_files(created: dict) -> None:
    """Undo what the lab did outside its state dir: created files/dirs, replaced files."""
    for path in created.get("file", []):
        Path(path).unlink(missing_ok=True)
    if any(p.startswith("/usr/local/share/ca-certificates/") for p in created.get("file", [])):
        # The charm trusted vault's CA system-wide: take it out of /etc/ssl/certs too.
        subprocess.run(["update-ca-certificates", "--fresh"], capture_output=True, check=False)
    for path in created.get("dir", []):
        shutil.rmtree(path, ignore_errors=True)
    for path in created.get("symlink", []):
        p = Path(path)
        if p.is_symlink():
            p.unlink()
    backups = settings.STATE / "system-backups"
    for path in created.get("replaced", []):
        backup = backups / path.lstrip("/")
        if backup.exists():
            shutil.copy2(backup, path)


def status() -> int:
    recorded = procs.recorded()
    if not recorded:
        print(f"the lab is not running (no processes recorded in {settings.RUN})")
        return 1
    dead = 0
    print(f"{'process':28} {'pid':>7}  state")
    for proc in sorted(
        recorded, key=lambda p: STOP_ORDER.index(p.name) if p.name in STOP_ORDER else 99
    ):
        alive = proc.alive
        dead += not alive
        print(f"{proc.name:28} {proc.pid:>7}  {'running' if alive else 'DEAD'}")
    print(f"logs: {settings.LOGS}; credentials: {settings.STATE / 'admin-openrc'}")
    return 1 if dead else 0
