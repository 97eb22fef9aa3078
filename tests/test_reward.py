"""The rubric reward: hand-computed expectations, negative criteria, clipping, judge errors never counted as unmet.

The judge here is a deterministic stand-in (allowed for arithmetic and parsing); the real engine judges in the
end-to-end and stage tests.
"""

from __future__ import annotations

import json

import pytest

from operators.llm.client import LLMResult
from operators.llm.parsing import parse_output
from operators.reward import ScoreItem, normalized_score, score, score_many
from operators.rubric import RubricError
from operators.schemas import RubricItem


class ScriptedJudge:
    """Answers each criterion from a table: True/False, or 'garbage' (unparseable) for N attempts."""

    def __init__(self, verdicts: dict[str, object], garbage_attempts: int = 0):
        self.verdicts, self.garbage_attempts, self.calls = verdicts, garbage_attempts, 0

    def run(self, requests):
        out = []
        for req in requests:
            self.calls += 1
            criterion = req.messages[-1]["content"].split("<criterion>")[1].split("</criterion>")[0].strip()
            met = self.verdicts[criterion]
            attempts, text = 1, None
            if met == "garbage":
                attempts = req.sampling.max_attempts
                text = '{"explanation": "cut off'
            else:
                text = json.dumps({"explanation": f"checked {criterion}", "criteria_met": met})
            value, error = parse_output(text, "stop", req.output)
            out.append(LLMResult(value, error, text, attempts))
        return out


RUBRIC = [
    RubricItem(criterion="Names Rayleigh scattering", weight=5, polarity="positive"),
    RubricItem(criterion="Mentions wavelength dependence", weight=3, polarity="positive"),
    RubricItem(criterion="Explains red sunsets", weight=2, polarity="positive"),
    RubricItem(criterion="Claims that the sky reflects the ocean", weight=-4, polarity="negative"),
]


@pytest.mark.parametrize(
    "met, expected",
    [
        ((True, True, True, False), 1.0),  # all positives met, pitfall avoided: 10/10
        ((False, False, False, False), 0.0),  # none met
        ((True, False, True, False), 0.7),  # (5+2)/10
        ((True, True, False, True), 0.4),  # (5+3-4)/10
        ((False, True, False, True), 0.0),  # (3-4)/10 < 0 clipped to 0
        ((True, True, True, True), 0.6),  # (10-4)/10
    ],
)
def test_hand_computed_scores(met, expected):
    judge = ScriptedJudge({c.criterion: m for c, m in zip(RUBRIC, met)})
    result = score("Why is the sky blue?", "a response", RUBRIC, judge)
    assert result.score == pytest.approx(expected)
    assert [v.met for v in result.verdicts] == list(met)
    assert all(v.explanation for v in result.verdicts)


def test_clipping_above_one_cannot_happen_but_formula_clips():
    assert normalized_score([(2, True), (3, True)]) == 1.0
    assert normalized_score([(2, True), (-5, True)]) == 0.0
    assert normalized_score([(-2, True)]) is None  # no positive weight: undefined, not zero


def test_judge_error_is_reported_not_counted_as_unmet():
    verdicts = {c.criterion: True for c in RUBRIC}
    verdicts["Mentions wavelength dependence"] = "garbage"
    judge = ScriptedJudge(verdicts)
    result = score("q", "r", RUBRIC, judge)
    assert result.score is None and result.errors == 1
    bad = [v for v in result.verdicts if v.error]
    assert len(bad) == 1 and bad[0].met is None and "invalid JSON" in bad[0].error
    # the partial score over the judged criteria only is kept for inspection: (5+2-4)/(5+2)
    assert result.partial_score == pytest.approx(3 / 7)


def test_batch_scoring_sends_every_criterion_in_one_call():
    judge = ScriptedJudge({c.criterion: True for c in RUBRIC})

    calls = []
    original = judge.run
    judge.run = lambda reqs: calls.append(len(reqs)) or original(reqs)
    results = score_many([ScoreItem("q", "a", RUBRIC), ScoreItem("q", "b", RUBRIC[:2])], judge)
    assert calls == [6]
    assert [r.score for r in results] == [pytest.approx(0.6), pytest.approx(1.0)]


@pytest.mark.parametrize(
    "bad_item, message",
    [
        (RubricItem(criterion="Mentions the ozone layer", weight=0, polarity="positive"), "criterion 4 has weight 0"),
        (RubricItem(criterion="Claims that the sky is green", weight=3, polarity="negative"),
         "criterion 4 polarity negative disagrees with weight 3"),
        (RubricItem(criterion="Avoids claiming the sky is painted", weight=-2, polarity="negative"),
         "criterion 4 is a pitfall phrased as the good behaviour"),
    ],
)
def test_the_reward_refuses_a_rubric_whose_signs_cannot_be_right(bad_item, message):
    judge = ScriptedJudge({c.criterion: True for c in RUBRIC + [bad_item]})
    with pytest.raises(RubricError, match=message):
        score("q", "r", RUBRIC + [bad_item], judge)
    with pytest.raises(RubricError, match=f"item 1: {message}"):
        score_many([ScoreItem("q", "a", RUBRIC), ScoreItem("q", "b", RUBRIC + [bad_item])], judge)
    assert judge.calls == 0  # refused before any judge call


def test_the_reward_refuses_a_rubric_without_positive_weight():
    only_pitfalls = [c for c in RUBRIC if c.weight < 0]
    with pytest.raises(RubricError, match="no positive weight"):
        score("q", "r", only_pitfalls, ScriptedJudge({c.criterion: False for c in only_pitfalls}))
