"""The rubric reward: score a response against a weighted rubric, criterion by criterion, with an LLM judge.

    score = (sum of weights of met criteria, negatives included) / (sum of positive weights), clipped to [0, 1]

A negative criterion describes the bad behaviour itself ("Claims that ..."), so "met" means the bad thing happened
and its (negative) weight is added. The reward does not take the weights on trust: a zero weight, a polarity that
disagrees with the sign, a pitfall phrased as the good behaviour ("Avoids X" with a negative weight) or a rubric
with no positive weight is a `RubricError` naming the item, never a silently wrong number. A judge output that does not parse is retried (the engine's `max_attempts`)
and then reported as an error for that criterion: it is never counted as "not met", and a result with any errored
criterion has `score = None` (its `partial_score` over the judged criteria is there for inspection only).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from pydantic import BaseModel

from operators.llm.client import LLMClient, LLMRequest
from operators.llm.sampling import SamplingConfig
from operators.rubric import RubricError, check_scorable
from operators.templates import render
from operators.schemas import CriterionJudgement, RubricItem


GRADER_SAMPLING = SamplingConfig(max_tokens=160, temperature=0.0, max_attempts=3)


class CriterionVerdict(BaseModel):
    criterion: str
    weight: int
    met: bool | None
    explanation: str | None = None
    error: str | None = None


class RewardResult(BaseModel):
    score: float | None
    partial_score: float | None
    verdicts: list[CriterionVerdict]
    errors: int

    @property
    def ok(self) -> bool:
        return self.score is not None


@dataclass
class ScoreItem:
    question: str
    response: str
    rubric: Sequence[RubricItem]


def normalized_score(weights_met: Sequence[tuple[int, bool]]) -> float | None:
    """HealthBench's formula over (weight, met) pairs; None when the rubric has no positive weight."""
    total_positive = sum(w for w, _ in weights_met if w > 0)
    if total_positive <= 0:
        return None
    achieved = sum(w for w, met in weights_met if met)
    return min(1.0, max(0.0, achieved / total_positive))


def aggregate(rubric: Sequence[RubricItem], verdicts: list[CriterionVerdict]) -> RewardResult:
    judged = [(v.weight, bool(v.met)) for v in verdicts if v.error is None]
    errors = sum(1 for v in verdicts if v.error is not None)
    partial = normalized_score(judged) if judged else None
    return RewardResult(score=None if errors else partial, partial_score=partial, verdicts=verdicts, errors=errors)


def score_many(
    items: Sequence[ScoreItem],
    judge: LLMClient,
    sampling: SamplingConfig | None = None,
    prompts_dir: str | None = None,
    stage: str = "reward",
) -> list[RewardResult]:
    """Score many (question, response, rubric) items with one batched judge call over all their criteria.
    Every rubric is checked first (`RubricError` names the item and the criterion)."""
    for i, item in enumerate(items):
        try:
            check_scorable(item.rubric)
        except RubricError as exc:
            raise RubricError(f"item {i}: {exc}") from None
    sampling = sampling or GRADER_SAMPLING
    requests, owners = [], []
    for i, item in enumerate(items):
        for k, crit in enumerate(item.rubric):
            messages = render(
                "criterion_grader", prompts_dir, question=item.question, response=item.response,
                criterion=crit.criterion,
            )
            requests.append(LLMRequest(messages, CriterionJudgement, sampling, stage=stage))
            owners.append((i, k))
    results = judge.run(requests) if requests else []
    per_item: list[list[CriterionVerdict | None]] = [[None] * len(item.rubric) for item in items]
    for (i, k), res in zip(owners, results):
        crit = items[i].rubric[k]
        if res.value is None:
            v = CriterionVerdict(criterion=crit.criterion, weight=crit.weight, met=None, error=res.error)
        else:
            j: CriterionJudgement = res.value  # type: ignore[assignment]
            v = CriterionVerdict(criterion=crit.criterion, weight=crit.weight, met=j.criteria_met,
                                 explanation=j.explanation)
        per_item[i][k] = v
    return [aggregate(item.rubric, per_item[i]) for i, item in enumerate(items)]  # type: ignore[arg-type]


def score(
    question: str, response: str, rubric: Sequence[RubricItem], judge: LLMClient,
    sampling: SamplingConfig | None = None, prompts_dir: str | None = None,
) -> RewardResult:
    """Score one response; see the module docstring for the formula and the handling of judge errors."""
    return score_many([ScoreItem(question, response, rubric)], judge, sampling, prompts_dir)[0]
