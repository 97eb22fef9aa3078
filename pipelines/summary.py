"""What the committed output holds: the state the admission service is rebuilt from, and summary.json.

Both read the written parquet files, not what this run saw, so a resumed job's summary covers all of its runs. Both
stream the files as Arrow record batches and count with pyarrow compute: no row becomes a Python object, so the
driver's memory does not grow with the output (except one Arrow column of candidate ids, for the duplicate check).
"""

from __future__ import annotations

import json
import posixpath
from collections import Counter
from typing import Any, Iterator

from operators import storage
from operators.llm.ledger import FIELDS
from pipelines.config import Config

BATCH_ROWS = 16_384


def committed_batches(cfg: Config, status: str, columns: list[str]) -> Iterator[Any]:
    """Record batches of the rows already written under <output>/<status>/ (none when there are none)."""
    import pyarrow.dataset as pads

    if not storage.exists(f"{cfg.output.path.rstrip('/')}/{status}", cfg.storage):
        return
    path = f"{storage.strip_scheme(cfg.output.path).rstrip('/')}/{status}"
    fs = storage.arrow_filesystem(cfg.output.path, cfg.storage)
    yield from pads.dataset(path, filesystem=fs, format="parquet").to_batches(columns=columns, batch_size=BATCH_ROWS)


def committed_accepted(cfg: Config) -> Iterator[tuple[str, str, str]]:
    """(candidate_id, domain, question) of every accepted instance already written, batch by batch."""
    for batch in committed_batches(cfg, "accepted", ["candidate_id", "domain", "question"]):
        yield from zip(*(batch.column(i).to_pylist() for i in range(3)))


def committed_owners(cfg: Config) -> Iterator[tuple[str, str]]:
    """(doc_id, record_key) of each document already written that owns its id (a duplicate's row owns nothing)."""
    import pyarrow.compute as pc

    for status in ("accepted", "rejected"):
        for batch in committed_batches(cfg, status, ["doc_id", "record_key", "duplicate_of"]):
            keep = pc.and_(pc.is_valid(batch.column("doc_id")), pc.is_null(batch.column("duplicate_of")))
            kept = batch.filter(keep)
            yield from zip(kept.column("doc_id").to_pylist(), kept.column("record_key").to_pylist())


def committed_state(cfg: Config) -> tuple[Iterator[tuple[str, str, str]], Iterator[tuple[str, str]]]:
    """What the admission service must know after a restart, as two streams it consumes once: accepted
    (candidate_id, domain, question) rows and (doc_id, record_key) owners of the documents already written."""
    return committed_accepted(cfg), committed_owners(cfg)


SUMMARY_COLUMNS = ["unit", "candidate_id", "reject_stage", "domain", "split", "errored", "usage",
                   "document_usage"]


class _Ledger:
    """Per-stage sums of the usage columns, batch by batch."""

    def __init__(self) -> None:
        self.stages: dict[str, dict[str, float]] = {}

    def add(self, usage_lists: Any) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        flat = pc.list_flatten(usage_lists)
        if len(flat) == 0:
            return
        table = pa.Table.from_arrays(flat.flatten(), names=[f.name for f in flat.type])
        sums = table.group_by("stage").aggregate([(f, "sum") for f in FIELDS]).to_pydict()
        for i, stage in enumerate(sums["stage"]):
            row = self.stages.setdefault(stage, dict.fromkeys(FIELDS, 0))
            for f in FIELDS:
                row[f] += sums[f"{f}_sum"][i] or 0

    def total(self) -> dict[str, float]:
        return {f: sum(s[f] for s in self.stages.values()) for f in FIELDS}


def _rounded(row: dict[str, float], per: float = 1.0) -> dict[str, float]:
    return {f: round(row[f] / per, 3 if per != 1.0 or f == "seconds" else None) for f in FIELDS}  # type: ignore


def summarize(batches: Iterator[tuple[str, Any]]) -> dict[str, Any]:
    """Counts and the token ledger from (status, record batch of SUMMARY_COLUMNS) pairs of the output (the status
    is the folder a row was written to)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    counts: dict[str, Counter] = {k: Counter() for k in ("doc_stage", "cand_status", "cand_stage", "domain", "split")}
    documents = errored = 0
    ledger, refused = _Ledger(), _Ledger()
    refused_candidates = refused_documents = 0
    ids = []

    def tally(key: str, array: Any) -> None:
        for item in pc.value_counts(array).to_pylist():
            counts[key][item["values"]] += item["counts"]

    def count(mask: Any) -> int:
        return pc.sum(mask.cast(pa.int64())).as_py() or 0

    for status, batch in batches:
        unit, stage = batch.column("unit"), batch.column("reject_stage")
        is_doc, is_cand = pc.equal(unit, "document"), pc.equal(unit, "candidate")
        first = pc.is_valid(batch.column("document_usage"))  # each document's first row
        documents += count(first)
        errored += count(pc.and_(first, pc.fill_null(batch.column("errored"), False)))
        tally("doc_stage", stage.filter(is_doc))
        cands = batch.filter(is_cand)
        counts["cand_status"][status] += len(cands)
        if status == "rejected":
            tally("cand_stage", cands.column("reject_stage"))
        else:
            tally("domain", cands.column("domain"))
            tally("split", cands.column("split"))
        ledger.add(batch.column("usage"))
        ledger.add(batch.column("document_usage"))
        quota = pc.fill_null(pc.equal(stage, "quota"), False)
        refused.add(batch.filter(pc.and_(quota, is_cand)).column("usage"))
        refused.add(batch.filter(pc.and_(quota, is_doc)).column("document_usage"))
        refused_candidates += count(pc.and_(quota, is_cand))
        refused_documents += count(pc.and_(quota, is_doc))
        ids.append(batch.column("candidate_id"))
    n_ids = sum(len(a) for a in ids)
    distinct = pc.count_distinct(pa.chunked_array(ids, pa.string())).as_py() if ids else 0

    n_accepted, n_rejected = counts["cand_status"]["accepted"], counts["cand_status"]["rejected"]
    n_cands = sum(counts["cand_status"].values())
    total = ledger.total()
    stages = {s: _rounded(row) for s, row in sorted(ledger.stages.items())}
    return {
        "documents_read": documents,
        "documents_rejected_before_candidates": sum(counts["doc_stage"].values()),
        "documents_rejected_by_stage": dict(counts["doc_stage"]),
        "documents_errored": errored,
        "candidates": n_cands,
        "accepted": n_accepted,
        "rejected": n_rejected,
        "rejected_by_stage": dict(counts["cand_stage"]),
        "accepted_by_domain": dict(counts["domain"]),
        "accepted_by_split": dict(counts["split"]),
        "acceptance_rate": round(n_accepted / n_cands, 4) if n_cands else None,
        "duplicate_candidate_ids": n_ids - distinct,
        "ledger": {
            "stages": stages,
            "total": _rounded(total),
            "per_accepted": ({s: _rounded(row, n_accepted) for s, row in sorted(ledger.stages.items())}
                             | {"total": _rounded(total, n_accepted)}) if n_accepted else None,
            "refused_for_quota": {"candidates": refused_candidates, "documents": refused_documents,
                                  **_rounded(refused.total())},
        },
    }


def write_summary(cfg: Config, extra: dict[str, Any]) -> dict[str, Any]:
    """Count what the output holds and write summary.json beside it."""

    def batches():
        for status in ("accepted", "rejected"):
            for batch in committed_batches(cfg, status, SUMMARY_COLUMNS):
                yield status, batch

    summary = summarize(batches())
    summary.update(extra)
    summary["output"] = cfg.output.path
    fs = storage.arrow_filesystem(cfg.output.path, cfg.storage)
    path = posixpath.join(storage.strip_scheme(cfg.output.path).rstrip("/"), "summary.json")
    with fs.open_output_stream(path) as f:
        f.write(json.dumps(summary, indent=2, sort_keys=True).encode())
    return summary
