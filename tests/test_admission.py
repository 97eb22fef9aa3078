"""Cluster-wide admission (quotas, exact and near duplicates, document ids, error budget), splits, contamination,
persona sampling: the state machine and pure functions, without Ray."""

from __future__ import annotations

import json
from collections import Counter
from typing import Callable

import pytest

from operators.services.admission import Admission, DedupConfig, QuotaConfig, TooManyErrors
from operators.stages import contamination
from operators.stages.admission import SplitConfig, assign_split
from operators.stages.contamination import ContaminationConfig
from operators.stages.label import sample_personas
from tests.conftest import REPO


def make(quota=None, default_quota=None, max_errored_fraction=0.1, **kw) -> Admission:
    return Admission(QuotaConfig(per_domain=quota or {}, default=default_quota), DedupConfig(threshold=0.7),
                     max_errored_fraction, **kw)


def test_quota_per_domain_and_default():
    adm = make(quota={"Math": 2}, default_quota=1)
    got = adm.admit([("a", "Math", "What is the derivative of x squared with respect to x?"),
                     ("b", "Math", "How many prime numbers are smaller than one hundred?"),
                     ("c", "Math", "Why does the harmonic series diverge although its terms shrink?"),
                     ("d", "Coding", "What is the worst-case time complexity of quicksort?"),
                     ("e", "Coding", "How does a hash table resolve collisions by chaining?")])
    assert [ok for ok, _, _ in got] == [True, True, False, True, False]
    assert got[2][1] == "quota" and "quota of 2 accepted instances for domain 'Math' is met" in got[2][2]
    assert sorted(adm.full_domains()) == ["Coding", "Math"]


def test_exact_and_near_duplicates():
    adm = make()
    q = "Why does the daytime sky look blue to an observer standing on the ground at noon?"
    got = adm.admit([
        ("a", "Natural Science", q),
        ("b", "Natural Science", q.upper() + "  "),  # same after normalisation
        ("c", "Natural Science", q.replace("at noon", "around noon")),  # near-duplicate
        ("d", "Natural Science", "What makes sunsets look red and orange rather than blue?"),
    ])
    assert got[0][0] and got[3][0]
    assert got[1] == (False, "dedup", "exact duplicate of candidate a")
    assert got[2][:2] == (False, "dedup") and got[2][2].startswith("near-duplicate of candidate a (similarity 0.")


def test_rejected_candidates_do_not_block_later_ones_and_state_rebuilds_from_output():
    # only admitted questions enter the index; a restart seeds it from the committed accepted rows
    committed = [("a", "Math", "What is the sum of the interior angles of a triangle in degrees?")]
    adm = make(quota={"Math": 2}, seed_from=lambda: (committed, {"doc-1": "f#1"}))
    assert adm.stats()["accepted"] == {"Math": 1} and adm.seeded == 1
    got = adm.admit([("x", "Math", committed[0][2]), ("y", "Math", "Is zero an even number, and why?")])
    assert got[0][1] == "dedup" and got[1][0]
    assert adm.full_domains() == ["Math"]
    assert adm.claim_documents([("doc-1", "g#5"), ("doc-2", "g#6"), ("doc-2", "g#6")]) == ["f#1", None, None]


def test_error_budget_aborts_the_job():
    adm = make(max_errored_fraction=0.1)
    adm.report_documents(10, 0)
    adm.report_documents(10, 2)  # 2/20 = 10%: still allowed
    with pytest.raises(TooManyErrors, match=r"4 of 30 documents raised errors \(13% > ray.max_errored_fraction=0.1\)"):
        adm.report_documents(10, 2)


def test_error_budget_is_exceeded():
    adm = make(max_errored_fraction=0.1)
    with pytest.raises(TooManyErrors, match="5 of 20 documents raised errors"):
        adm.report_documents(20, 5)


def test_splits_follow_documents_and_fractions():
    cfg = SplitConfig(train=0.8, validation=0.1, test=0.1, seed="s")
    splits = [assign_split(f"doc-{i}", cfg) for i in range(5000)]
    share = Counter(splits)
    assert abs(share["train"] / 5000 - 0.8) < 0.03 and abs(share["test"] / 5000 - 0.1) < 0.02
    assert all(assign_split("doc-7", cfg) == splits[7] for _ in range(3))  # a document always lands in one split
    assert assign_split("doc-7", SplitConfig(train=1.0, validation=0.0, test=0.0)) == "train"


EVAL_ITEM = ("In the Haber-Bosch process, why are high pressures used, and why must unreacted nitrogen and hydrogen "
             "be recycled through the reactor?")


@pytest.fixture
def eval_cfg(tmp_path):
    evals = tmp_path / "eval.jsonl"
    evals.write_text("".join(json.dumps(r) + "\n" for r in [
        {"id": "hb", "text": EVAL_ITEM},
        {"id": "five", "text": "What is photosynthesis's main product?"},  # 5 words: shorter than n
    ]))
    return ContaminationConfig(eval_files=[str(evals)])


def test_an_eval_item_pasted_into_a_longer_question_is_caught(eval_cfg):
    question = ("I run a small fertiliser plant in the north of the country and I am preparing a week of staff "
                "training on ammonia synthesis for new operators who have never worked with high pressure gas "
                "lines before. " + EVAL_ITEM + " I would also like to know how the iron catalyst is regenerated "
                "during a planned shutdown, which safety checks the operators must run on the compressors every "
                "shift, and how we should document the results for the inspectors who visit twice a year.")
    assert len(question.split()) > 90  # the item is a small share of the question's own n-grams
    ok, reason = contamination.check(question, "A long reference answer about pressure and recycling.", eval_cfg)
    assert not ok and reason.startswith("100% of a sentence of evaluation item hb occurs")


def test_an_eval_item_in_the_reference_answer_is_caught(eval_cfg):
    ok, reason = contamination.check("Why is ammonia made at high pressure?", "As asked before: " + EVAL_ITEM, eval_cfg)
    assert not ok and "evaluation item hb" in reason


def test_a_light_paraphrase_is_caught(eval_cfg):
    edited = ("in the haber bosch process why are HIGH pressures used... and why must the unreacted nitrogen and "
              "hydrogen be recycled through the reactor")  # case, punctuation, one word added
    ok, reason = contamination.check(edited, "", eval_cfg)
    assert not ok, reason


def test_a_short_item_matches_only_a_question_that_is_the_item(eval_cfg):
    # three content words: too few to compare by share (a generic item would match every question ending that way)
    ok, reason = contamination.check("What is Photosynthesis's main product?!", "Glucose.", eval_cfg)
    assert not ok and reason.startswith("100% of a sentence of evaluation item five ")
    ok, _ = contamination.check("Quick one: what is photosynthesis's main product, roughly?", "Glucose.", eval_cfg)
    assert ok
    ok, _ = contamination.check("What is the main product of the Calvin cycle in photosynthesis?", "G3P", eval_cfg)
    assert ok  # the same words in another order are not the item


def test_an_unrelated_question_passes(eval_cfg):
    ok, reason = contamination.check("Which enzyme fixes carbon dioxide in the Calvin cycle of C3 plants?",
                                     "RuBisCO fixes CO2 onto ribulose-1,5-bisphosphate.", eval_cfg)
    assert ok and "no evaluation sentence reaches 50% of its 3-grams" in reason


def test_contamination_file_errors_name_the_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "no text field"}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl line 1: no 'text' text"):
        contamination.check("anything at all here", "", ContaminationConfig(eval_files=[str(bad)]))


def test_personas_from_file_are_deterministic_and_domain_tagged():
    path = str(REPO / "data" / "sample" / "personas.jsonl")
    a = sample_personas(path, "Math", "file#3", 2)
    assert a == sample_personas(path, "Math", "file#3", 2) and len(set(a)) == 2
    rows = [json.loads(line) for line in open(path)]
    tagged = {r["persona"] for r in rows if r["domain"] == "Math"}
    assert set(a) <= tagged
    assert len(tagged) == 3 and set(sample_personas(path, "Math", "file#4", 3)) == tagged


def _journaled(tmp_path, **kw) -> tuple[Admission, Callable[[], Admission]]:
    """An Admission with a journal on local disk, and a function that builds its restarted successor."""
    import fsspec

    from operators.services.journal import Journal

    def build() -> Admission:
        return make(journal=lambda: Journal(fsspec.filesystem("file"), str(tmp_path / "journal")), **kw)

    return build(), build


def test_restarted_actor_replays_its_journal(tmp_path):
    q = "Why does the daytime sky look blue to an observer standing on the ground at noon?"
    adm, restart = _journaled(tmp_path, quota={"Math": 1})
    assert adm.claim_documents([("doc-1", "f#1"), ("doc-2", "f#2")]) == [None, None]
    assert [ok for ok, _, _ in adm.admit([("a", "Natural Science", q), ("m", "Math", "Is zero even, and why?")])] \
        == [True, True]
    adm.report_documents(2, 1)

    again = restart()  # as Ray would after the actor's process died: nothing was written yet
    assert again.replayed == 3 and again.stats()["accepted"] == {"Natural Science": 1, "Math": 1}
    assert again.docs_seen == 2 and again.docs_errored == 1
    assert again.claim_documents([("doc-1", "g#9")]) == ["f#1"]
    got = again.admit([("b", "Natural Science", q.replace("at noon", "around noon")),
                       ("n", "Math", "What is the smallest prime number?")])
    assert got[0][:2] == (False, "dedup") and got[0][2].startswith("near-duplicate of candidate a ")
    assert got[1][1] == "quota"


def test_a_retried_batch_is_decided_again_and_counted_once(tmp_path):
    q1 = "How does a hash table resolve collisions by chaining entries in buckets?"
    q2 = "What is the worst-case time complexity of quicksort on sorted input?"
    adm, restart = _journaled(tmp_path, quota={"Coding": 2})
    assert adm.admit([("a", "Coding", q1)])[0][0]
    # Ray retried a's batch and the model wrote a different question this time: a is not its own duplicate,
    # it keeps one place in the quota, and its first question no longer blocks others
    assert adm.admit([("a", "Coding", q2)]) == [(True, "admission", "admitted")]
    assert adm.stats()["accepted"] == {"Coding": 1}
    assert adm.admit([("b", "Coding", q1)])[0][0]
    assert adm.full_domains() == ["Coding"]
    again = restart()
    assert again.stats()["accepted"] == {"Coding": 2}
    assert again.admit([("c", "Coding", q2)])[0][1] == "quota"
    assert again.admit([("a", "Coding", q2)])[0][0]  # a retry of an admitted candidate still fits


def test_committed_rows_and_journal_overlap_count_once(tmp_path):
    q = "What is the sum of the interior angles of a triangle in degrees?"
    adm, _ = _journaled(tmp_path)
    adm.admit([("a", "Math", q)])
    import fsspec

    from operators.services.journal import Journal

    # the row was written, then the actor restarted: it is both in the committed output and in the journal
    again = make(seed_from=lambda: ([("a", "Math", q)], {}),
                 journal=lambda: Journal(fsspec.filesystem("file"), str(tmp_path / "journal")))
    assert again.seeded == 1 and again.replayed == 1 and again.stats()["accepted"] == {"Math": 1}


def test_target_refuses_everything_once_met_and_the_gate_says_so():
    adm = make(target=2)
    assert adm.gate(["f#1"]) == (None, [])
    got = adm.admit([("a", "Math", "What is the derivative of x squared with respect to x?", "f#1"),
                     ("b", "Coding", "What is the worst-case time complexity of quicksort?", "f#1"),
                     ("c", "Math", "Why does the harmonic series diverge although its terms shrink?", "f#2")])
    assert [ok for ok, _, _ in got] == [True, True, False]
    assert got[2] == (False, "quota", "target of 2 accepted instances is met")
    assert adm.gate(["f#3"]) == ("target of 2 accepted instances is met", [])


def test_a_retried_batch_gives_up_its_admitted_places_at_the_gate(tmp_path):
    # Ray retries a batch whose candidates were admitted before its actor died: the documents come back to the
    # gate unwritten, so their places are freed (and journaled) instead of counting instances never written
    adm, restart = _journaled(tmp_path, target=2)
    adm.admit([("a", "Math", "What is the derivative of x squared with respect to x?", "f#1"),
               ("b", "Coding", "What is the worst-case time complexity of quicksort?", "f#1")])
    assert adm.target_met() is not None
    assert adm.gate(["f#1"]) == (None, [])
    assert adm.stats()["accepted"] == {"Math": 0, "Coding": 0}
    again = restart()
    assert again.target_met() is None and again.stats()["accepted"] == {"Math": 0, "Coding": 0}
    assert again.admit([("a", "Math", "What is the derivative of x squared with respect to x?", "f#1")])[0][0]
