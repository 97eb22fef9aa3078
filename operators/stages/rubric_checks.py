"""Deterministic rubric validity checks and cheap text checks of the question; no model involved.

Each check returns None when the rubric passes, or the reason it fails. The first failure rejects the candidate.
"""

from __future__ import annotations

import re
from itertools import combinations

from pydantic import Field

from operators.rubric import RubricSpec, polarity_problem
from operators.schemas import RubricItem
from operators.stage import StageConfig, StageContext, stage
from operators.state import DocumentState
from operators.text import normalise, token_set

NAME = "rubric_checks"
_PASSAGE_REFERENCE = re.compile(
    r"\b(according to (the|this) (passage|text|document|article|author)|the (passage|text|document|article) "
    r"(above|below|provided|given)|in the (passage|text|document|article)|the above (passage|text))\b",
    re.I,
)


class RubricChecksConfig(StageConfig):
    max_similarity: float = Field(0.9, gt=0, le=1, description="Two criteria this alike (token Jaccard) are duplicates.")


def check_count(rubric: list[RubricItem], spec: RubricSpec, conf: RubricChecksConfig) -> str | None:
    if not spec.min_criteria <= len(rubric) <= spec.max_criteria:
        return f"{len(rubric)} criteria, outside [{spec.min_criteria}, {spec.max_criteria}]"
    return None


def check_weights(rubric: list[RubricItem], spec: RubricSpec, conf: RubricChecksConfig) -> str | None:
    for i, item in enumerate(rubric):
        if item.weight == 0:
            return f"criterion {i} has weight 0"
        if not spec.min_weight <= item.weight <= spec.max_weight:
            return f"criterion {i} weight {item.weight} outside [{spec.min_weight}, {spec.max_weight}]"
    return None


def check_polarity(rubric: list[RubricItem], spec: RubricSpec, conf: RubricChecksConfig) -> str | None:
    """Weight signs that cannot be right: a polarity label that disagrees, or a phrasing whose meaning is the
    opposite of the sign whatever the context ("Avoids X" as a pitfall). A pitfall phrased as the good behaviour
    flips the reward: "met" is then the good outcome, penalised, a known source of silent reward bugs in published
    rubric data. Phrasings that depend on context ("Does not mention ...") are the rubric judge's to read."""
    for i, item in enumerate(rubric):
        problem = polarity_problem(i, item)
        if problem:
            return problem
    return None


def check_duplicates(rubric: list[RubricItem], spec: RubricSpec, conf: RubricChecksConfig) -> str | None:
    norms = [normalise(item.criterion) for item in rubric]
    for i, j in combinations(range(len(rubric)), 2):
        if norms[i] == norms[j]:
            return f"criteria {i} and {j} are identical"
        a, b = token_set(rubric[i].criterion), token_set(rubric[j].criterion)
        if a and b and len(a & b) / len(a | b) >= conf.max_similarity:
            return f"criteria {i} and {j} are near-duplicates (token Jaccard >= {conf.max_similarity})"
    return None


def check_top_positive(rubric: list[RubricItem], spec: RubricSpec, conf: RubricChecksConfig) -> str | None:
    top = max((abs(item.weight) for item in rubric), default=0)
    if not any(item.weight == top and item.weight > 0 for item in rubric):
        return f"no positive criterion carries the highest weight ({top})"
    return None


def check_negatives(rubric: list[RubricItem], spec: RubricSpec, conf: RubricChecksConfig) -> str | None:
    n = sum(1 for item in rubric if item.weight < 0)
    if n < spec.min_negative:
        return f"{n} negative criteria, fewer than {spec.min_negative}"
    return None


RUBRIC_CHECKS = [check_count, check_weights, check_polarity, check_duplicates, check_top_positive, check_negatives]


def check_rubric(rubric: list[RubricItem], spec: RubricSpec, conf: RubricChecksConfig) -> str | None:
    for check in RUBRIC_CHECKS:
        reason = check(rubric, spec, conf)
        if reason:
            return f"{check.__name__.removeprefix('check_')}: {reason}"
    return None


def check_question_text(question: str, answer: str) -> str | None:
    """Cheap leakage and self-containment screens run before the LLM judges."""
    m = _PASSAGE_REFERENCE.search(question)
    if m:
        return f"question refers to an unseen text ({m.group(0)!r})"
    ans = normalise(answer)
    if len(ans.split()) >= 3 and ans in normalise(question):
        return "question contains the reference answer verbatim"
    return None


def run(docs: list[DocumentState], ctx: StageContext) -> None:
    for doc in docs:
        for cand in doc.live_candidates():
            reason = check_rubric(cand.rubric, ctx.cfg.rubric, ctx.conf)
            if reason is None:
                reason = check_question_text(cand.question or "", cand.reference_answer or "")
            n_neg = sum(1 for item in cand.rubric if item.weight < 0)
            cand.record(NAME, reason is None, reason or f"{len(cand.rubric)} criteria, {n_neg} negative: valid")


STAGE = stage(NAME, run, "count, weights, polarity, duplicates, pitfalls; question refers to a text or holds its answer",
              reads=["candidate.rubric", "candidate.question", "candidate.reference_answer"],
              config=RubricChecksConfig)
