"""Pydantic contracts: what each stage reads and writes, and what each LLM call must return.

A document travels through the pipeline as one `DocumentState` (serialized to JSON between Ray Data operators)
holding all of its candidates. Keeping a document's candidates in one row until the write is what makes Ray Data's
checkpoint resume exact: the checkpoint id is the input record, and all of a record's outputs land in one file.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Polarity = Literal["positive", "negative"]


# ---------------------------------------------------------------- LLM output contracts (JSON-schema constrained)


class LLMOutput(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DomainLabel(LLMOutput):
    domain: str


class DomainPersonas(DomainLabel):
    personas: list[str] = Field(min_length=1)


class RubricItem(LLMOutput):
    criterion: str = Field(min_length=1)
    weight: int
    polarity: Polarity


class GeneratedInstance(LLMOutput):
    question: str = Field(min_length=1)
    reference_answer: str = Field(min_length=1)
    rubric: list[RubricItem] = Field(min_length=1)


class BinaryJudgement(LLMOutput):
    """Reason first, so the verdict is conditioned on it."""

    reason: str = Field(max_length=400)
    verdict: Literal["yes", "no"]


class CriterionJudgement(LLMOutput):
    """The grader's answer for one rubric criterion (HealthBench's shape)."""

    explanation: str = Field(max_length=400)
    criteria_met: bool


class FlawedAnswer(LLMOutput):
    answer: str = Field(min_length=1)


# ---------------------------------------------------------------- pipeline state


class Verdict(BaseModel):
    stage: str
    passed: bool
    reason: str
    score: float | None = None


class Judged(BaseModel):
    """What stages pass verdicts on (a document, a candidate): the first failing verdict rejects it."""

    verdicts: list[Verdict] = Field(default_factory=list)
    status: str = "pending"
    reject_stage: str | None = None
    reject_reason: str | None = None

    @property
    def alive(self) -> bool:
        return self.status == "pending"

    def record(self, stage: str, passed: bool, reason: str, score: float | None = None) -> None:
        self.verdicts.append(Verdict(stage=stage, passed=passed, reason=reason, score=score))
        if not passed and self.alive:
            self.status, self.reject_stage, self.reject_reason = "rejected", stage, reason


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
    split: str | None = None
    status: Literal["pending", "accepted", "rejected"] = "pending"


class DocumentState(Judged):
    """One input record and everything derived from it."""

    record_key: str  # the checkpoint id: source file and line, unique by construction
    doc_id: str | None
    source: str
    row: int
    doc_hash: str | None = None
    text: str | None = None  # dropped once chunked
    text_chars: int = 0
    chunks: list[Chunk] = Field(default_factory=list)
    domain: str | None = None
    personas: list[str] = Field(default_factory=list)
    candidates: list[Candidate] = Field(default_factory=list)
    status: Literal["pending", "rejected"] = "pending"
    errored: bool = False  # a stage raised on this document (counted against ray.max_errored_fraction)

    def live_candidates(self) -> list[Candidate]:
        return [c for c in self.candidates if c.alive] if self.alive else []
