"""Admission, the last stage before the write: cluster-wide quotas and duplicates, then the split.

Candidates still alive here have passed every filter. The admission service (one named actor) decides for all of
a batch at once: over-quota candidates are rejected as `quota`, exact and near-duplicate questions as `dedup`. An
admitted candidate gets its split from its source document, so a document's instances never straddle two splits.
"""

from __future__ import annotations

import hashlib

from pydantic import Field, model_validator

from operators.config_base import Strict
from operators.services.admission import DedupConfig, QuotaConfig
from operators.stage import StageConfig, StageContext, stage
from operators.state import DocumentState

NAME = "admission"


class SplitConfig(Strict):
    train: float = Field(0.9, ge=0, description="Share of documents whose instances go to the train split.")
    validation: float = Field(0.05, ge=0, description="Share of documents for the validation split.")
    test: float = Field(0.05, ge=0, description="Share of documents for the test split.")
    seed: str = Field("ares", description="Salt of the split hash: another seed draws other splits.")

    @model_validator(mode="after")
    def _sum(self) -> "SplitConfig":
        if abs(self.train + self.validation + self.test - 1.0) > 1e-6:
            raise ValueError("train + validation + test must sum to 1")
        return self


class AdmissionConfig(StageConfig):
    quota: QuotaConfig = Field(default_factory=QuotaConfig)
    dedup: DedupConfig = Field(default_factory=DedupConfig)
    splits: SplitConfig = Field(default_factory=SplitConfig)


def assign_split(document_key: str, cfg: SplitConfig) -> str:
    """Deterministic: a hash of the document's content key (the hash of its normalised text) placed on [0, 1)."""
    h = int(hashlib.sha256(f"{cfg.seed}|{document_key}".encode()).hexdigest()[:15], 16) / 16**15
    if h < cfg.train:
        return "train"
    if h < cfg.train + cfg.validation:
        return "validation"
    return "test"


def run(docs: list[DocumentState], ctx: StageContext) -> None:
    admission = ctx.services.get("admission")
    live = [(doc, c) for doc in docs for c in doc.live_candidates()]
    if admission is not None:
        decisions = admission.admit([(c.candidate_id, c.domain, c.question or "", doc.record_key) for doc, c in live])
    else:
        decisions = [(True, NAME, "admitted (no admission service)")] * len(live)
    for (doc, cand), (ok, verdict, reason) in zip(live, decisions):
        cand.record(verdict, ok, reason)
        if ok:
            cand.split = assign_split(doc.content_key or doc.record_key, ctx.conf.splits)
            cand.status = "accepted"
    if admission is not None:
        admission.report_documents(len(docs), sum(1 for d in docs if d.errored))


STAGE = stage(
    NAME, run, "per-domain quotas, exact and MinHash near-duplicates, split by document",
    reads=["candidate.question", "candidate.domain", "document.content_key"],
    writes=["candidate.split", "candidate.status"], config=AdmissionConfig, optional=False,
    verdicts=("quota", "dedup"),
)
