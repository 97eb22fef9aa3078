"""A deterministic OpenAI-compatible judge over real HTTP on loopback, for unit tests of the reward client's
arithmetic, retries, concurrency and error reporting (the tiny model's endpoint is tested in test_served_reward.py).

It grades a criterion from a table (criterion text -> true/false, or "garbage" for output that never parses),
checks the bearer key, can fail its first N requests with 503, or hang (a judge that is too slow)."""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeJudge:
    def __init__(self, verdicts: dict[str, object], key: str = "test-key", fail_first: int = 0,
                 always_fail: bool = False, hang: float = 0.0, delay: float = 0.05):
        self.verdicts, self.key = verdicts, key
        self.fail_first, self.always_fail, self.hang, self.delay = fail_first, always_fail, hang, delay
        self.requests: list[dict] = []
        self.in_flight = self.max_in_flight = 0
        self._lock = threading.Lock()
        judge = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _send(self, code: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _authorised(self) -> bool:
                if self.headers.get("Authorization") != f"Bearer {judge.key}":
                    self._send(401, {"error": "Unauthorized"})
                    return False
                return True

            def do_GET(self):
                if self._authorised():
                    self._send(200, {"object": "list", "data": [{"id": "fake-judge", "object": "model",
                                                                  "created": 0, "owned_by": "tests"}]})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if not self._authorised():
                    return
                with judge._lock:
                    judge.requests.append(body)
                    n = len(judge.requests)
                    judge.in_flight += 1
                    judge.max_in_flight = max(judge.max_in_flight, judge.in_flight)
                try:
                    if judge.hang:
                        time.sleep(judge.hang)
                    time.sleep(judge.delay)
                    if judge.always_fail or n <= judge.fail_first:
                        self._send(503, {"error": "overloaded"})
                        return
                    user = body["messages"][-1]["content"]
                    criterion = re.search(r"<criterion>\s*(.*?)\s*</criterion>", user, re.S).group(1)
                    met = judge.verdicts[criterion]
                    content = ('{"explanation": "cut' if met == "garbage" else
                               json.dumps({"explanation": f"checked: {criterion}", "criteria_met": met}))
                    self._send(200, {
                        "id": f"c{n}", "object": "chat.completion", "created": 0, "model": body["model"],
                        "choices": [{"index": 0, "finish_reason": "stop",
                                     "message": {"role": "assistant", "content": content}}],
                        "usage": {"prompt_tokens": 10, "completion_tokens": 7, "total_tokens": 17},
                    })
                finally:
                    with judge._lock:
                        judge.in_flight -= 1

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address):  # a client that gave up (timeouts): not an error
                pass

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "FakeJudge":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def chat_requests(self) -> int:
        return len(self.requests)
