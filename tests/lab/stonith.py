#!/usr/bin/python3
"""Lab stand-in for charm-hacluster's STONITH plugin `external/maas`.

hacluster installs its files/ocf/maas/maas_stonith_plugin.py (python-libmaas based) as
/usr/lib/stonith/plugins/external/maas and creates
  primitive st-maas stonith:external/maas params url=... apikey=... hostnames=...
The lab creates the same primitive and installs this file under the same name, but only in the
control side's private copy of the plugin directory (`install_plugin`). It speaks to MAAS with
the standard library only (the same requests python-libmaas sends, OAuth1 PLAINTEXT).

It is a cluster-glue "external" plugin: Pacemaker runs it through fence_legacy, parameters
arrive as environment variables (url, apikey, hostnames) and the command is argv[1]:
  gethosts             print the host names this device fences
  status               MAAS answers an authenticated request
  off|reset|on <host>  find the machine by its short hostname (exactly one), power it
Unlike hacluster's plugin, `off` and `reset` report success only after the BMC confirms the
machine is off (op=query_power_state polled until "off", at most POWER_OFF_TIMEOUT seconds);
`reset` then powers it on, and a failing power-on is logged but does not fail the fence (the
machine is already confirmed off). Any MAAS error (401, 404, 409, 503, ...) fails the action with
the MAAS answer in the message, as hacluster's plugin does; Pacemaker then retries the fence.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

POWER_OFF_TIMEOUT = 45.0  # below Pacemaker's default stonith-timeout (60 s)
POLL_INTERVAL = 1.0
LOG_FILE = "/var/log/pacemaker/external-maas.log"
HTTP_TIMEOUT = 15.0
PARAMETERS_XML = """<parameters>
<parameter name="url" unique="0" required="1">
<content type="string" />
<shortdesc lang="en">MAAS URL</shortdesc>
<longdesc lang="en">MAAS API URL, e.g. http://10.0.0.2:5240/MAAS</longdesc>
</parameter>
<parameter name="apikey" unique="0" required="1">
<content type="string" />
<shortdesc lang="en">MAAS API key</shortdesc>
<longdesc lang="en">MAAS API key (consumer_key:token_key:token_secret)</longdesc>
</parameter>
<parameter name="hostnames" unique="1" required="1">
<content type="string" />
<shortdesc lang="en">Host names</shortdesc>
<longdesc lang="en">Space separated names of the machines this device fences</longdesc>
</parameter>
</parameters>
"""


class MaasError(Exception):
    pass


def install_plugin(plugin_dir: Path) -> Path:
    """Install this file as external/maas into a (private) cluster-glue plugin directory."""
    target = Path(plugin_dir) / "maas"
    shutil.copyfile(__file__, target)
    os.chmod(target, 0o755)  # noqa: S103 - cluster-glue refuses group/other-writable plugins
    return target


def log(message: str) -> None:
    line = (
        f"{time.time():.3f} {time.strftime('%H:%M:%S')} external/maas[{os.getpid()}] {message}\n"
    )
    try:
        with open(LOG_FILE, "a") as f:
            f.write(line)
    except OSError:
        pass
    sys.stderr.write(line)


class Maas:
    def __init__(self, url: str, apikey: str) -> None:
        parts = apikey.split(":")
        if len(parts) != 3:
            raise MaasError("apikey must be consumer_key:token_key:token_secret")
        self.consumer, self.token, self.secret = parts
        self.api = url.rstrip("/") + "/api/2.0/"

    def _auth(self) -> str:
        params = {
            "realm": "OAuth",
            "oauth_version": "1.0",
            "oauth_signature_method": "PLAINTEXT",
            "oauth_consumer_key": self.consumer,
            "oauth_token": self.token,
            "oauth_signature": "&" + self.secret,
            "oauth_nonce": secrets.token_hex(8),
            "oauth_timestamp": str(int(time.time())),
        }
        return "OAuth " + ", ".join(
            f'{k}="{urllib.parse.quote(v, safe="")}"' for k, v in params.items()
        )

    def call(self, method: str, path: str, query: dict | None = None, form: dict | None = None):
        url = self.api + path
        if query:
            url += "?" + urllib.parse.urlencode(query, doseq=True)
        data = None
        headers = {"Authorization": self._auth(), "Accept": "application/json"}
        if method == "POST":
            boundary = secrets.token_hex(12)
            body = "".join(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
                for k, v in (form or {}).items()
            )
            data = (body + f"--{boundary}--\r\n").encode()
            headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
        request = urllib.request.Request(  # noqa: S310 - url is the configured MAAS http URL
            url, data=data, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:  # noqa: S310
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as err:
            text = err.read().decode(errors="replace")[:200]
            retry = err.headers.get("Retry-After")
            raise MaasError(
                f"{method} {path} {query or ''}: HTTP {err.code} {text!r}"
                + (f" (Retry-After {retry})" if retry else "")
            ) from err
        except (urllib.error.URLError, OSError) as err:
            raise MaasError(f"{method} {path}: {err}") from err

    def machine(self, host: str) -> dict:
        short = host.split(".")[0]  # libmaas matches the short hostname, as MAAS stores it
        found = self.call("GET", "machines/", {"hostname": short})
        if len(found) != 1:
            raise MaasError(f"{len(found)} machines named {short!r} in MAAS (need exactly 1)")
        return found[0]

    def power_state(self, system_id: str) -> str:
        return self.call("GET", f"machines/{system_id}/", {"op": "query_power_state"})["state"]

    def power_off_confirmed(self, host: str) -> None:
        machine = self.machine(host)
        sid = machine["system_id"]
        self.call("POST", f"machines/{sid}/", {"op": "power_off"}, {"stop_mode": "hard"})
        log(f"power_off {host} ({sid}) requested; waiting for the BMC to confirm")
        deadline = time.monotonic() + POWER_OFF_TIMEOUT
        while True:
            state = self.power_state(sid)
            if state == "off":
                log(f"{host} ({sid}) is confirmed off")
                return
            if time.monotonic() > deadline:
                raise MaasError(f"{host} still {state!r} {POWER_OFF_TIMEOUT:.0f}s after power_off")
            time.sleep(POLL_INTERVAL)

    def power_on(self, host: str) -> None:
        machine = self.machine(host)
        self.call("POST", f"machines/{machine['system_id']}/", {"op": "power_on"}, {})
        log(f"power_on {host} ({machine['system_id']}) requested")


INFO = {
    "getconfignames": "url\napikey\nhostnames",
    "getinfo-devid": "maas",
    "getinfo-devname": "MAAS STONITH device (Masakari lab stand-in for hacluster's plugin)",
    "getinfo-devdescr": "Powers machines off and on through the MAAS 2.0 API; reports a fence "
    "only once MAAS confirms the machine is off.",
    "getinfo-devurl": "https://maas.io/docs/api",
    "getinfo-xml": PARAMETERS_XML,
}


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: maas gethosts|status|on|off|reset [host]", file=sys.stderr)
        return 1
    command = argv[0]
    if command in INFO:
        print(INFO[command])
        return 0
    hostnames = os.environ.get("hostnames", "").split()
    if command == "gethosts":
        print("\n".join(hostnames))
        return 0
    try:
        maas = Maas(os.environ.get("url", ""), os.environ.get("apikey", ""))
        if command == "status":
            maas.call("GET", "machines/", {"hostname": [h.split(".")[0] for h in hostnames]})
            return 0
        if command not in ("on", "off", "reset") or len(argv) != 2:
            log(f"unsupported command {' '.join(argv)!r}")
            return 1
        host = argv[1]
        if host not in hostnames:
            log(f"{host} is not in hostnames={' '.join(hostnames)!r}")
            return 1
        log(f"{command} {host}")
        if command in ("off", "reset"):
            maas.power_off_confirmed(host)
        if command in ("on", "reset"):
            try:
                maas.power_on(host)
            except MaasError as err:
                if command == "on":
                    raise
                log(f"fence of {host} done, but power_on failed: {err}")
        return 0
    except MaasError as err:
        log(f"{command} {' '.join(argv[1:])} failed: {err}")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
