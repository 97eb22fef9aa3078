"""A fault-injecting HTTP proxy in front of the moto S3 server: real S3 requests over loopback, some of which fail.

`FaultyS3(upstream).failing(prefix)` answers every request that touches `bucket/prefix...` (an object, or a listing
whose `prefix` parameter starts there) with 503 SlowDown, as an overloaded S3 does; everything else is forwarded.
"""

from __future__ import annotations

import contextlib
import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

ERROR_BODY = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
              b"<Message>Please reduce your request rate.</Message></Error>")


class FaultyS3:
    def __init__(self, upstream: str):
        self.upstream = urlsplit(upstream)
        self.fail_prefixes: set[str] = set()
        self.failed = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _handle(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if owner._fails(self.path):
                    owner.failed += 1
                    self.send_response(503)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(ERROR_BODY)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(ERROR_BODY)
                    return
                conn = http.client.HTTPConnection(owner.upstream.hostname, owner.upstream.port, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                headers["Host"] = owner.upstream.netloc
                conn.request(self.command, self.path, body=body or None, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                conn.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _fails(self, raw_path: str) -> bool:
        parts = urlsplit(raw_path)
        path = unquote(parts.path).lstrip("/")
        query = parse_qs(parts.query)
        bucket = path.split("/", 1)[0]
        targets = [path] + [f"{bucket}/{p}" for p in query.get("prefix", [])]
        return any(t.startswith(p) for t in targets for p in self.fail_prefixes)

    @contextlib.contextmanager
    def failing(self, prefix: str):
        """Requests touching `prefix` ("bucket/key-prefix") fail while in this block."""
        self.fail_prefixes.add(prefix)
        try:
            yield self
        finally:
            self.fail_prefixes.discard(prefix)

    def close(self) -> None:
        self.server.shutdown()
