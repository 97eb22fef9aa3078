"""The last stage before the write: contamination check, cluster-wide admission (quotas, duplicates), split.

Candidates still alive here have passed every filter; admission is asked once per batch.
"""

from __future__ import annotations

from operators import contamination
from operators.context import StageContext
from operators.schemas import DocumentState
from operators.splits import assign_split

STAGE = "admission"


def run(docs: list[DocumentState], ctx: StageContext) -> None:
    cfg = ctx.cfg.stages
    admission = ctx.services.get("admission")
    if cfg.contamination.eval_files:
        for doc in docs:
            for cand in doc.live_candidates():
                ok, reason = contamination.check(cand.question or "", cfg.contamination)
                cand.record(contamination.STAGE, ok, reason)
    live = [(doc, c) for doc in docs for c in doc.live_candidates()]
    if admission is not None:
        decisions = admission.admit([(c.candidate_id, c.domain, c.question or "") for _, c in live])
    else:
        decisions = [(True, STAGE, "admitted (no admission service)")] * len(live)
    for (doc, cand), (ok, stage, reason) in zip(live, decisions):
        cand.record(stage, ok, reason)
        if ok:
            cand.split = assign_split(doc.doc_hash or doc.record_key, cfg.splits)
            cand.status = "accepted"
    if admission is not None:
        admission.report_documents(len(docs), sum(1 for d in docs if d.errored))
