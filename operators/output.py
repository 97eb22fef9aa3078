"""Output rows: one per candidate (or per document that produced none), a fixed Arrow schema, and the summary.

Rows are written under `<output>/accepted/` and `<output>/rejected/` by status. A document rejected before it had
candidates (unreadable, filtered) is kept as a `unit="document"` row in `rejected/`: nothing disappears silently.

The token ledger is written with the rows: `usage` holds the engine calls made for a row's candidate, per stage;
`document_usage` the calls made for the document itself (judge, label), on the document's first row only (null on
its other rows), so that a sum over rows counts each call once and its non-null count is the number of documents.
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

from operators.state import Candidate, DocumentState

RUBRIC_TYPE = pa.list_(
    pa.struct([("criterion", pa.string()), ("weight", pa.int32()), ("polarity", pa.string())])
)
VERDICTS_TYPE = pa.list_(
    pa.struct([("stage", pa.string()), ("passed", pa.bool_()), ("reason", pa.string()), ("score", pa.float64())])
)

FLAGS_TYPE = pa.list_(
    pa.struct([("judge", pa.string()), ("check", pa.string()), ("detail", pa.string()), ("ruling", pa.string())])
)

USAGE_TYPE = pa.list_(
    pa.struct([("stage", pa.string()), ("calls", pa.int64()), ("prompt_tokens", pa.int64()),
               ("cached_prompt_tokens", pa.int64()), ("output_tokens", pa.int64()), ("seconds", pa.float64())])
)
LEARNABILITY_TYPE = pa.struct([
    ("k", pa.int32()), ("scores", pa.list_(pa.float64())), ("errors", pa.list_(pa.string())),
    ("mean", pa.float64()), ("std", pa.float64()), ("share_above", pa.float64()),
    ("answers", pa.list_(pa.string())), ("answer_hashes", pa.list_(pa.string())),
])

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
        ("learnability", LEARNABILITY_TYPE),
        ("split", pa.string()),
        ("document_verdicts", VERDICTS_TYPE),
        ("verdicts", VERDICTS_TYPE),
        ("flags", FLAGS_TYPE),
        ("errored", pa.bool_()),
        ("usage", USAGE_TYPE),
        ("document_usage", USAGE_TYPE),
        ("prompts_version", pa.string()),
        ("models", pa.string()),
        ("run_name", pa.string()),
    ]
)


def usage_rows(usage: dict) -> list[dict[str, Any]]:
    return [{"stage": stage, **u.model_dump()} for stage, u in usage.items()]


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
        "learnability": cand.learnability.model_dump() if cand.learnability else None,
        "split": cand.split,
        "verdicts": [v.model_dump() for v in cand.verdicts],
        "flags": [f.model_dump() for f in cand.flags],
        "usage": usage_rows(cand.usage),
    }


def to_rows(doc: DocumentState, meta: dict[str, Any]) -> list[dict[str, Any]]:
    base = {**_doc_fields(doc), **meta}
    if not doc.candidates:
        rows = [
            {
                **base,
                "unit": "document",
                "candidate_id": f"doc-{doc.record_key}",
                "status": "rejected",
                "reject_stage": doc.reject_stage or "pipeline",
                "reject_reason": doc.reject_reason or "document produced no candidates",
                "usage": [],
            }
        ]
    else:
        rows = [{**base, **_candidate_fields(doc, c)} for c in doc.candidates]
    rows[0]["document_usage"] = usage_rows(doc.usage)
    return rows


def to_table(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=OUTPUT_SCHEMA)


def dumps_models(models: dict[str, str]) -> str:
    return json.dumps(models, sort_keys=True)
