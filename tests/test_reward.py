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

    def __init__(self, verdicts: dict[str, object], garbage_attempts: int = 0, verdict_only: bool = False):
        self.verdicts, self.garbage_attempts, self.calls = verdicts, garbage_attempts, 0
        self.verdict_only = verdict_only

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
            elif self.verdict_only:
                text = json.dumps({"criteria_met": met})
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


def test_the_criterion_comes_last_after_everything_its_response_shares():
    from operators.reward import grader_request
    from operators.schemas import CriterionJudgement, CriterionMet

    from operators.reward import GRADER_SAMPLING as sampling

    a, b = (grader_request("Why is the sky blue?", "Rayleigh scattering.", c.criterion, sampling)
            for c in RUBRIC[:2])
    assert a.messages[0] == b.messages[0]
    ua, ub = a.messages[-1]["content"], b.messages[-1]["content"]
    for user, crit in ((ua, RUBRIC[0].criterion), (ub, RUBRIC[1].criterion)):
        assert user.endswith(f"<criterion>\n{crit}\n</criterion>")
    shared = ua[: ua.rindex("<criterion>")]
    assert ub.startswith(shared) and "Rayleigh scattering." in shared and "Judge strictly" in shared
    assert a.output is CriterionJudgement
    assert grader_request("q", "r", "c", sampling, explanations=False).output is CriterionMet


def test_verdict_only_grading_scores_the_same_without_explanations():
    met = (True, False, True, True)
    judge = ScriptedJudge({c.criterion: m for c, m in zip(RUBRIC, met)}, verdict_only=True)
    (result,) = score_many([ScoreItem("q", "a response", RUBRIC)], judge, explanations=False)
    assert result.score == pytest.approx(0.3)  # (5+2-4)/10
    assert [v.met for v in result.verdicts] == list(met)
    assert all(v.explanation is None and v.error is None for v in result.verdicts)


@pytest.mark.parametrize(
    "bad_item, message",
    [
        (RubricItem(criterion="Mentions the ozone layer", weight=0, polarity="positive"), "criterion 4 has weight 0"),
        (RubricItem(criterion="Claims that the sky is green", weight=3, polarity="negative"),
         "criterion 4 polarity negative disagrees with weight 3"),
        (RubricItem(criterion="Correctly states that the sky is blue", weight=-2, polarity="negative"),
         "criterion 4 penalises a correct response"),
        (RubricItem(criterion="The response misstates the wavelength of blue light", weight=2, polarity="positive"),
         "criterion 4 rewards a mistake"),
        (RubricItem(criterion="Fails to mention the role of the ozone layer", weight=2, polarity="positive"),
         "criterion 4 rewards a mistake"),
    ],
)
def test_the_reward_refuses_a_rubric_whose_signs_cannot_be_right(bad_item, message):
    judge = ScriptedJudge({c.criterion: True for c in RUBRIC + [bad_item]})
    with pytest.raises(RubricError, match=message):
        score("q", "r", RUBRIC + [bad_item], judge)
    assert judge.calls == 0  # refused before any judge call
    # in a batch, the refused rubric is an error for its own item only; the others are graded
    good, bad = score_many([ScoreItem("q", "a", RUBRIC), ScoreItem("q", "b", RUBRIC + [bad_item])], judge)
    assert good.ok and good.score == pytest.approx(0.6)
    assert not bad.ok and bad.score is None and bad.error.startswith("rubric refused: ") and message in bad.error
    assert bad.first_error == bad.error and bad.verdicts == []


def test_an_avoidance_penalised_is_scored_not_refused():
    """'Avoids X' with a negative weight may be right (evasion: 'Avoids taking a position') or inverted: the rubric
    judge rules on it when the data is made; the reward scores what it is given."""
    evasive = RubricItem(criterion="Avoids taking a position on whether the investment suits the user", weight=-2,
                         polarity="negative")
    judge = ScriptedJudge({c.criterion: True for c in RUBRIC + [evasive]})
    assert score("q", "r", RUBRIC + [evasive], judge).ok


def test_a_judge_result_with_neither_value_nor_error_is_an_error():
    class Silent:
        def run(self, requests):
            from operators.llm.client import LLMResult

            return [LLMResult(None, None) for _ in requests]

    (res,) = score_many([ScoreItem("q", "r", RUBRIC)], Silent())
    assert res.score is None and res.errors == len(RUBRIC)
    assert res.first_error == "the judge returned neither a verdict nor an error"
    assert all(v.met is None for v in res.verdicts)


def test_the_reward_refuses_a_rubric_without_positive_weight():
    only_pitfalls = [c for c in RUBRIC if c.weight < 0]
    with pytest.raises(RubricError, match="no positive weight"):
        score("q", "r", only_pitfalls, ScriptedJudge({c.criterion: False for c in only_pitfalls}))
