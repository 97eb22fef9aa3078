"""The ARES flow, top to bottom: read -> ingest -> filter -> chunk -> judge the document -> label -> plan ->
co-generate -> check -> judge -> discriminate -> decontaminate -> admit -> write.

One streaming Ray Data pipeline of map-type operators, so Ray Data's checkpointing resumes it. Each stage declares
its contract in its own module (`operators/stages/`); the config has one section per stage, `stages.<name>`, and
the enabled chain is checked when the config loads.
"""

from __future__ import annotations

from operators.stage import Stage
from operators.stages import (
    admission,
    chunking,
    contamination,
    discriminativeness,
    learnability,
    document_filter,
    document_judge,
    faithfulness,
    ingest,
    label,
    leakage,
    plan,
    policy_answers,
    rubric_checks,
    rubric_judge,
    self_containment,
    synthesis,
)

FLOW: list[Stage] = [
    ingest.STAGE,  # read errors, content hash, duplicate document ids
    document_filter.STAGE,  # cheap heuristics (optional)
    chunking.STAGE,  # a few paragraph-aligned chunks per document
    document_judge.STAGE,  # LLM: informative and self-contained?
    label.STAGE,  # LLM: domain + personas
    plan.STAGE,  # (chunk, persona) candidates; quota gate before expensive calls
    synthesis.STAGE,  # LLM: question + reference answer + weighted rubric, one call
    rubric_checks.STAGE,  # deterministic rubric validity, cheap leakage screens
    self_containment.STAGE,  # LLM judges ...
    faithfulness.STAGE,
    leakage.STAGE,
    rubric_judge.STAGE,
    discriminativeness.STAGE,  # LLM: reference scores high, a flawed answer low
    policy_answers.STAGE,  # LLM (the policy): K answers per question, when learnability is on
    learnability.STAGE,  # LLM: the K answers' rewards have spread, the mean is in a band (off by default)
    contamination.STAGE,  # overlap with evaluation sets
    admission.STAGE,  # quotas, de-duplication, split
]
