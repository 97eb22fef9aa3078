"""Read a job's output folder (local, file:// or s3://): its accepted and rejected rows with pyarrow, column by
column as asked, and its summary.json. `ares report`, `ares inspect` and `ares export` read through this."""

from __future__ import annotations

import json
import posixpath
from typing import Any

import pyarrow as pa

from operators import storage
from operators.output import OUTPUT_SCHEMA
from pipelines.config import StorageConfig

STATUSES = ("accepted", "rejected")


class OutputError(ValueError):
    """The path holds no ARES output; the message is one line naming it."""


class JobOutput:
    def __init__(self, path: str, storage_cfg: StorageConfig | None = None):
        self.path = path.rstrip("/")
        self.storage = storage_cfg or StorageConfig()
        self.fs = storage.arrow_filesystem(self.path, self.storage)
        self.root = storage.strip_scheme(self.path)
        self._datasets: dict[str, Any] = {}
        for status in STATUSES:
            if storage.exists(f"{self.path}/{status}", self.storage):
                import pyarrow.dataset as pads

                self._datasets[status] = pads.dataset(posixpath.join(self.root, status), filesystem=self.fs,
                                                      format="parquet")
        self.summary = self._read_json("summary.json")
        if not self._datasets and self.summary is None:
            raise OutputError(f"no ARES output at {path} (expected accepted/, rejected/ and summary.json there)")

    def _read_json(self, name: str) -> dict[str, Any] | None:
        try:
            with self.fs.open_input_stream(posixpath.join(self.root, name)) as f:
                return json.loads(f.read())
        except (FileNotFoundError, OSError):
            return None

    def table(self, status: str, columns: list[str] | None = None, filter=None) -> pa.Table:
        """Rows written under <output>/<status>/ (the `status` column added back), only `columns` if given;
        an empty table of the output schema when there are none."""
        cols = [c for c in (columns or OUTPUT_SCHEMA.names) if c != "status"]
        ds = self._datasets.get(status)
        if ds is None:
            t = OUTPUT_SCHEMA.empty_table().select(cols)
        else:
            t = ds.to_table(columns=cols, filter=filter)
        if columns is None or "status" in columns:
            t = t.append_column("status", pa.array([status] * len(t), pa.string()))
        return t

    def head(self, status: str, n: int, filter=None) -> tuple[list[dict[str, Any]], int]:
        """(the first n rows under <output>/<status>/ matching `filter`, how many match in all), reading no more
        than that from the files."""
        ds = self._datasets.get(status)
        if ds is None:
            return [], 0
        rows = ds.head(n, filter=filter).to_pylist()
        for r in rows:
            r["status"] = status
        return rows, ds.count_rows(filter=filter)

    def rows(self, columns: list[str] | None = None, filter=None) -> pa.Table:
        """Accepted and rejected rows together."""
        return pa.concat_tables([self.table(s, columns, filter) for s in STATUSES])
