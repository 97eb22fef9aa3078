"""Rubric judge: is every criterion specific to the question, checkable from a response, and not redundant?"""

from operators.llm.judge import judge_stage
from operators.rubric import rubric_text

STAGE = judge_stage(
    "rubric_judge", "criteria are specific, checkable and not redundant", passes_on="yes",
    values=lambda d, c: {"question": c.question, "rubric": rubric_text(c.rubric)},
    reads=["candidate.question", "candidate.rubric"],
)
