"""Learnability arithmetic: what K sampled answers' rewards say about an instance, and whether to keep it.

GRPO learns from an instance only when its K sampled answers get different rewards (the advantage is zero when all
scores are equal), and an instance every answer solves, or none does, teaches little. These are pure functions over a
score vector; the `learnability` stage (operators/stages/learnability.py) samples and grades the answers.
"""

from __future__ import annotations

import hashlib
import math
from typing import Sequence

from pydantic import BaseModel, Field, model_validator

from operators.config_base import Strict

EPS = 1e-9  # the bounds are inclusive; sums of floats land a hair off them


class KeepRules(Strict):
    min_std: float = Field(0.05, ge=0, description="Least standard deviation of the K rewards (all equal: no signal).")
    min_mean: float = Field(0.05, ge=0, le=1, description="Below: too hard for the policy.")
    max_mean: float = Field(0.95, ge=0, le=1, description="Above: too easy for the policy.")
    success_threshold: float = Field(0.5, ge=0, le=1, description="A reward above this counts as a success.")

    @model_validator(mode="after")
    def _band(self) -> "KeepRules":
        if self.min_mean > self.max_mean:
            raise ValueError("min_mean is above max_mean")
        return self


class Learnability(BaseModel):
    """What the stage records on a candidate."""

    k: int
    scores: list[float | None]  # one per answer, None where its grading failed
    errors: list[str | None]  # one per answer: why its grading failed
    mean: float | None = None
    std: float | None = None  # population standard deviation of the K rewards
    share_above: float | None = None  # share of answers whose reward is above the success threshold
    answers: list[str] | None = None  # the policy's answers (keep_answers), else only their hashes
    answer_hashes: list[str] = Field(default_factory=list)


def answer_hash(answer: str) -> str:
    return hashlib.sha256(answer.encode("utf-8")).hexdigest()[:16]


def measure(scores: Sequence[float | None], errors: Sequence[str | None], answers: Sequence[str],
            threshold: float, keep_answers: bool) -> Learnability:
    """The record of K graded answers. Mean, spread and share are computed only when every answer was graded:
    never on partial numbers."""
    rec = Learnability(k=len(scores), scores=list(scores), errors=list(errors),
                       answers=list(answers) if keep_answers else None,
                       answer_hashes=[answer_hash(a) for a in answers])
    if scores and all(s is not None for s in scores):
        vals = [float(s) for s in scores]  # type: ignore[arg-type]
        rec.mean = sum(vals) / len(vals)
        rec.std = math.sqrt(sum((v - rec.mean) ** 2 for v in vals) / len(vals))
        rec.share_above = sum(v > threshold for v in vals) / len(vals)
    return rec


def decide(rec: Learnability, rules: KeepRules) -> tuple[bool, str]:
    """(keep, reason with the numbers)."""
    failed = [i for i, s in enumerate(rec.scores) if s is None]
    if failed or rec.mean is None or rec.std is None:
        first = next((e for e in rec.errors if e), "no answer")
        return False, (f"grading incomplete: answers {', '.join(map(str, failed))} of {rec.k} failed "
                       f"(first: {first})")
    numbers = (f"K={rec.k}, mean {rec.mean:.2f}, std {rec.std:.2f}, {rec.share_above:.0%} above "
               f"{rules.success_threshold}")
    if rec.std < rules.min_std - EPS:
        return False, f"no reward spread: {numbers} (min std {rules.min_std})"
    if rec.mean < rules.min_mean - EPS:
        return False, f"too hard: {numbers} (min mean {rules.min_mean})"
    if rec.mean > rules.max_mean + EPS:
        return False, f"too easy: {numbers} (max mean {rules.max_mean})"
    return True, numbers
