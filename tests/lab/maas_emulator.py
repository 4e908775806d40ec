"""A MAAS 2.0 machines API emulator whose power actions really power lab hosts off and on.

Serves the subset charm-hacluster's STONITH plugin (through python-libmaas) and the lab's
stand-in plugin use, under <url>/api/2.0/ with url = http://<control ip>:5240/MAAS:
  GET  describe/, version/                         anonymous
  GET  machines/?hostname=<short>[&hostname=...]   list, exact match on the short hostname
  GET  machines/<system_id>/                       read
  GET  machines/<system_id>/?op=query_power_state  {"state": "on"|"off"} from the "BMC"
  POST machines/<system_id>/?op=power_off|power_on (op may also be in the form body)
Requests other than the anonymous ones need OAuth 1.0 PLAINTEXT signed with the key in
`maas_credentials` form (consumer_key:token_key:token_secret): 401 otherwise.

Like a real BMC, power-off completes `power_off_latency` seconds after the request (default
5 s): then the host's link goes down and all its processes are SIGKILLed, and `power_state`
becomes "off". Power-on boots the host (hosts.power_on) unless the machine is set to never
come back. Faults for tests (`set_faults`): answer 503 (with Retry-After, like MAAS's
"power action already in progress" / no rack controller) or 409 (with Retry-After, like its
database-conflict retries) to power actions until a given time; a different latency; broken
machines. Every request and power transition is appended to events.jsonl with a timestamp.

It listens on the control side's bridge address only. Run: `start(lab)` / `stop()`.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import re
import secrets
import signal
import sys
import threading
import time
import urllib.parse
from pathlib import Path

from . import hosts, procs
from .hosts import LabError

PORT = 5240
DEFAULT_POWER_OFF_LATENCY = 5.0
DIR = hosts.RUN / "maas"
CREDENTIALS_FILE = DIR / "maas-credentials"
FAULTS_FILE = DIR / "faults.json"
EVENTS_FILE = DIR / "events.jsonl"
API = "/MAAS/api/2.0/"
MAAS_VERSION = "2.9.2"


def url(lab: hosts.Lab) -> str:
    """The `maas_url` an operator would give hacluster."""
    return f"http://{lab.control_ip}:{PORT}/MAAS"


def system_id(fqdn: str) -> str:
    """A stable MAAS-looking system_id (6 lower-case characters)."""
    alphabet = "abcdefghjkmnpqrstuvwxy3456789"
    digest = int(hashlib.sha256(fqdn.encode()).hexdigest(), 16)
    return "".join(alphabet[(digest >> (5 * i)) % len(alphabet)] for i in range(6))


# --------------------------------------------------------------------------- control API


def start(lab: hosts.Lab, power_off_latency: float = DEFAULT_POWER_OFF_LATENCY) -> str:
    """Start the emulator; return the `maas_credentials` key hacluster would be given."""
    DIR.mkdir(parents=True, exist_ok=True)
    if not CREDENTIALS_FILE.exists():
        key = ":".join(secrets.token_urlsafe(n)[:n] for n in (18, 18, 32))
        fd = os.open(CREDENTIALS_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(key)
    set_faults(power_off_latency=power_off_latency)
    pidfile = DIR / "emulator.pid"
    env = {
        "PATH": os.environ.get("PATH", hosts.SYSTEM_PATH),
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        "MASAKARI_LAB_STATE": str(hosts.STATE_ROOT),
    }
    hosts.spawn_detached(
        [sys.executable, "-m", "tests.lab.maas_emulator", "serve"],
        pidfile,
        DIR / "emulator.log",
        env,
    )
    procs.wait_for(
        "MAAS emulator",
        lambda: "listening" in (DIR / "emulator.log").read_text(errors="replace"),
        timeout=10,
        interval=0.1,
        ignore=(),
        details=lambda: hosts.tail(DIR / "emulator.log"),
        error=LabError,
    )
    return CREDENTIALS_FILE.read_text().strip()


def stop() -> None:
    pidfile = DIR / "emulator.pid"
    if not pidfile.exists():
        return
    pid = int(pidfile.read_text())
    try:
        ours = b"tests.lab.maas_emulator" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        ours = False
    if ours and hosts.alive(pid):  # never signal a recycled pid
        hosts.kill_all([pid], signal.SIGTERM)
        if hosts.wait_until_dead(lambda: [pid] if hosts.alive(pid) else [], 5):
            hosts.kill_all([pid])
    pidfile.unlink()


def credentials() -> str:
    return CREDENTIALS_FILE.read_text().strip()


def set_faults(
    *,
    power_off_latency: float | None = None,
    boot_delay: float | None = None,
    unavailable_for: float | None = None,
    conflict_for: float | None = None,
    unavailable_from_next_power_action_for: float | None = None,
    broken: list[str] | None = None,
) -> dict:
    """Change the emulator's behaviour from now on (read on every request).

    power_off_latency: seconds from power_off to the host really being off (a BMC's delay).
    boot_delay: seconds from power_on until the host's boot services start (default 0).
    unavailable_for / conflict_for: answer power actions 503 / 409 for that many seconds.
    unavailable_from_next_power_action_for: the same 503 window, opened by the next power
    action (however long the cluster takes to ask); 0 cancels one not yet opened.
    broken: machines (short or full names) that never come back after a power_on.
    """
    faults = get_faults()
    now = time.time()
    if unavailable_from_next_power_action_for is not None:
        faults["unavailable_from_next_power_action_for"] = unavailable_from_next_power_action_for
    if power_off_latency is not None:
        faults["power_off_latency"] = power_off_latency
    if boot_delay is not None:
        faults["boot_delay"] = boot_delay
    if unavailable_for is not None:
        faults["unavailable_until"] = now + unavailable_for
    if conflict_for is not None:
        faults["conflict_until"] = now + conflict_for
    if broken is not None:
        faults["broken"] = broken
    tmp = FAULTS_FILE.with_suffix(".tmp")
    tmp.write_text(json.dumps(faults))
    tmp.replace(FAULTS_FILE)
    return faults


def faults_for_power_action() -> dict:
    """The faults a power action meets: a 503 window set to open at the next power action
    (`unavailable_from_next_power_action_for`) opens now, once."""
    faults = get_faults()
    window = faults.get("unavailable_from_next_power_action_for")
    if window:
        faults = set_faults(unavailable_for=window, unavailable_from_next_power_action_for=0)
    return faults


def get_faults() -> dict:
    try:
        return json.loads(FAULTS_FILE.read_text())
    except (OSError, ValueError):
        return {"power_off_latency": DEFAULT_POWER_OFF_LATENCY}


def events(since: float = 0.0) -> list[dict]:
    try:
        lines = EVENTS_FILE.read_text().splitlines()
    except OSError:
        return []
    return [e for e in map(json.loads, lines) if e["t"] >= since]


# --------------------------------------------------------------------------- the server


def _record(event: str, **fields) -> None:
    line = json.dumps({"t": time.time(), "event": event, **fields})
    with open(EVENTS_FILE, "a") as f:
        f.write(line + "\n")


class Machines:
    """Machine records of the lab hosts plus pending power actions."""

    def __init__(self, lab: hosts.Lab) -> None:
        self.lab = lab
        self.lock = threading.Lock()
        self.busy: set[str] = set()  # system_ids with a power action in progress

    def all(self) -> list[hosts.Host]:
        return self.lab.hosts

    def by_id(self, sid: str) -> hosts.Host | None:
        return next((h for h in self.lab.hosts if system_id(h.fqdn) == sid), None)

    def as_json(self, host: hosts.Host) -> dict:
        state = hosts.power_state(host)
        return {
            "system_id": system_id(host.fqdn),
            "hostname": host.short,
            "fqdn": host.fqdn,
            "domain": {"name": host.fqdn.split(".", 1)[1], "id": 0},
            "power_state": state if state in ("on", "off") else "unknown",
            "power_type": "ipmi",
            "status": 6,
            "status_name": "Deployed",
            "owner": "admin",
            "ip_addresses": [host.ip],
            "zone": {"name": "default"},
            "pool": {"name": "default"},
            "node_type": 0,
            "node_type_name": "Machine",
            "resource_uri": f"{API}machines/{system_id(host.fqdn)}/",
        }


def _oauth_params(header: str) -> dict[str, str]:
    if not header.startswith("OAuth "):
        return {}
    params = {}
    for key, value in re.findall(r'(\w+)="([^"]*)"', header[len("OAuth ") :]):
        params[key] = urllib.parse.unquote(value)
    return params


def check_auth(header: str | None, key: str) -> int:
    """0 if the OAuth PLAINTEXT header matches `key`, else the HTTP status to answer."""
    consumer, token, secret = key.split(":")
    params = _oauth_params(header or "")
    if not params:
        return 401
    needed = ("oauth_consumer_key", "oauth_token", "oauth_signature", "oauth_signature_method")
    if any(k not in params for k in needed) or params["oauth_signature_method"] != "PLAINTEXT":
        return 400
    ok = (
        secrets.compare_digest(params["oauth_consumer_key"], consumer)
        and secrets.compare_digest(params["oauth_token"], token)
        and secrets.compare_digest(params["oauth_signature"], "&" + secret)
    )
    return 0 if ok else 401


def _form_op(body: bytes, content_type: str) -> str | None:
    if "multipart/form-data" in content_type:
        match = re.search(rb'name="op"\r\n\r\n([a-z_]+)\r\n', body)
        return match.group(1).decode() if match else None
    values = urllib.parse.parse_qs(body.decode(errors="replace"))
    return values.get("op", [None])[0]


def describe(base: str) -> dict:
    """The API description python-libmaas builds its client from (handlers and actions)."""

    def handler(
        name: str, path: str, params: list[str], actions: list[tuple[str, str, str | None]]
    ) -> dict:
        return {
            "name": name,
            "doc": f"{name} (Masakari lab emulator)",
            "path": f"{API}{path}",
            "uri": f"{base}{API}{path}",
            "params": params,
            "actions": [
                {"name": a, "method": m, "op": op, "restful": op is None, "doc": ""}
                for a, m, op in actions
            ],
        }

    machines = handler("MachinesHandler", "machines/", [], [("read", "GET", None)])
    machine = handler(
        "MachineHandler",
        "machines/{system_id}/",
        ["system_id"],
        [
            ("read", "GET", None),
            ("power_off", "POST", "power_off"),
            ("power_on", "POST", "power_on"),
            ("query_power_state", "GET", "query_power_state"),
        ],
    )
    version = handler("VersionHandler", "version/", [], [("read", "GET", None)])
    return {
        "doc": "MAAS API (Masakari lab emulator)",
        "hash": "lab",
        "resources": [
            {
                "name": h["name"],
                "anon": h if h is version else None,
                "auth": None if h is version else h,
            }
            for h in (machines, machine, version)
        ],
    }


class Handler(http.server.BaseHTTPRequestHandler):
    machines: Machines
    key: str
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # events.jsonl is the log
        pass

    def _send(self, code: int, body, headers: dict[str, str] | None = None) -> None:
        data = (body if isinstance(body, str) else json.dumps(body)).encode()
        self.send_response(code)
        ctype = "text/plain" if isinstance(body, str) else "application/json"
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _route(self, method: str) -> None:
        parsed = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(parsed.query)
        body = b""
        if method == "POST":
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not parsed.path.startswith(API):
            return self._send(404, "Unknown API path")
        path = parsed.path[len(API) :]
        if path == "describe/":
            return self._send(200, describe(f"http://{self.headers.get('Host', '')}"))
        if path == "version/":
            return self._send(
                200,
                {
                    "capabilities": [
                        "networks-management",
                        "static-ipaddresses",
                        "authenticate-api",
                    ],
                    "version": MAAS_VERSION,
                    "subversion": "masakari-lab",
                },
            )
        auth = check_auth(self.headers.get("Authorization"), self.key)
        if auth:
            _record("auth_failed", path=path, status=auth)
            return self._send(
                auth,
                "Authorization Error: 'Invalid API key'" if auth == 401 else "Bad OAuth request",
            )
        if path == "machines/" and method == "GET":
            wanted = set(query.get("hostname", []))
            found = [
                self.machines.as_json(h)
                for h in self.machines.all()
                if not wanted or h.short in wanted
            ]
            return self._send(200, found)
        match = re.fullmatch(r"machines/([a-z0-9]+)/", path)
        host = self.machines.by_id(match.group(1)) if match else None
        if host is None:
            return self._send(404, "Not Found")
        op = (query.get("op") or [None])[0] or (
            _form_op(body, self.headers.get("Content-Type", "")) if body else None
        )
        if method == "GET" and op is None:
            return self._send(200, self.machines.as_json(host))
        if method == "GET" and op == "query_power_state":
            state = hosts.power_state(host)
            return self._send(200, {"state": state if state in ("on", "off") else "unknown"})
        if method == "POST" and op in ("power_off", "power_on"):
            return self._power(host, op)
        return self._send(400, f"Unrecognised signature: method={method} op={op}")

    def _power(self, host: hosts.Host, op: str) -> None:
        now = time.time()
        with self.machines.lock:
            faults = faults_for_power_action()
        sid = system_id(host.fqdn)
        if now < faults.get("unavailable_until", 0):
            _record("answered_503", machine=host.short, op=op)
            return self._send(
                503,
                f"Unable to change power state to '{op[6:]}' for node "
                f"{host.short}: another action is already in progress "
                "for that node.",
                {"Retry-After": "10"},
            )
        if now < faults.get("conflict_until", 0):
            _record("answered_409", machine=host.short, op=op)
            return self._send(
                409, "Conflict: the transaction could not be serialised.", {"Retry-After": "5"}
            )
        with self.machines.lock:
            if sid in self.machines.busy:
                _record("answered_503", machine=host.short, op=op, reason="busy")
                return self._send(
                    503,
                    f"Unable to change power state for node {host.short}: "
                    "another action is already in progress for that node.",
                    {"Retry-After": "10"},
                )
            self.machines.busy.add(sid)
        _record(f"{op}_requested", machine=host.short, client=self.client_address[0])
        latency = float(faults.get("power_off_latency", DEFAULT_POWER_OFF_LATENCY))
        broken = host.short in faults.get("broken", []) or host.fqdn in faults.get("broken", [])
        delay = latency if op == "power_off" else float(faults.get("boot_delay", 0))
        threading.Thread(target=self._act, args=(host, op, delay, broken), daemon=True).start()
        self._send(200, self.machines.as_json(host))

    def _act(self, host: hosts.Host, op: str, delay: float, broken: bool) -> None:
        time.sleep(delay)
        # Under the lock: a request arriving as the state flips waits, instead of seeing "busy".
        with self.machines.lock:
            try:
                if op == "power_off":
                    hosts.power_off(host)
                    _record("powered_off", machine=host.short)
                elif broken:
                    _record("power_on_ignored", machine=host.short, reason="machine is broken")
                else:
                    hosts.power_on(host)
                    _record("powered_on", machine=host.short)
            except Exception as err:  # noqa: BLE001 - the BMC "fails"; keep serving
                _record("power_action_failed", machine=host.short, op=op, error=str(err))
            finally:
                self.machines.busy.discard(system_id(host.fqdn))

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._route("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._route("POST")


def serve() -> None:
    lab = hosts.load()
    Handler.machines = Machines(lab)
    Handler.key = credentials()
    server = http.server.ThreadingHTTPServer((lab.control_ip, PORT), Handler)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    _record("listening", address=f"{lab.control_ip}:{PORT}", pid=os.getpid())
    print(f"listening on {lab.control_ip}:{PORT}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    if sys.argv[1:] != ["serve"]:
        print("usage: python -m tests.lab.maas_emulator serve", file=sys.stderr)
        sys.exit(2)
    serve()
