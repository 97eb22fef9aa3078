"""What travels through the pipeline: one `DocumentState` per input record, holding all of its candidates.

A document is serialized to JSON between Ray Data operators and stays one row until the write. That is what makes
Ray Data's checkpoint resume exact: the checkpoint id is the input record, and all of a record's outputs land in one
file. Stages declare which of these fields they read and write (`operators.stage.Stage`), by the names used here:
`document.<field>` and `candidate.<field>`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from operators.learnability import Learnability
from operators.llm.ledger import Usage
from operators.schemas import RubricItem


class Verdict(BaseModel):
    stage: str
    passed: bool
    reason: str
    score: float | None = None


class Flag(BaseModel):
    """What a deterministic check could not decide, handed to the judge that owns it: the judge sees `detail` in
    its prompt and rules "defect" (the candidate is rejected for it) or "fine"; both are kept in the row."""

    judge: str  # the stage that must rule (rubric_judge, self_containment, leakage, faithfulness)
    check: str  # the check that raised it
    detail: str
    ruling: Literal["defect", "fine"] | None = None


class Judged(BaseModel):
    """What stages pass verdicts on (a document, a candidate): the first failing verdict rejects it."""

    verdicts: list[Verdict] = Field(default_factory=list)
    status: str = "pending"
    reject_stage: str | None = None
    reject_reason: str | None = None
    usage: dict[str, Usage] = Field(default_factory=dict)  # engine calls made for it, per stage (the token ledger)

    @property
    def alive(self) -> bool:
        return self.status == "pending"

    def record(self, stage: str, passed: bool, reason: str, score: float | None = None) -> None:
        self.verdicts.append(Verdict(stage=stage, passed=passed, reason=reason, score=score))
        if not passed and self.alive:
            self.status, self.reject_stage, self.reject_reason = "rejected", stage, reason

    def note(self, stage: str, reason: str) -> None:
        """A passing remark that decides nothing (a cut text, a fallback id)."""
        self.verdicts.append(Verdict(stage=stage, passed=True, reason=reason))


class Chunk(BaseModel):
    index: int
    start: int
    end: int
    text: str


class Candidate(Judged):
    candidate_id: str
    chunk_index: int
    persona: str
    domain: str
    question: str | None = None
    reference_answer: str | None = None
    rubric: list[RubricItem] = Field(default_factory=list)
    flawed_answer: str | None = None
    reference_score: float | None = None
    flawed_score: float | None = None
    flags: list[Flag] = Field(default_factory=list)  # undecided points for a judge; ruled on by that judge
    policy_answers: list[str] = Field(default_factory=list)  # the policy's K answers, until they are graded
    learnability: Learnability | None = None
    split: str | None = None
    status: Literal["pending", "accepted", "rejected"] = "pending"

    def flag(self, judge: str, check: str, detail: str) -> None:
        self.flags.append(Flag(judge=judge, check=check, detail=detail))

    def flags_for(self, judge: str) -> list[Flag]:
        return [f for f in self.flags if f.judge == judge]


class DocumentState(Judged):
    """One input record and everything derived from it."""

    record_key: str  # the checkpoint id: source file and line, unique by construction
    doc_id: str | None
    source: str
    row: int
    read_error: str | None = None  # what the reader could not use (the ingest stage turns it into a reject)
    duplicate_of: str | None = None  # record_key of the record that owns this document id, when it is not this one
    doc_hash: str | None = None  # sha256 of the text as read (provenance)
    content_key: str | None = None  # hash of the normalised text: the split key (case, BOM, CRLF do not change it)
    text: str | None = None  # dropped once chunked
    text_chars: int = 0
    chunks: list[Chunk] = Field(default_factory=list)
    domain: str | None = None
    personas: list[str] = Field(default_factory=list)
    candidates: list[Candidate] = Field(default_factory=list)
    status: Literal["pending", "rejected"] = "pending"
    errored: bool = False  # a stage raised on this document (counted against ray.max_errored_fraction)

    @classmethod
    def from_read_row(cls, row: dict[str, Any]) -> "DocumentState":
        """A row of the document reader (`read_documents.ROW_SCHEMA`)."""
        return cls(record_key=row["record_key"], doc_id=row.get("doc_id"), source=row["source"], row=int(row["row"]),
                   text=row.get("text"), read_error=row.get("error"))

    def chunk(self, index: int) -> Chunk:
        """The chunk with this index (chunks a judge refused are gone from the list; indexes stay stable)."""
        for chunk in self.chunks:
            if chunk.index == index:
                return chunk
        raise KeyError(f"{self.record_key}: no chunk {index}")

    def excerpt(self) -> str:
        """Every chunk, in order, as one text: what a stage that looks at the whole document is shown."""
        return "\n\n[...]\n\n".join(c.text for c in self.chunks)

    def live_candidates(self) -> list[Candidate]:
        return [c for c in self.candidates if c.alive] if self.alive else []


def field_names(unit: str) -> frozenset[str]:
    """`document.<f>` / `candidate.<f>` names a stage may declare it reads or writes."""
    model = {"document": DocumentState, "candidate": Candidate}[unit]
    return frozenset(f"{unit}.{name}" for name in model.model_fields)
