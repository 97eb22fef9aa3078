"""An append-only decision log on fsspec storage (local disk or S3), one small JSON object per entry.

The admission actor writes each decision here before it answers, so that if Ray restarts the actor in the middle
of a run (its process or node died) the new instance replays what the old one decided: the rows it admitted are
still in flight and will be written, so forgetting them would let a duplicate or an over-quota instance through.
A journal belongs to one attempt of a job; a new attempt starts from the committed output and a fresh journal.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, Iterator


class Journal:
    def __init__(self, fs: Any, directory: str):
        self.fs, self.dir = fs, directory.rstrip("/")
        self._token = uuid.uuid4().hex[:8]  # two writers (which Ray should never allow) still cannot collide
        self._seq = 0
        fs.makedirs(self.dir, exist_ok=True)

    def replay(self) -> Iterator[dict]:
        """Every entry in the order it was appended; the next `append` continues after the last one."""
        if not self.fs.exists(self.dir):
            return
        paths = sorted(p for p in self.fs.find(self.dir) if p.endswith(".json"))
        if paths:
            self._seq = int(paths[-1].rsplit("/", 1)[-1].split("-", 1)[0]) + 1
            blobs = self.fs.cat(paths)  # s3fs fetches these concurrently
            for p in paths:
                yield json.loads(blobs[p])

    def append(self, entry: dict) -> None:
        path = f"{self.dir}/{self._seq:012d}-{self._token}.json"
        self.fs.pipe(path, json.dumps(entry).encode())
        self._seq += 1

    def clear(self) -> None:
        if self.fs.exists(self.dir):
            self.fs.rm(self.dir, recursive=True)
