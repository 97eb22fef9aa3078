"""The guards benchmark's floors: every kind a deterministic check owns is caught at >= 95%, and the checks reject
no more than 2% of the hard clean controls. The corpus is `tests/data/guards/` (benchmarks/guards.py prints the
table). Kinds only a judge can decide must reach that judge: flagged to it, and its ruling decides
(tests/test_guards.py drives one of each through the judge with a scripted engine)."""

from __future__ import annotations

import pytest

from benchmarks import guards


@pytest.fixture(scope="module")
def result():
    return guards.table(guards.measure())


def test_every_deterministic_kind_meets_its_recall_floor(result):
    low = {r["kind"]: (f"{r['recall']:.0%}", r["misses"]) for r in result["rows"]
           if r["group"] == "deterministic" and r["recall"] < guards.RECALL_FLOOR}
    assert not low, low


def test_the_checks_reject_at_most_two_percent_of_the_hard_controls(result):
    assert result["controls"] >= 100
    share = result["false_rejects"] / result["controls"]
    misses = {r["kind"]: r["misses"] for r in result["rows"] if r["group"] == "control" and r["misses"]}
    assert share <= guards.FALSE_REJECT_CEILING, misses


def test_each_kind_has_at_least_ten_cases_and_judge_kinds_name_their_judge(result):
    assert all(r["n"] >= 10 for r in result["rows"]), [(r["kind"], r["n"]) for r in result["rows"] if r["n"] < 10]
    judge_kinds = [r for r in result["rows"] if r["group"] == "judge"]
    assert judge_kinds and all(r["owner"] in {"rubric_judge", "self_containment", "leakage", "faithfulness"}
                               for r in judge_kinds)


def test_flags_reach_the_judge_for_most_judge_owned_cases(result):
    """The lexical flags: an inverted sign, a source the question may cite, an answer's opening in its question.
    Paraphrased duplicates are the rubric judge's to find in every rubric it reads (its prompt asks for
    redundancy); a flag is raised only where the words overlap."""
    for r in result["rows"]:
        if r["group"] == "judge" and r["kind"] != "paraphrased_duplicate":
            assert r["recall"] >= 0.9, (r["kind"], r["misses"])
