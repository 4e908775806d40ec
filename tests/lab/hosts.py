"""Lab hosts: hypervisors emulated as network + mount + UTS namespaces on a private bridge.

Each host (virt-node-01.maas, ...) gets
- a network namespace `masakari-lab-<short name>` whose only link, `eth0`, is a veth on
  bridge `br0` (in namespace `masakari-lab-sw`, so only one veth is added to the root one);
- a mount namespace with its own /etc and /var/log (overlays on the real ones, so packages'
  files stay visible while everything a daemon writes stays per host), fresh /run, /tmp and
  /dev/shm (tmpfs, emptied on every "boot"), and private /var/lib/<daemon> directories;
- a UTS namespace whose hostname is the host's FQDN, and an /etc/hosts naming every lab host,
  so `socket.getfqdn()` inside gives the same FQDN (as the pacemaker-remote charm expects).

The control side (the root network namespace) gets `masakari-lab0` with the subnet's first
address: services the hosts need are bound there. The hosts have no route off the subnet.

Daemons started with `start_daemon` are also the host's "boot services": `power_off` cuts the
link and SIGKILLs every process in the host's network namespace; `power_on` empties /run, /tmp
and /dev/shm, brings the link up and starts the boot services again.

State lives under /var/lib/masakari-lab/pcmk/ (override with MASAKARI_LAB_STATE).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shlex
import signal
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

STATE_ROOT = Path(os.environ.get("MASAKARI_LAB_STATE", "/var/lib/masakari-lab"))
STATE = STATE_ROOT / "pcmk"
RUN = STATE / "run"  # everything of one `up` .. `down`; the package cache stays outside
NS_DIR = RUN / "ns"
CONFIG_FILE = RUN / "hosts.json"

DEFAULT_HOSTS = ("virt-node-01.maas", "virt-node-02.maas", "virt-node-10.maas")
# A private subnet that exists only on the lab bridge; override if it clashes locally.
DEFAULT_SUBNET = os.environ.get("MASAKARI_LAB_PCMK_SUBNET", "10.213.0.0/24")
NETNS_PREFIX = "masakari-lab-"
ROOT_LINK = "masakari-lab0"
HOST_LINK = "eth0"
# /var/lib directories each host has for itself (the rest of /var/lib is the machine's).
PRIVATE_VAR_LIB = (
    "pacemaker", "nova", "masakari", "masakarimonitors", "charm-pacemaker-remote", "libvirt",
)  # fmt: skip
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class LabError(Exception):
    """A lab step failed; `step` names it and `log_tail` holds the last lines of the culprit."""

    def __init__(self, step: str, message: str, log_tail: str = "") -> None:
        super().__init__(f"{step}: {message}")
        self.step = step
        self.message = message
        self.log_tail = log_tail

    def report(self) -> str:
        text = f"FAILED at step '{self.step}': {self.message}"
        if self.log_tail:
            text += "\n--- last log lines ---\n" + self.log_tail.rstrip()
        return text


@dataclass(frozen=True)
class Host:
    fqdn: str
    ip: str

    @property
    def short(self) -> str:
        return self.fqdn.split(".")[0]

    @property
    def netns(self) -> str:
        return NETNS_PREFIX + self.short

    @property
    def dir(self) -> Path:
        return RUN / "hosts" / self.fqdn

    def ns_args(self) -> list[str]:
        return [
            f"--net=/run/netns/{self.netns}",
            f"--mount={NS_DIR / (self.short + '.mnt')}",
            f"--uts={NS_DIR / (self.short + '.uts')}",
        ]


@dataclass
class Lab:
    subnet: str
    control_ip: str
    hosts: list[Host] = field(default_factory=list)

    def host(self, name: str) -> Host:
        for host in self.hosts:
            if name in (host.fqdn, host.short):
                return host
        known = ", ".join(h.fqdn for h in self.hosts)
        raise LabError("lookup", f"no lab host named {name!r}; the lab has: {known}")


# --------------------------------------------------------------------------- helpers


def sh(argv: Sequence[str], *, check: bool = True, timeout: float = 60, **kw) -> str:
    """Run a command in the root namespaces; raise LabError with its output on failure."""
    try:
        proc = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout, check=False, **kw
        )
    except subprocess.TimeoutExpired as err:
        raise LabError("command", f"{shlex.join(argv)} timed out after {timeout}s") from err
    if check and proc.returncode != 0:
        raise LabError(
            "command",
            f"{shlex.join(argv)} exited {proc.returncode}",
            (proc.stdout + proc.stderr)[-2000:],
        )
    return proc.stdout


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no log at {path})"


def ensure_packages(packages: Iterable[str]) -> list[str]:
    """Install the Debian packages that are missing (idempotent); return what was installed."""
    missing = [p for p in packages if not _installed(p)]
    if not missing:
        return []
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    lists = Path("/var/lib/apt/lists")
    if not any(lists.glob("*_Packages*")):
        sh(["apt-get", "update"], timeout=600, env=env)
    install = ["apt-get", "install", "-y", "--no-install-recommends", *missing]
    try:
        sh(install, timeout=1200, env=env)
    except LabError:  # stale package lists on a reused machine: refresh once, retry
        sh(["apt-get", "update"], timeout=600, env=env)
        sh(install, timeout=1200, env=env)
    return missing


def _installed(package: str) -> bool:
    proc = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True, check=False
    )
    return proc.stdout.strip() == "install ok installed"


def alive(pid: int) -> bool:
    """True if pid runs; zombies count as dead (PID 1 here may reap them late)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


def pids_in_namespace(kind: str, ns_path: Path | str) -> list[int]:
    """PIDs whose `kind` namespace (net, mnt, uts) is the one bound at ns_path."""
    try:
        inode = os.stat(ns_path).st_ino
    except OSError:
        return []
    wanted = f"{kind}:[{inode}]"
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{entry}/ns/{kind}") == wanted:
                pids.append(int(entry))
        except OSError:
            continue
    return [p for p in pids if p != os.getpid() and alive(p)]


def kill_all(pids: Iterable[int], sig: int = signal.SIGKILL) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def wait_until_dead(pid_source, timeout: float) -> list[int]:
    """Poll `pid_source()` until it is empty or timeout; return what is still alive."""
    from . import procs  # procs -> settings -> hosts: not at import time

    try:
        procs.wait_for(
            "processes to exit", lambda: not pid_source(), timeout=timeout, interval=0.2, ignore=()
        )
    except procs.LabError:
        pass
    return pid_source()


def make_namespaces(name: str, hostname: str, setup_script: str) -> tuple[Path, Path]:
    """Create persistent mount + UTS namespaces bound at NS_DIR/<name>.{mnt,uts}.

    The new mount namespace first drops every copied namespace-file mount (other labs'
    /run/netns entries, our own ns files) so it pins no namespace it does not own, then runs
    `setup_script` (sh) inside it with `hostname` set.
    """
    _ensure_ns_dir()
    mnt, uts = NS_DIR / f"{name}.mnt", NS_DIR / f"{name}.uts"
    mnt.touch()
    uts.touch()
    script = (
        "set -e\n"
        'findmnt -rn -t nsfs -o TARGET | sort -r | while read -r m; do umount -l "$m"; done\n'
        f"umount -l {shlex.quote(str(NS_DIR))} 2>/dev/null || true\n"
        f"hostname {shlex.quote(hostname)}\n" + setup_script
    )
    argv = ["unshare", f"--mount={mnt}", f"--uts={uts}", "--propagation", "private"]
    sh([*argv, "sh", "-c", script])
    return mnt, uts


def _ensure_ns_dir() -> None:
    NS_DIR.mkdir(parents=True, exist_ok=True)
    if subprocess.run(["mountpoint", "-q", str(NS_DIR)], check=False).returncode != 0:
        sh(["mount", "--bind", str(NS_DIR), str(NS_DIR)])
        sh(["mount", "--make-private", str(NS_DIR)])


def spawn_detached(argv: Sequence[str], pidfile: Path, logfile: Path, env: dict[str, str]) -> int:
    """Start argv in its own session, detached from us (re-parented to PID 1); return its PID."""
    pidfile.unlink(missing_ok=True)
    logfile.parent.mkdir(parents=True, exist_ok=True)
    with open(logfile, "ab") as log:
        subprocess.run(
            ["setsid", "-f", "sh", "-c", 'echo $$ > "$0"; exec "$@"', str(pidfile), *argv],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            check=True,
        )
    from . import procs  # procs -> settings -> hosts: not at import time

    text = procs.wait_for(
        f"{argv[0]} to write its pid file {pidfile}",
        lambda: pidfile.read_text().strip() if pidfile.exists() else "",
        timeout=5,
        interval=0.05,
        ignore=(),
        details=lambda: tail(logfile),
        error=lambda what, message, details: LabError("start", f"{what}: {message}", details),
    )
    return int(text)


# --------------------------------------------------------------------------- lab state


def load() -> Lab:
    """The running lab, as `up` recorded it."""
    try:
        data = json.loads(CONFIG_FILE.read_text())
    except FileNotFoundError as err:
        raise LabError(
            "load",
            "the lab hosts are not up; run `python -m tests.lab pacemaker up` (or hosts.up())",
        ) from err
    return Lab(
        subnet=data["subnet"],
        control_ip=data["control_ip"],
        hosts=[Host(**h) for h in data["hosts"]],
    )


def is_up() -> bool:
    return CONFIG_FILE.exists()


def plan(hostnames: Sequence[str], subnet: str) -> Lab:
    """Validate host names and subnet, and give each host its address.

    virt-node-NN gets .100+NN (virt-node-10 -> .110); other names get .11, .12, ...
    """
    try:
        net = ipaddress.ip_network(subnet)
    except ValueError as err:
        raise LabError("plan", f"subnet {subnet!r} is not a network like 10.213.0.0/24") from err
    if net.version != 4 or net.prefixlen > 24 or not net.is_private:
        raise LabError("plan", f"subnet {subnet}: use a private IPv4 /24 (or larger)")
    if not hostnames:
        raise LabError("plan", "no host names given")
    base = int(net.network_address)
    hosts = []
    for index, fqdn in enumerate(hostnames):
        if not re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9-]+)+", fqdn):
            raise LabError(
                "plan", f"host name {fqdn!r} is not a lower-case FQDN like virt-node-01.maas"
            )
        match = re.search(r"-(\d+)$", fqdn.split(".")[0])
        octet = 100 + int(match.group(1)) if match and int(match.group(1)) < 100 else 11 + index
        hosts.append(Host(fqdn=fqdn, ip=str(ipaddress.ip_address(base + octet))))
    if len({h.ip for h in hosts}) != len(hosts) or len({h.short for h in hosts}) != len(hosts):
        raise LabError("plan", f"host names {list(hostnames)} give duplicate short names or IPs")
    return Lab(subnet=str(net), control_ip=str(ipaddress.ip_address(base + 1)), hosts=hosts)


# --------------------------------------------------------------------------- up / down


# Every host mounts its own tmpfs on these (see _create_host): nothing below them is shared.
HOST_PRIVATE_DIRS = ("/run", "/tmp", "/dev/shm")


def check_checkout(repo: Path) -> None:
    """Raise LabError if the hosts cannot see `repo`: their daemons run its files (e.g.
    hypervisor_init.py), and a checkout below a directory each host mounts privately is absent
    inside them."""
    resolved = repo.resolve()
    for private in map(Path, HOST_PRIVATE_DIRS):
        if private == resolved or private in resolved.parents:
            raise LabError(
                "hosts up",
                f"the checkout {resolved} is below {private}, which every lab hypervisor mounts "
                "privately, so their daemons cannot run the lab's files: clone the repository "
                "elsewhere (e.g. below /root or /srv) and run it from there",
            )


def up(hostnames: Sequence[str] = DEFAULT_HOSTS, subnet: str = DEFAULT_SUBNET) -> Lab:
    """Create the bridge, the control-side address and one namespaced host per name."""
    from . import settings  # settings -> hosts: not at import time

    check_checkout(settings.REPO)
    lab = plan(hostnames, subnet)
    if is_up():
        raise LabError("hosts up", "the lab hosts are already up; run `down` first")
    _check_subnet_free(lab)
    ensure_packages(["iproute2", "util-linux"])
    _keep_last_run()
    RUN.mkdir(parents=True, exist_ok=True)
    CONFIG_FILE.write_text(
        json.dumps(
            {
                "subnet": lab.subnet,
                "control_ip": lab.control_ip,
                "hosts": [asdict(h) for h in lab.hosts],
            },
            indent=2,
        )
    )
    prefix = ipaddress.ip_network(lab.subnet).prefixlen
    sw = NETNS_PREFIX + "sw"
    sh(["ip", "netns", "add", sw])
    sh(["ip", "-n", sw, "link", "add", "br0", "type", "bridge"])
    sh(["ip", "-n", sw, "link", "set", "br0", "up"])
    sh(["ip", "link", "add", ROOT_LINK, "type", "veth", "peer", "name", "v-control", "netns", sw])
    sh(["ip", "-n", sw, "link", "set", "v-control", "master", "br0", "up"])
    sh(["ip", "addr", "add", f"{lab.control_ip}/{prefix}", "dev", ROOT_LINK])
    sh(["ip", "link", "set", ROOT_LINK, "up"])
    for host in lab.hosts:
        _create_host(lab, host, prefix)
    return lab


def _keep_last_run() -> None:
    """Move the previous run's state and logs to last-run/ (one generation is kept)."""
    if not RUN.exists():
        return
    if any(
        line.split()[4].startswith(str(RUN))
        for line in Path("/proc/self/mountinfo").read_text().splitlines()
    ):
        raise LabError("hosts up", f"{RUN} still has mounts; run `down` first")
    last = STATE / "last-run"
    if last.exists():
        subprocess.run(["rm", "-rf", str(last)], check=False)
    RUN.rename(last)


def _check_subnet_free(lab: Lab) -> None:
    net = ipaddress.ip_network(lab.subnet)
    for line in sh(["ip", "-4", "-o", "addr"]).splitlines():
        addr = line.split()[3]
        if ipaddress.ip_interface(addr).network.overlaps(net):
            raise LabError(
                "hosts up",
                f"subnet {net} is already in use here ({line.split()[1]} "
                f"has {addr}); set MASAKARI_LAB_PCMK_SUBNET to another",
            )


def _create_host(lab: Lab, host: Host, prefix: int) -> None:
    sw = NETNS_PREFIX + "sw"
    peer = "vh" + host.ip.rsplit(".", 1)[1]
    sh(["ip", "netns", "add", host.netns])
    sh(
        [
            "ip",
            "-n",
            sw,
            "link",
            "add",
            peer,
            "type",
            "veth",
            "peer",
            "name",
            HOST_LINK,
            "netns",
            host.netns,
        ]
    )
    sh(["ip", "-n", sw, "link", "set", peer, "master", "br0", "up"])
    sh(["ip", "-n", host.netns, "addr", "add", f"{host.ip}/{prefix}", "dev", HOST_LINK])
    sh(["ip", "-n", host.netns, "link", "set", HOST_LINK, "up"])
    sh(["ip", "-n", host.netns, "link", "set", "lo", "up"])

    d = host.dir
    for sub in ("etc/upper", "etc/work", "log/upper", "log/work", "daemons"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    binds = []
    for name in PRIVATE_VAR_LIB:
        private = d / "var-lib" / name
        private.mkdir(parents=True, exist_ok=True)
        target = Path("/var/lib") / name
        if not target.exists():
            # An empty mount point; recorded so `down` removes it again.
            target.mkdir(parents=True)
            with open(RUN / "created-mountpoints", "a") as f:
                f.write(f"{target}\n")
        binds.append(f"mount --bind {private} {target}")
    hosts_file = (
        "127.0.0.1 localhost\n"
        + f"{lab.control_ip} lab-control\n"
        + "".join(f"{h.ip} {h.fqdn} {h.short}\n" for h in lab.hosts)
    )
    script = "\n".join(
        [
            f"mount -t overlay overlay -o lowerdir=/etc,upperdir={d}/etc/upper,"
            f"workdir={d}/etc/work /etc",
            f"mount -t overlay overlay -o lowerdir=/var/log,upperdir={d}/log/upper,"
            f"workdir={d}/log/work /var/log",
            *binds,
            "mount -t tmpfs -o mode=0755,size=64m tmpfs /run",
            "mount -t tmpfs -o mode=1777,size=256m tmpfs /tmp",
            "mount -t tmpfs -o mode=1777,size=256m tmpfs /dev/shm",
            f"echo {shlex.quote(host.fqdn)} > /etc/hostname",
            f"printf %s {shlex.quote(hosts_file)} > /etc/hosts",
            "",
        ]
    )
    make_namespaces(host.short, host.fqdn, script)
    _boot_prepare(host)
    _set_power(host, "on")


def _boot_prepare(host: Host) -> None:
    """What a boot does to volatile directories: empty /run, /tmp, /dev/shm; recreate basics."""
    run(
        host,
        [
            "sh",
            "-c",
            "find /run /tmp /dev/shm -mindepth 1 -delete; "
            "mkdir -p /run/lock /run/crm /var/lib/pacemaker/cib /var/lib/pacemaker/pengine "
            "/var/lib/pacemaker/blackbox /var/lib/pacemaker/cores /var/log/pacemaker; "
            "chmod 1777 /run/lock; chown hacluster:haclient /run/crm /var/lib/pacemaker/* "
            "/var/log/pacemaker; chmod 0750 /run/crm",
        ],
    )


def down() -> list[str]:
    """Stop every process in the lab hosts, remove namespaces, veths and mounts.

    Returns what it had to force (for the caller to report); safe to run twice.
    """
    notes: list[str] = []
    # Found from the system rather than from hosts.json, so a half-built lab is removed too.
    netns_dir = Path("/run/netns")
    names = (
        sorted(n for n in os.listdir(netns_dir) if n.startswith(NETNS_PREFIX))
        if netns_dir.is_dir()
        else []
    )
    for name in names:
        netns = netns_dir / name
        kill_all(pids_in_namespace("net", netns), signal.SIGTERM)
        left = wait_until_dead(lambda n=netns: pids_in_namespace("net", n), 10)
        if left:
            notes.append(f"{name}: SIGKILL {left}")
            kill_all(left)
            if wait_until_dead(lambda n=netns: pids_in_namespace("net", n), 5):
                notes.append(f"{name}: processes survived SIGKILL")
    if NS_DIR.exists():
        for ns_file in sorted(NS_DIR.iterdir()):
            if ns_file.suffix in (".mnt", ".uts") and not ns_file.name.startswith("control"):
                subprocess.run(["umount", str(ns_file)], capture_output=True, check=False)
    for name in names:
        sh(["ip", "netns", "del", name], check=False)
    if Path(f"/sys/class/net/{ROOT_LINK}").exists():
        sh(["ip", "link", "del", ROOT_LINK], check=False)
    created = RUN / "created-mountpoints"
    if created.exists():
        for line in created.read_text().split():
            try:
                Path(line).rmdir()
            except OSError:
                notes.append(f"left {line} (not empty)")
        created.unlink()
    CONFIG_FILE.unlink(missing_ok=True)
    return notes


def release_ns_dir() -> None:
    """Unmount the namespace-file directory once nothing is bound in it any more."""
    if NS_DIR.exists() and not any(
        p.suffix in (".mnt", ".uts") and _is_mount(p) for p in NS_DIR.iterdir()
    ):
        subprocess.run(["umount", str(NS_DIR)], capture_output=True, check=False)


def _is_mount(path: Path) -> bool:
    return subprocess.run(["mountpoint", "-q", str(path)], check=False).returncode == 0


def leftovers() -> list[str]:
    """Anything of the lab hosts still present (empty when `down` was complete)."""
    found = []
    for name in os.listdir("/run/netns") if os.path.isdir("/run/netns") else []:
        if name.startswith(NETNS_PREFIX):
            found.append(f"netns {name}")
    if Path(f"/sys/class/net/{ROOT_LINK}").exists():
        found.append(f"link {ROOT_LINK}")
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        mount_point = line.split()[4]
        if mount_point.startswith(str(STATE)):
            found.append(f"mount {mount_point}")
    for pidfile in RUN.glob("**/*.pid") if RUN.exists() else []:
        try:
            pid = int(pidfile.read_text().strip())
        except (OSError, ValueError):
            continue
        if alive(pid):
            found.append(f"process {pid} ({pidfile.name})")
    return found


# --------------------------------------------------------------------------- inside a host


def command(
    host: Host,
    argv: Sequence[str],
    env: dict[str, str] | None = None,
    ns: Sequence[str] | None = None,
) -> list[str]:
    """argv prefixed so that it runs inside `host` (its net, mount and UTS namespaces, or the
    nsenter namespace options `ns`)."""
    env_args = [f"{k}={v}" for k, v in (env or {}).items()]
    return [
        "nsenter",
        *(host.ns_args() if ns is None else ns),
        "--wd=/",
        "--",
        "env",
        f"PATH={SYSTEM_PATH}",
        *env_args,
        *argv,
    ]


def run(
    host: Host,
    argv: Sequence[str],
    *,
    input: str | bytes | None = None,  # noqa: A002 - same name as subprocess.run
    check: bool = True,
    timeout: float = 60,
    env: dict[str, str] | None = None,
    ns: Sequence[str] | None = None,
) -> subprocess.CompletedProcess:
    """Run a command inside `host` (or the nsenter namespaces `ns`) and wait for it."""
    text = not isinstance(input, bytes)
    try:
        proc = subprocess.run(
            command(host, argv, env, ns),
            input=input,
            capture_output=True,
            text=text,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as err:
        raise LabError(
            f"run on {host.fqdn}", f"{shlex.join(argv)} timed out ({timeout}s)"
        ) from err
    if check and proc.returncode != 0:
        out = proc.stdout + proc.stderr if text else (proc.stdout + proc.stderr).decode()
        raise LabError(
            f"run on {host.fqdn}", f"{shlex.join(argv)} exited {proc.returncode}", out[-2000:]
        )
    return proc


def write_file(
    host: Host, path: str, data: bytes, mode: int = 0o644, owner: str = "root", group: str = "root"
) -> None:
    """Write a file inside `host` atomically, with mode and owner set before it appears."""
    tmp = f"{path}.lab-tmp"
    script = (
        f'umask 077; mkdir -p "$(dirname {shlex.quote(path)})"; cat > {shlex.quote(tmp)}'
        f" && chown {owner}:{group} {shlex.quote(tmp)} && chmod {mode:o} {shlex.quote(tmp)}"
        f" && mv {shlex.quote(tmp)} {shlex.quote(path)}"
    )
    run(host, ["sh", "-c", script], input=data)


def read_file(host: Host, path: str) -> bytes:
    return run(host, ["cat", path], input=b"").stdout


def start_daemon(
    host: Host,
    name: str,
    argv: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    boot: bool = True,
) -> int:
    """Start a daemon inside `host`; its output goes to daemons/<name>.log in the host dir.

    With boot=True it is a boot service: `power_on` starts it again.
    """
    spec = {"argv": list(argv), "env": env or {}, "boot": boot}
    (host.dir / "daemons" / f"{name}.json").write_text(json.dumps(spec))
    return _start(host, name, spec)


def _start(host: Host, name: str, spec: dict) -> int:
    daemons = host.dir / "daemons"
    env = {"PATH": SYSTEM_PATH, "LANG": "C.UTF-8"}
    return spawn_detached(
        command(host, spec["argv"], spec["env"]),
        daemons / f"{name}.pid",
        daemons / f"{name}.log",
        env,
    )


def set_boot(host: Host, name: str, boot: bool) -> None:
    """Whether `power_on` starts the daemon (systemctl enable/disable)."""
    spec_file = host.dir / "daemons" / f"{name}.json"
    if spec_file.exists():
        spec = json.loads(spec_file.read_text())
        spec_file.write_text(json.dumps({**spec, "boot": boot}))


def daemon_pid(host: Host, name: str) -> int | None:
    pidfile = host.dir / "daemons" / f"{name}.pid"
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if alive(pid) else None


def daemon_log(host: Host, name: str) -> Path:
    return host.dir / "daemons" / f"{name}.log"


def stop_daemon(host: Host, name: str, timeout: float = 10) -> None:
    """SIGTERM the daemon (and its session), SIGKILL after timeout; it stays a boot service."""
    pid = daemon_pid(host, name)
    if pid is None or pid not in processes(host):  # gone, or a recycled pid: not ours
        return
    kill_all([pid], signal.SIGTERM)
    if wait_until_dead(lambda: [pid] if alive(pid) else [], timeout):
        kill_all([pid])


def processes(host: Host) -> list[int]:
    return pids_in_namespace("net", Path("/run/netns") / host.netns)


def link_down(host: Host) -> None:
    """The guide's failure injection: `ip link set <iface> down` on the hypervisor."""
    run(host, ["ip", "link", "set", HOST_LINK, "down"])


def link_up(host: Host) -> None:
    run(host, ["ip", "link", "set", HOST_LINK, "up"])


def link_is_up(host: Host) -> bool:
    """Whether the host's link is administratively up (`ip link` flags carry UP)."""
    out = sh(["ip", "-n", host.netns, "-j", "link", "show", "dev", HOST_LINK], check=False)
    try:
        return "UP" in json.loads(out)[0]["flags"]
    except (ValueError, IndexError, KeyError):
        return False


def power_state(host: Host) -> str:
    try:
        return (host.dir / "power").read_text().strip()
    except OSError:
        return "unknown"


def _set_power(host: Host, state: str) -> None:
    (host.dir / "power").write_text(state + "\n")


def power_off(host: Host) -> None:
    """Hard power-off: the link goes down and every process of the host dies at once."""
    sh(["ip", "-n", host.netns, "link", "set", HOST_LINK, "down"])
    kill_all(processes(host))
    left = wait_until_dead(lambda: processes(host), 5)
    if left:
        raise LabError(f"power off {host.fqdn}", f"processes survived SIGKILL: {left}")
    _set_power(host, "off")


def power_on(host: Host) -> None:
    """Boot: volatile directories emptied, link up, boot services started."""
    if power_state(host) == "on" and processes(host):
        return
    _boot_prepare(host)
    sh(["ip", "-n", host.netns, "link", "set", HOST_LINK, "up"])
    _set_power(host, "on")
    for spec_file in sorted((host.dir / "daemons").glob("*.json")):
        spec = json.loads(spec_file.read_text())
        if spec.get("boot"):
            _start(host, spec_file.stem, spec)
