"""The scripted engine client, slowed down: each `run` (one stage's calls for a batch) prints that it started and takes
`DELAY` seconds, so that a test can kill a node while a batch is in flight on it. Outputs are the scripted client's.

Selected with `engines.<name>.client=tests.slow_scripted_engine:SlowScriptedClient`.
"""

from __future__ import annotations

import os
import time

from tests.scripted_engine import ScriptedClient

DELAY = 0.5
STARTED = "[scripted] batch in flight"


class SlowScriptedClient(ScriptedClient):
    def run(self, requests):
        print(f"{STARTED} pid={os.getpid()} stage={requests[0].stage if requests else '-'}", flush=True)
        time.sleep(DELAY)
        return super().run(requests)
