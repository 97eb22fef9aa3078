"""The rubric reward: score a response against a weighted rubric, criterion by criterion, with an LLM judge.

    score = (sum of weights of met criteria, negatives included) / (sum of positive weights), clipped to [0, 1]

A negative criterion describes the bad behaviour itself ("Claims that ..."), so "met" means the bad thing happened
and its (negative) weight is added. The reward does not take the weights on trust: a zero weight, a polarity that
disagrees with the sign, a pitfall phrased as the good behaviour ("Avoids X" with a negative weight) or a rubric
with no positive weight is a `RubricError` naming the item, never a silently wrong number. A judge output that does not parse is retried (the engine's `max_attempts`)
and then reported as an error for that criterion: it is never counted as "not met", and a result with any errored
criterion has `score = None` (its `partial_score` over the judged criteria is there for inspection only).

The grader's prompt puts what all criteria of a response share first (instructions, question, response) and the
criterion last, so vLLM's prefix cache computes the shared part once per response, not once per criterion. With
`explanations=False` the grader answers `{"criteria_met": ...}` alone: a few output tokens per criterion instead of
a sentence (see `benchmarks/criterion_grading.py` for what each saves).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from pydantic import BaseModel

from operators.llm.client import LLMClient, LLMRequest
from operators.llm.ledger import charge
from operators.llm.sampling import SamplingConfig
from operators.rubric import RubricError, check_scorable
from operators.templates import render
from operators.schemas import CriterionJudgement, CriterionMet, RubricItem


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
    error: str | None = None  # why the item could not be scored at all (its rubric is refused)

    @property
    def ok(self) -> bool:
        return self.score is not None

    @property
    def first_error(self) -> str | None:
        """Why the result has no score: the refused rubric, or the first criterion the judge failed on."""
        return self.error or next((v.error for v in self.verdicts if v.error), None)


@dataclass
class ScoreItem:
    question: str
    response: str
    rubric: Sequence[RubricItem]
    owner: Any = None  # what the grading calls are charged to in the token ledger (a candidate), if anything


def grader_request(question: str, response: str, criterion: str, sampling: SamplingConfig,
                   prompts_dir: str | None = None, explanations: bool = True, stage: str = "reward",
                   owner: Any = None) -> LLMRequest:
    """One criterion's grading call: the shared part (instructions, question, response) first, the criterion last."""
    messages = render("criterion_grader", prompts_dir, question=question, response=response, criterion=criterion)
    return LLMRequest(messages, CriterionJudgement if explanations else CriterionMet, sampling, stage=stage,
                      owner=owner)


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
    explanations: bool = True,
) -> list[RewardResult]:
    """Score many (question, response, rubric) items with one batched judge call over all their criteria.
    Every rubric is checked first: a refused one (`check_scorable`) makes that item's result an error naming the
    criterion, with no judge call, and leaves the other items alone. `explanations=False`: verdicts only."""
    refused: dict[int, str] = {}
    for i, item in enumerate(items):
        try:
            check_scorable(item.rubric)
        except RubricError as exc:
            refused[i] = f"rubric refused: {exc}"
    sampling = sampling or GRADER_SAMPLING
    requests, owners = [], []
    for i, item in enumerate(items):
        if i in refused:
            continue
        for k, crit in enumerate(item.rubric):
            requests.append(grader_request(item.question, item.response, crit.criterion, sampling, prompts_dir,
                                           explanations, stage, item.owner))
            owners.append((i, k))
    results = judge.run(requests) if requests else []
    charge(requests, results)
    per_item: list[list[CriterionVerdict | None]] = [[None] * len(item.rubric) for item in items]
    for (i, k), res in zip(owners, results):
        crit = items[i].rubric[k]
        if res.value is None:  # a result with neither a value nor an error is an error too, never "not met"
            v = CriterionVerdict(criterion=crit.criterion, weight=crit.weight, met=None,
                                 error=res.error or "the judge returned neither a verdict nor an error")
        else:
            v = CriterionVerdict(criterion=crit.criterion, weight=crit.weight, met=res.value.criteria_met,
                                 explanation=getattr(res.value, "explanation", None))
        per_item[i][k] = v
    return [RewardResult(score=None, partial_score=None, verdicts=[], errors=len(item.rubric), error=refused[i])
            if i in refused else aggregate(item.rubric, per_item[i])  # type: ignore[arg-type]
            for i, item in enumerate(items)]


def score(
    question: str, response: str, rubric: Sequence[RubricItem], judge: LLMClient,
    sampling: SamplingConfig | None = None, prompts_dir: str | None = None,
) -> RewardResult:
    """Score one response; see the module docstring for the formula and the handling of judge errors. A rubric the
    reward refuses raises `RubricError` naming the criterion."""
    check_scorable(rubric)
    return score_many([ScoreItem(question, response, rubric)], judge, sampling, prompts_dir)[0]
