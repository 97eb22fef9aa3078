"""Learnability arithmetic and keep rules on hand-computed score vectors."""

from __future__ import annotations

import pytest

from operators.learnability import KeepRules, answer_hash, decide, measure

RULES = KeepRules(min_std=0.1, min_mean=0.2, max_mean=0.8, success_threshold=0.5)
ANSWERS = ["a", "b", "c", "d"]


def rec(scores, errors=None, keep=True):
    return measure(scores, errors or [None] * len(scores), ANSWERS[: len(scores)], RULES.success_threshold, keep)


def test_hand_computed_numbers():
    r = rec([0.0, 0.5, 1.0, 0.5])
    assert r.mean == pytest.approx(0.5) and r.std == pytest.approx(0.3535533906)  # sqrt(0.125)
    assert r.share_above == 0.25  # only 1.0 is above 0.5 (0.5 is not)
    assert decide(r, RULES) == (True, "K=4, mean 0.50, std 0.35, 25% above 0.5")


def test_all_equal_scores_carry_no_signal():
    ok, reason = decide(rec([0.6, 0.6, 0.6, 0.6]), RULES)
    assert not ok and reason.startswith("no reward spread: K=4, mean 0.60, std 0.00")


@pytest.mark.parametrize("scores, verdict", [
    ([0.0, 0.0, 0.2, 0.2], "too hard"),  # mean 0.1 < 0.2
    ([1.0, 1.0, 0.7, 0.9], "too easy"),  # mean 0.9 > 0.8
])
def test_the_mean_band(scores, verdict):
    ok, reason = decide(rec(scores), RULES)
    assert not ok and reason.startswith(verdict)


def test_boundaries_are_inclusive():
    # mean exactly 0.2, std exactly 0.1: both bounds kept
    ok, reason = decide(rec([0.1, 0.3, 0.1, 0.3]), RULES)
    assert ok, reason
    ok, _ = decide(rec([0.7, 0.9, 0.7, 0.9]), RULES)  # mean 0.8 exactly
    assert ok


def test_one_grading_error_is_never_scored_on_partial_numbers():
    r = rec([0.0, None, 1.0, 1.0], [None, "judge output unusable: invalid JSON", None, None])
    assert r.mean is None and r.std is None and r.share_above is None
    ok, reason = decide(r, RULES)
    assert not ok and reason == "grading incomplete: answers 1 of 4 failed (first: judge output unusable: invalid JSON)"


def test_answers_kept_or_only_hashed():
    assert rec([0.0, 1.0, 0.0, 1.0]).answers == ANSWERS
    hashed = rec([0.0, 1.0, 0.0, 1.0], keep=False)
    assert hashed.answers is None and hashed.answer_hashes == [answer_hash(a) for a in ANSWERS]
    assert len(set(hashed.answer_hashes)) == 4
