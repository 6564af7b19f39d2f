"""Loopback servers of the rehearsal: CloudFormation's side of a custom resource (the
``ResponseURL`` its answer is PUT to) and a counting proxy to an external IoT FleetWise endpoint."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def _serve(
    handler: type[BaseHTTPRequestHandler], name: str
) -> tuple[ThreadingHTTPServer, threading.Thread]:
    """A loopback HTTP server on an ephemeral port, served from a daemon thread."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True
    )
    thread.start()
    return server, thread


def _stop(server: ThreadingHTTPServer, thread: threading.Thread) -> None:
    server.shutdown()
    server.server_close()
    thread.join()


class ResponseCatcher:
    """CloudFormation's side of a custom resource: a loopback URL that keeps PUT answers."""

    def __init__(self) -> None:
        answers: list[dict[str, Any]] = []
        self.answers = answers

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                try:
                    answers.append(json.loads(body))
                except ValueError:
                    answers.append({"unparsable": body.decode(errors="replace")})
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server, self._thread = _serve(Handler, "custom-resource-responses")

    def url(self, request_id: str) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/{request_id}"

    def close(self) -> None:
        _stop(self._server, self._thread)


class RecordingProxy:
    """A loopback pass-through to an external FleetWise endpoint that counts each request.

    With an external endpoint there is no simulator log to read, so the functions are pointed
    at this proxy and every attempt (answered with an error or not) is counted by its
    ``X-Amz-Target`` operation."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.operations: list[str] = []
        operations = self.operations
        base = self.upstream

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                target = self.headers.get("X-Amz-Target", "")
                operations.append(target.rsplit(".", 1)[-1])
                headers = {
                    k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")
                }
                request = urllib.request.Request(  # noqa: S310 - a loopback/operator endpoint
                    base + self.path, data=body, method="POST", headers=headers
                )
                try:
                    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
                        status, payload, reply_headers = (
                            answer.status,
                            answer.read(),
                            answer.headers,
                        )
                except urllib.error.HTTPError as error:
                    status, payload, reply_headers = error.code, error.read(), error.headers
                self.send_response(status)
                for key, value in reply_headers.items():
                    if key.lower() not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server, self._thread = _serve(Handler, "fleetwise-proxy")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        _stop(self._server, self._thread)
