"""What the committed output holds: the state the admission service is rebuilt from, and summary.json.

Both read the written parquet files, not what this run saw, so a resumed job's summary covers all of its runs.
"""

from __future__ import annotations

import json
import posixpath
from typing import Any

from operators import output, storage
from pipelines.config import Config


def read_committed(cfg: Config, status: str, columns: list[str]):
    """Columns of the rows already written under <output>/<status>/, or None when there are none."""
    import pyarrow.dataset as pads

    if not storage.exists(f"{cfg.output.path.rstrip('/')}/{status}", cfg.storage):
        return None
    path = f"{storage.strip_scheme(cfg.output.path).rstrip('/')}/{status}"
    fs = storage.arrow_filesystem(cfg.output.path, cfg.storage)
    return pads.dataset(path, filesystem=fs, format="parquet").to_table(columns=columns)


def committed_state(cfg: Config) -> tuple[list[tuple[str, str, str]], dict[str, str]]:
    """What the admission service must know after a restart: accepted (candidate_id, domain, question) rows and
    the {doc_id: record_key} owners of the documents already written (a duplicate's row owns nothing)."""
    accepted: list[tuple[str, str, str]] = []
    owners: dict[str, str] = {}
    for status in ("accepted", "rejected"):
        table = read_committed(cfg, status, ["candidate_id", "domain", "question", "doc_id", "record_key",
                                             "duplicate_of"])
        if table is None:
            continue
        for row in table.to_pylist():
            if status == "accepted":
                accepted.append((row["candidate_id"], row["domain"], row["question"]))
            if row["doc_id"] is not None and row["duplicate_of"] is None:
                owners.setdefault(row["doc_id"], row["record_key"])
    return accepted, owners


def write_summary(cfg: Config, extra: dict[str, Any]) -> dict[str, Any]:
    """Count what the output holds and write summary.json beside it."""
    import pyarrow as pa

    cols = ["record_key", "unit", "candidate_id", "reject_stage", "domain", "split", "errored"]
    tables = []
    for status in ("accepted", "rejected"):
        t = read_committed(cfg, status, cols)
        if t is not None:
            tables.append(t.append_column("status", pa.array([status] * len(t), pa.string())))
    table = pa.concat_tables(tables) if tables else output.to_table([])
    summary = output.summarize(table)
    summary["duplicate_candidate_ids"] = len(table) - len(set(table.column("candidate_id").to_pylist()))
    summary.update(extra)
    summary["output"] = cfg.output.path
    fs = storage.arrow_filesystem(cfg.output.path, cfg.storage)
    path = posixpath.join(storage.strip_scheme(cfg.output.path).rstrip("/"), "summary.json")
    with fs.open_output_stream(path) as f:
        f.write(json.dumps(summary, indent=2, sort_keys=True).encode())
    return summary
