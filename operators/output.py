"""Output rows: one per candidate (or per document that produced none), a fixed Arrow schema, and the summary.

Rows are written under `<output>/accepted/` and `<output>/rejected/` by status. A document rejected before it had
candidates (unreadable, filtered) is kept as a `unit="document"` row in `rejected/`: nothing disappears silently.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pyarrow as pa

from operators.state import Candidate, DocumentState

RUBRIC_TYPE = pa.list_(
    pa.struct([("criterion", pa.string()), ("weight", pa.int32()), ("polarity", pa.string())])
)
VERDICTS_TYPE = pa.list_(
    pa.struct([("stage", pa.string()), ("passed", pa.bool_()), ("reason", pa.string()), ("score", pa.float64())])
)

OUTPUT_SCHEMA = pa.schema(
    [
        ("record_key", pa.string()),
        ("unit", pa.string()),
        ("candidate_id", pa.string()),
        ("status", pa.string()),
        ("reject_stage", pa.string()),
        ("reject_reason", pa.string()),
        ("doc_id", pa.string()),
        ("duplicate_of", pa.string()),
        ("source", pa.string()),
        ("row", pa.int64()),
        ("doc_hash", pa.string()),
        ("chunk_index", pa.int32()),
        ("chunk_start", pa.int64()),
        ("chunk_end", pa.int64()),
        ("domain", pa.string()),
        ("persona", pa.string()),
        ("question", pa.string()),
        ("reference_answer", pa.string()),
        ("rubric", RUBRIC_TYPE),
        ("flawed_answer", pa.string()),
        ("reference_score", pa.float64()),
        ("flawed_score", pa.float64()),
        ("split", pa.string()),
        ("document_verdicts", VERDICTS_TYPE),
        ("verdicts", VERDICTS_TYPE),
        ("errored", pa.bool_()),
        ("prompts_version", pa.string()),
        ("models", pa.string()),
        ("run_name", pa.string()),
    ]
)


def _doc_fields(doc: DocumentState) -> dict[str, Any]:
    return {
        "record_key": doc.record_key,
        "doc_id": doc.doc_id,
        "duplicate_of": doc.duplicate_of,
        "source": doc.source,
        "row": doc.row,
        "doc_hash": doc.doc_hash,
        "domain": doc.domain,
        "document_verdicts": [v.model_dump() for v in doc.verdicts],
        "errored": doc.errored,
    }


def _candidate_fields(doc: DocumentState, cand: Candidate) -> dict[str, Any]:
    chunk = next((c for c in doc.chunks if c.index == cand.chunk_index), None)
    status = cand.status
    stage, reason = cand.reject_stage, cand.reject_reason
    if not doc.alive and status != "rejected":  # the document was rejected after its candidates were planned
        status, stage, reason = "rejected", doc.reject_stage, doc.reject_reason
    if status == "pending":  # a stage forgot to decide: never let that pass as accepted
        status, stage, reason = "rejected", "pipeline", "candidate left undecided by the pipeline"
    return {
        "unit": "candidate",
        "candidate_id": cand.candidate_id,
        "status": status,
        "reject_stage": stage,
        "reject_reason": reason,
        "chunk_index": cand.chunk_index,
        "chunk_start": chunk.start if chunk else None,
        "chunk_end": chunk.end if chunk else None,
        "domain": cand.domain,
        "persona": cand.persona,
        "question": cand.question,
        "reference_answer": cand.reference_answer,
        "rubric": [item.model_dump() for item in cand.rubric],
        "flawed_answer": cand.flawed_answer,
        "reference_score": cand.reference_score,
        "flawed_score": cand.flawed_score,
        "split": cand.split,
        "verdicts": [v.model_dump() for v in cand.verdicts],
    }


def to_rows(doc: DocumentState, meta: dict[str, Any]) -> list[dict[str, Any]]:
    base = {**_doc_fields(doc), **meta}
    if not doc.candidates:
        return [
            {
                **base,
                "unit": "document",
                "candidate_id": f"doc-{doc.record_key}",
                "status": "rejected",
                "reject_stage": doc.reject_stage or "pipeline",
                "reject_reason": doc.reject_reason or "document produced no candidates",
            }
        ]
    return [{**base, **_candidate_fields(doc, c)} for c in doc.candidates]


def to_table(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=OUTPUT_SCHEMA)


def summarize(table: pa.Table) -> dict[str, Any]:
    """Counts from the written output (columns unit, status, reject_stage, record_key, domain, split, errored)."""
    rows = table.to_pylist()
    docs = {r["record_key"] for r in rows}
    cands = [r for r in rows if r["unit"] == "candidate"]
    accepted = [r for r in cands if r["status"] == "accepted"]
    rejected = [r for r in cands if r["status"] == "rejected"]
    doc_rejects = [r for r in rows if r["unit"] == "document"]
    return {
        "documents_read": len(docs),
        "documents_rejected_before_candidates": len(doc_rejects),
        "documents_rejected_by_stage": dict(Counter(r["reject_stage"] for r in doc_rejects)),
        "documents_errored": len({r["record_key"] for r in rows if r["errored"]}),
        "candidates": len(cands),
        "accepted": len(accepted),
        "rejected": len(rejected),
        "rejected_by_stage": dict(Counter(r["reject_stage"] for r in rejected)),
        "accepted_by_domain": dict(Counter(r["domain"] for r in accepted)),
        "accepted_by_split": dict(Counter(r["split"] for r in accepted)),
        "acceptance_rate": round(len(accepted) / len(cands), 4) if cands else None,
    }


def dumps_models(models: dict[str, str]) -> str:
    return json.dumps(models, sort_keys=True)
