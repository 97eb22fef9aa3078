"""The guards' fixes beyond the rubric checks: flags reaching their judges, contamination, near-duplicates, the
split key, decontamination never silently off. Each test fails on the guards as they were before issue 19."""

from __future__ import annotations

import json

import pytest

from operators.schemas import RubricItem
from operators.services.admission import Admission, AdmissionClient, DedupConfig, QuotaConfig
from operators.stages import (admission, contamination, faithfulness, ingest, leakage, rubric_checks, rubric_judge,
                              self_containment)
from operators.stages.contamination import ContaminationConfig
from operators.state import Candidate, Chunk, DocumentState
from pipelines.config import ConfigError, load_config
from tests.conftest import read_row, run_stages
from tests.scripted_engine import ScriptedClient

RUBRIC = [
    ("Names lisinopril as an ACE inhibitor", 5), ("States the usual starting dose of 10 mg once daily", 4),
    ("Explains that a dry cough is a common side effect", 3), ("Advises checking kidney function and potassium", 3),
    ("Mentions that it lowers blood pressure over weeks", 2), ("Notes that it is unsafe in pregnancy", 2),
    ("Claims that it cures hypertension permanently", -4),
]


def candidate(question: str, answer: str, extra: list[tuple[str, int]] = ()) -> tuple[DocumentState, Candidate]:
    rubric = [RubricItem(criterion=c, weight=w, polarity="positive" if w > 0 else "negative")
              for c, w in [*RUBRIC, *extra]]
    cand = Candidate(candidate_id="c", chunk_index=0, persona="p", domain="Medicine & Health", question=question,
                     reference_answer=answer, rubric=rubric)
    doc = DocumentState(record_key="d#1", doc_id="d", source="d", row=1, domain="Medicine & Health",
                        chunks=[Chunk(index=0, start=0, end=40, text="Lisinopril is an ACE inhibitor used ...")],
                        candidates=[cand])
    return doc, cand


QUESTION = "What should a patient starting lisinopril for high blood pressure know about its dose and side effects?"
ANSWER = ("Lisinopril is an ACE inhibitor usually started at 10 mg once a day. A dry cough is common, kidney function "
          "and potassium should be checked, and it must not be taken in pregnancy.")


@pytest.fixture
def scripted():
    ScriptedClient.flagged = []
    ScriptedClient.uphold_flags = frozenset()
    yield ScriptedClient
    ScriptedClient.flagged = []
    ScriptedClient.uphold_flags = frozenset()


# Each judge-owned kind: what the checks flag, and the judge that must rule on it.
JUDGE_OWNED = [
    (rubric_judge.STAGE, QUESTION, ANSWER,
     [("The response avoids suggesting that the patient stop the medication abruptly", -3)], "may invert"),
    (rubric_judge.STAGE, QUESTION, ANSWER, [("Does not mention the risk of angioedema", 2)], "may invert"),
    (self_containment.STAGE, "What reasons does the study give for starting lisinopril at a low dose?", ANSWER, [],
     "may refer to a text"),
    (leakage.STAGE, "Why is lisinopril, an ACE inhibitor, started at a low dose?",
     "Lisinopril, an ACE inhibitor, is started low because the first doses can drop blood pressure sharply.", [],
     "answer's opening"),
    (faithfulness.STAGE, QUESTION, ANSWER + " The study reports the same.", [], "may refer to the unseen source"),
]


@pytest.mark.parametrize("judge, question, answer, extra, words", JUDGE_OWNED)
def test_a_flag_reaches_the_judge_that_owns_it_and_its_ruling_decides(scripted, judge, question, answer, extra,
                                                                       words):
    cfg = load_config("local", ["rubric.max_criteria=15"])
    doc, cand = candidate(question, answer, extra)
    run_stages([doc], cfg, rubric_checks.STAGE)
    assert cand.alive, cand.reject_reason  # ambiguous: never a deterministic reject
    (flag,) = cand.flags_for(judge.name)
    assert words in flag.detail and flag.ruling is None

    run_stages([doc], cfg, judge, llm=ScriptedClient())  # the judge rules "fine"
    assert cand.alive and flag.ruling == "fine"
    (stage, prompt), = [f for f in ScriptedClient.flagged if f[0] == judge.name]
    assert flag.detail in prompt and '"flags"' in prompt  # the point is in the judge's own prompt
    assert f"-> fine" in cand.verdicts[-1].reason

    doc, cand = candidate(question, answer, extra)
    run_stages([doc], cfg, rubric_checks.STAGE)
    ScriptedClient.uphold_flags = frozenset({judge.name})
    run_stages([doc], cfg, judge, llm=ScriptedClient())  # the judge rules "defect": the candidate is rejected
    assert cand.status == "rejected" and cand.reject_stage == judge.name
    assert cand.reject_reason.startswith("flagged point upheld: ") and cand.flags_for(judge.name)[0].ruling == "defect"


def test_a_judge_with_no_flag_answers_the_plain_schema(scripted):
    cfg = load_config("local", ["rubric.max_criteria=15"])
    doc, cand = candidate(QUESTION, ANSWER)
    run_stages([doc], cfg, rubric_checks.STAGE, self_containment.STAGE, rubric_judge.STAGE, llm=ScriptedClient())
    assert cand.alive and cand.flags == [] and ScriptedClient.flagged == []


def test_flags_are_written_with_the_row():
    from operators.output import to_rows, to_table

    doc, cand = candidate(QUESTION, ANSWER, [("Refrains from giving a direct answer about the dose", -2)])
    run_stages([doc], load_config("local", ["rubric.max_criteria=15"]), rubric_checks.STAGE)
    (row,) = to_table(to_rows(doc, {})).to_pylist()
    assert row["flags"] == [{"judge": "rubric_judge", "check": "rubric_checks", "ruling": None,
                             "detail": cand.flags[0].detail}]


# -- contamination ---------------------------------------------------------------------------------------------------

ITEM = ("A patient on warfarin starts a course of ciprofloxacin for a urinary infection; which laboratory value "
        "should be monitored more closely and why does the interaction occur?")  # 27 words
CONTEXT_ITEM = ("Passage: The Treaty of Westphalia ended the Thirty Years' War in 1648 and recognised the sovereignty "
                "of the German princes, who could now choose the religion of their territories and conduct their own "
                "foreign policy within limits set by the Empire. Question: How did the Peace of Westphalia change "
                "the relationship between the German princes and the Holy Roman Emperor?")


@pytest.fixture
def evals(tmp_path):
    path = tmp_path / "eval.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in [
        {"id": "warfarin", "text": ITEM}, {"id": "westphalia", "text": CONTEXT_ITEM},
        {"id": "generic", "text": "Show your work."}, {"id": "toy", "text": "alpha beta gamma delta epsilon zeta eta theta"}]))
    return ContaminationConfig(eval_files=[str(path)])


def test_two_changed_words_do_not_hide_an_item(evals):
    edited = ITEM.replace("ciprofloxacin", "levofloxacin").replace("closely", "carefully")
    ok, reason = contamination.check(edited, "The INR.", evals)
    assert not ok and "evaluation item warfarin" in reason


def test_a_candidate_copying_only_the_question_of_an_item_with_context_is_caught(evals):
    ok, reason = contamination.check("Quick history question: how did the Peace of Westphalia change the "
                                     "relationship between the German princes and the Holy Roman Emperor?", "", evals)
    assert not ok and "westphalia" in reason


def test_a_share_at_the_limit_is_contaminated(evals):
    # 3 of the item's 6 trigrams and all its content words: exactly the 50% limit, which rejects (>=)
    ok, reason = contamination.check("alpha beta gamma delta, then epsilon, and zeta eta theta", "", evals)
    assert not ok and reason.startswith("50% of a sentence of evaluation item toy")


def test_a_short_generic_item_does_not_reject_every_question_ending_that_way(evals):
    ok, _ = contamination.check("Integrate x times e to the x from zero to one. Show your work.", "", evals)
    assert ok
    assert not contamination.check("Show your work!", "", evals)[0]  # the item itself, as the whole question


def test_the_same_frame_on_another_topic_is_not_contamination(evals):
    ok, reason = contamination.check(
        "A patient on metformin starts a course of prednisone for an asthma flare; which laboratory value should be "
        "monitored more closely and why?", "Blood glucose, because steroids raise it.", evals)
    assert ok, reason


def test_an_enabled_contamination_stage_with_no_evaluation_set_is_refused():
    with pytest.raises(ConfigError, match=r"^invalid config: stages.contamination.eval_files: the stage is enabled "
                                          r"with no evaluation sets"):
        load_config("local", ["stages.contamination.eval_files=[]"])
    cfg = load_config("local", ["stages.contamination.eval_files=[]", "stages.contamination.enabled=false"])
    assert contamination.eval_sets(cfg.stages.contamination) == {"enabled": False, "eval_sets": []}
    cluster = load_config("cluster")  # ships with the stage off, explicitly
    assert cluster.stages.contamination.enabled is False


def test_the_summary_names_the_sets_a_run_was_checked_against(scripted_run):
    _, stdout, summary = scripted_run
    (checked,) = summary["contamination"]["eval_sets"]
    assert summary["contamination"]["enabled"] and checked["path"].endswith("eval_questions.jsonl")
    assert checked["items"] > 0 and "decontaminated against: " in stdout


# -- near-duplicate questions ------------------------------------------------------------------------------------

LONG_Q = ("Why did the unemployment rate in the coastal region increase sharply between the two surveys even though "
          "the council had funded new training programmes for young workers?")


def admit(*questions: str, threshold: float = 0.8) -> list[tuple[bool, str, str]]:
    adm = Admission(QuotaConfig(), DedupConfig(threshold=threshold), 1.0)
    return [adm.admit([(f"q{i}", "Social Science", q)])[0] for i, q in enumerate(questions)]


def test_a_one_word_edit_of_a_long_question_is_a_near_duplicate():
    first, second = admit(LONG_Q, LONG_Q.replace("sharply", "steeply"))
    assert first[0] and not second[0] and second[2].startswith("near-duplicate of candidate q0 (similarity 0.8")


def test_reordered_clauses_are_a_near_duplicate():
    a = ("How does raising the policy interest rate affect mortgage repayments for households with variable loans, "
         "and why do banks pass the change on within weeks?")
    b = ("Why do banks pass the change on within weeks, and how does raising the policy interest rate affect "
         "mortgage repayments for households with variable loans?")
    assert not admit(a, b)[1][0]


@pytest.mark.parametrize("edit", [("increase", "decrease"), ("coastal", "Alpine"), ("two", "2019 and 2023"),
                                  ("young", "older")])
def test_an_edit_that_changes_the_question_is_not_a_duplicate(edit):
    second = LONG_Q.replace(*edit)
    if edit[0] == "coastal":
        second = second.replace("the Alpine", "the Tyrol")  # a name differs
    assert admit(LONG_Q, second)[1][0]


def test_the_index_finds_pairs_just_above_the_threshold():
    """Banding alone (threshold 0.8) misses a share of pairs at 0.8-0.85; proposals from below it are verified."""
    import random

    rng = random.Random(7)
    vocab = ("river harbour market council school doctor engine budget climate village railway factory museum "
             "festival library hospital airport tunnel bridge garden").split()
    missed = 0
    for n in range(200):
        words = [rng.choice(vocab) + "abcdefg"[n % 7] for _ in range(24)]
        q = " ".join(words)
        edited = words[:]
        edited[rng.randrange(1, 23)] = "placeholder"
        _, second = admit(q, " ".join(edited))
        missed += second[0]
    assert missed == 0


# -- the split key -------------------------------------------------------------------------------------------------

def test_texts_that_differ_only_in_form_share_a_split():
    text = "Tides are caused mainly by the Moon's gravity.\nThe Sun adds a smaller effect."
    variants = [text, text + "\n", "\ufeff" + text, text.replace("\n", "\r\n"), text.upper(), text.replace(" ", "  ")]
    docs = [read_row(f"f#{i}", v, doc_id=f"d{i}") for i, v in enumerate(variants)]
    run_stages(docs, load_config("local"), ingest.STAGE)
    assert len({d.content_key for d in docs}) == 1 and len({d.doc_hash for d in docs}) == len(variants)
    splits = admission.SplitConfig(train=0.34, validation=0.33, test=0.33)
    assert len({admission.assign_split(d.content_key, splits) for d in docs}) == 1
