"""Plan: one candidate per (chunk, persona), each with a stable id, before any expensive call.

The id hashes the input record, the chunk index and the persona's slot, not model text, so a rerun that resumes
a killed job names the same candidates. Domains whose quota of accepted instances is met stop here.
"""

from __future__ import annotations

import hashlib

from pydantic import Field

from operators.stage import StageConfig, StageContext, stage
from operators.state import Candidate, DocumentState

NAME = "plan"


class PlanConfig(StageConfig):
    personas_per_chunk: int = Field(2, ge=1, le=10, description="Candidates per chunk: one per persona, up to this many.")


def candidate_id(record_key: str, chunk_index: int, slot: int) -> str:
    return hashlib.sha256(f"{record_key}|{chunk_index}|{slot}".encode()).hexdigest()[:20]


def run(docs: list[DocumentState], ctx: StageContext) -> None:
    k = ctx.conf.personas_per_chunk
    admission = ctx.services.get("admission")
    full = set(admission.full_domains()) if admission is not None else set()
    for doc in docs:
        if not doc.alive:
            continue
        if not doc.personas:
            doc.record(NAME, False, "no persona for this document")
            continue
        for chunk in doc.chunks:
            for slot, persona in enumerate(doc.personas[:k]):
                cand = Candidate(
                    candidate_id=candidate_id(doc.record_key, chunk.index, slot),
                    chunk_index=chunk.index,
                    persona=persona,
                    domain=doc.domain or "",
                )
                if doc.domain in full:
                    cand.record("quota", False, f"quota of accepted instances for domain {doc.domain!r} is met")
                doc.candidates.append(cand)


STAGE = stage(
    NAME, run, "one candidate per (chunk, persona) with a stable id; domains whose quota is met stop here",
    reads=["document.chunks", "document.domain", "document.personas"],
    writes=["document.candidates", "candidate.candidate_id", "candidate.chunk_index", "candidate.persona",
            "candidate.domain"],
    config=PlanConfig, optional=False, verdicts=("quota",),
)
