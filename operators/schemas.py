"""What each LLM call must return: pydantic models whose JSON schema constrains vLLM's decoding and which every
output is validated against (a failure is a recorded reject, never a crash). The pipeline's state is in `state.py`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Polarity = Literal["positive", "negative"]


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


class CriterionMet(LLMOutput):
    """The grader's verdict alone, when no explanation is asked for (fewer output tokens per criterion)."""

    criteria_met: bool


class FlawedAnswer(LLMOutput):
    answer: str = Field(min_length=1)
