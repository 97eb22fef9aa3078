"""Rubric judge: reads the rubric with the document, the question and the reference answer; decides, per
criterion, whether meeting it makes a response better or worse, and whether the criteria are specific, decidable
from the question and a response alone, and not redundant.

A criterion whose reading disagrees with its weight's sign is the silent reward bug ("Avoids recommending
antibiotics" with a negative weight penalises the good answer): the candidate is rejected, naming it. Points the rubric
checks could not decide (a sign that may be inverted, criteria that may duplicate, a criterion that may cite the
source) are appended to the prompt; the judge rules on each, and an upheld one rejects the candidate.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from operators.llm.ask import ask, llm_failure
from operators.llm.flags import Ruling, flags_block, rule, with_rulings
from operators.llm.judge import JudgeConfig
from operators.llm.sampling import SamplingConfig
from operators.rubric import rubric_text
from operators.schemas import LLMOutput
from operators.stage import StageContext, stage
from operators.state import Candidate, DocumentState

NAME = "rubric_judge"


class RubricJudgement(LLMOutput):
    met_means: list[Literal["good", "bad"]] = Field(min_length=1)
    reason: str = Field(max_length=400)
    flags: list[Ruling] = Field(default_factory=list)
    verdict: Literal["yes", "no"]


class RubricJudgeConfig(JudgeConfig):
    sampling: SamplingConfig = Field(default_factory=lambda: SamplingConfig(max_tokens=300, temperature=0.0))


def schema(n_criteria: int, n_flags: int = 0) -> dict:
    """One reading per criterion and one ruling per flagged point, exactly: the grammar cannot skip or add one."""
    return with_rulings({
        "type": "object",
        "properties": {
            "met_means": {"type": "array", "items": {"type": "string", "enum": ["good", "bad"]},
                          "minItems": n_criteria, "maxItems": n_criteria},
            "reason": {"type": "string", "maxLength": 400},
            "verdict": {"type": "string", "enum": ["yes", "no"]},
        },
        "required": ["met_means", "reason", "verdict"],
        "additionalProperties": False,
    }, n_flags)


def sign_disagreements(cand: Candidate, met_means: list[str]) -> list[str]:
    """The criteria whose judged meaning disagrees with the sign of their weight."""
    return [f"criterion {i} {it.criterion[:60]!r} weight {it.weight:+d}: meeting it is {m}"
            for i, (it, m) in enumerate(zip(cand.rubric, met_means)) if (m == "good") != (it.weight > 0)]


def run(docs: list[DocumentState], ctx: StageContext) -> None:
    items = [(d, c) for d in docs for c in d.live_candidates()]
    values = lambda it: {"document": it[0].chunk(it[1].chunk_index).text, "question": it[1].question,  # noqa: E731
                         "answer": it[1].reference_answer, "rubric": rubric_text(it[1].rubric)}
    mine = lambda it: it[1].flags_for(NAME)  # noqa: E731
    answers = ask(ctx, items, values, RubricJudgement, schema=lambda it: schema(len(it[1].rubric), len(mine(it))),
                  suffix=lambda it: flags_block(mine(it)))
    for (_, cand), res in answers:
        if res.value is None:
            cand.record(NAME, False, llm_failure(NAME, res))
            continue
        judged: RubricJudgement = res.value  # type: ignore[assignment]
        note = ""
        if flags := cand.flags_for(NAME):
            ruled = rule(flags, judged.flags)
            if ruled is None:
                cand.record(NAME, False, f"{NAME} output unusable: no ruling for each of {len(flags)} flagged points")
                continue
            upheld, note = ruled
            if upheld:
                cand.record(NAME, False, f"flagged point upheld: {upheld[0].detail} ({judged.verdict}: "
                                         f"{judged.reason})")
                continue
            note = f" [{note}]"
        wrong = sign_disagreements(cand, judged.met_means)
        if wrong:
            cand.record(NAME, False, "weight sign disagrees with the criterion's meaning: " + "; ".join(wrong[:3]))
        else:
            cand.record(NAME, judged.verdict == "yes", f"{judged.verdict}: {judged.reason}{note}")


STAGE = stage(NAME, run, "each criterion's meaning agrees with its weight sign; criteria specific and decidable",
              reads=["document.chunks", "candidate.chunk_index", "candidate.question", "candidate.reference_answer",
                     "candidate.rubric"],
              config=RubricJudgeConfig)
