"""A stub of the Neutron API, not Neutron: just enough for nova to boot and evacuate servers
that have no network (`--nic none`). Nova still lists ports, networks and extensions on build
and on rebuild; every collection here is empty. Listens on the lab's control address only.

Run as: /usr/bin/python3 neutron_stub.py <address> <port>
"""

from __future__ import annotations

import json
import re
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _send(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        path = self.path.split("?", 1)[0].rstrip("/")
        if path == "":
            address, port = self.server.server_address[:2]
            self._send(
                200,
                {
                    "versions": [
                        {
                            "id": "v2.0",
                            "status": "CURRENT",
                            "links": [{"rel": "self", "href": f"http://{address}:{port}/v2.0/"}],
                        }
                    ]
                },
            )
            return
        match = re.fullmatch(r"/v2\.0/([a-z_-]+?)(?:\.json)?", path)
        if match:
            self._send(200, {match.group(1).replace("-", "_"): []})
            return
        self._not_found()

    def _not_found(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self._send(
            404,
            {
                "NeutronError": {
                    "type": "NotFound",
                    "message": f"neutron stub: {self.command} {self.path}",
                    "detail": "",
                }
            },
        )

    do_POST = do_PUT = do_DELETE = _not_found  # noqa: N815

    def log_message(self, fmt: str, *args) -> None:
        sys.stderr.write(f"{self.command} {self.path}\n")


def main() -> None:
    ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), Handler).serve_forever()


if __name__ == "__main__":
    main()
