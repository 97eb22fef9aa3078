"""Each deterministic rubric check catches a planted defect and passes a clean rubric."""

from __future__ import annotations

import pytest

from operators.rubric import RubricSpec
from operators.schemas import RubricItem
from operators.stages import rubric_checks as rc

SPEC = RubricSpec(min_criteria=3, max_criteria=6, min_weight=-5, max_weight=5, min_negative=1)
CONF = rc.RubricChecksConfig()


def item(criterion: str, weight: int, polarity: str | None = None) -> RubricItem:
    return RubricItem(criterion=criterion, weight=weight, polarity=polarity or ("positive" if weight > 0 else "negative"))


CLEAN = [
    item("Names Rayleigh scattering as the cause", 5),
    item("States that scattering grows as wavelength shrinks", 4),
    item("Explains why sunsets look red", 2),
    item("Claims that the sky reflects the ocean", -3),
]


@pytest.mark.parametrize("check", rc.RUBRIC_CHECKS)
def test_clean_rubric_passes_every_check(check):
    assert check(CLEAN, SPEC, CONF) is None


@pytest.mark.parametrize(
    "check, rubric, expected",
    [
        (rc.check_count, CLEAN[:2], "2 criteria, outside [3, 6]"),
        (rc.check_count, CLEAN + CLEAN[:3], "7 criteria"),
        (rc.check_weights, CLEAN + [item("Mentions Lord Rayleigh by name", 0, "positive")], "weight 0"),
        (rc.check_weights, CLEAN[:3] + [item("Claims that air is blue", -9)], "weight -9 outside [-5, 5]"),
        (rc.check_polarity, CLEAN[:3] + [item("Claims that air is blue", 3, "negative")], "polarity negative disagrees"),
        (rc.check_polarity, CLEAN[:3] + [item("Correctly names the colour of the sky", -2)], "penalises a correct"),
        (rc.check_polarity, CLEAN[:3] + [item("Falsely states that the sky is green", 2)], "rewards a mistake"),
        (rc.check_duplicates, CLEAN + [item("names rayleigh scattering as the cause!", 3)], "duplicates"),
        (rc.check_duplicates, [item("Names Rayleigh scattering as the main cause of blue", 5),
                               item("Names Rayleigh scattering as the main cause of the blue", 4),
                               item("Claims that dust alone colours the sky", -2)], "duplicates"),
        (rc.check_criteria_source, CLEAN[:3] + [item("States, according to the text, that the sky is blue", 2)],
         "criterion 3 refers to the unseen source ('according to the text')"),
        (rc.check_top_positive, [item("Names Rayleigh scattering", 3), item("Explains sunsets", 2),
                                 item("Claims that the sky reflects the ocean", -5)], "highest weight (5)"),
        (rc.check_negatives, CLEAN[:3], "0 negative criteria, fewer than 1"),
    ],
)
def test_planted_defect_is_caught(check, rubric, expected):
    reason = check(rubric, SPEC, CONF)
    assert reason is not None and expected in reason
    assert rc.check_rubric(rubric, SPEC, CONF) is not None


def test_question_text_screens():
    assert "unseen text" in rc.check_question_text("According to the passage, why is the sky blue?", "Rayleigh")
    leak = rc.check_question_text("Rayleigh scattering makes the sky look blue at noon. Why is it not violet?",
                                  "Rayleigh scattering makes the sky look blue at noon. Violet is absorbed higher up.")
    assert leak and leak.startswith("the question holds a sentence of its answer")
    assert rc.check_question_text("Why is the daytime sky blue rather than violet?", "Rayleigh scattering") is None


@pytest.mark.parametrize("question", [
    "Based on the passage, why did the reactor shut down?",
    "As described in the excerpt, what limits the turbine's speed?",
    "What reasons does the author give for the decline of the guild system?",
    "In the text above, which enzyme is named first?",
])
def test_the_question_screen_catches_references_to_the_unseen_source(question):
    assert "refers to an unseen text" in rc.check_question_text(question, "An answer.")


@pytest.mark.parametrize("question", [
    "What does the text of the Treaty of Versailles say about reparations?",
    "Why is the document known as the Declaration of Independence addressed to a king?",
    "How did the passage of the Affordable Care Act change insurance for young adults?",
    "Which oceans does the Northwest Passage connect?",
    "How should I reply to a text message from my landlord about a rent increase?",
])
def test_a_named_document_is_not_the_unseen_source(question):
    assert rc.check_question_text(question, "A self-contained answer of a few words.") is None


def test_the_reference_answer_and_criteria_are_screened_too():
    reason = rc.check_question_text("What pressure does the reactor run at?", "According to the text, 15 MPa.")
    assert reason == "reference answer refers to an unseen text ('According to the text')"
    rubric = CLEAN[:3] + [item("States, according to the text, that the reactor operates at 15 MPa", 2)]
    assert "criteria_source: criterion 3 refers to the unseen source" in rc.check_rubric(rubric, SPEC, CONF)


@pytest.mark.parametrize("question, answer, leaks", [
    ("Which gas, nitrogen, makes up most of the air we breathe?", "Nitrogen.", True),
    ("In which year, 1989, did the Berlin Wall fall?", "In 1989.", True),
    ("Should I pick the merge sort algorithm or quicksort for sorting a linked list?", "The merge sort algorithm.",
     False),  # a choice names its options
    ("Is a tomato botanically a fruit or a vegetable?", "A fruit.", False),
    ("Which gas makes up most of the air we breathe?", "Nitrogen.", False),
    ("Why does ice float on water?", "Ice floats on water because it is less dense than liquid water.", False),
])
def test_answer_in_question_on_word_boundaries(question, answer, leaks):
    reason = rc.check_question_text(question, answer)
    assert (reason is not None) == leaks, reason


def test_a_short_answer_inside_a_longer_word_is_no_leak():
    # "ion" is inside "ionisation": the old character-substring screen would need 3 words, this one needs words
    assert rc.check_question_text("What drives the ionisation of the upper atmosphere?", "Ion.") is None


def test_duplicates_are_compared_within_a_sign_and_in_word_order():
    heart = [item("States that the left ventricle pumps blood to the body and the right one to the lungs", 3),
             item("States that the right ventricle pumps blood to the body and the left one to the lungs", -3)]
    assert rc.check_duplicates(CLEAN + heart, SPEC, CONF) is None  # a fact beside its inversion: right
    assert rc.rubric_flags(CLEAN + heart, CONF) == []
    same_sign = [item(heart[0].criterion, 3), item(heart[1].criterion, 2)]  # contradictory, not a duplicate
    assert rc.check_duplicates(CLEAN + same_sign, SPEC, CONF) is None
    dose = [item("States the recommended starting dose of 5 mg per day", 4),
            item("Gives the recommended starting doses of 5 mg per day.", 3)]
    assert "duplicates" in rc.check_duplicates(CLEAN + dose, SPEC, CONF)
    both = [item("Mentions the risk of bleeding", 3), item("The response mentions the risk of bleeding", -3)]
    assert "reward and penalise the same behaviour" in rc.check_duplicates(CLEAN + both, SPEC, CONF)


def test_similar_criteria_of_one_sign_are_flagged_not_rejected():
    near = [item("Explains that the drug should be taken with food in the morning", 3),
            item("Explains that the drug should be taken without food in the morning", 2)]
    assert rc.check_duplicates(CLEAN + near, SPEC, CONF) is None
    flags = rc.rubric_flags(CLEAN + near, CONF)
    assert len(flags) == 1 and flags[0].startswith("criteria 4 and 5 may duplicate each other")


# What the deterministic check decides alone, and what it flags for the rubric judge (which reads the document, the
# reference answer and every criterion). "met" means the response shows what the criterion describes.
PHRASINGS = [
    # (criterion, weight, refused by the deterministic check?, flagged for the rubric judge?)
    ("Omits the contraindication for patients with kidney disease", -3, False, False),  # met = the bad thing
    ("Does not mention the dose limit of 4 g per day", -3, False, False),  # the same: a correct pitfall
    ("Fails to mention the 72-hour window", -3, False, False),
    ("Claims that antibiotics cure viral colds", -4, False, False),
    ("Recommends antibiotics for a viral cold", -4, False, False),
    ("Avoids taking a position on whether the investment suits the user", -2, False, True),  # evasion: right, or?
    ("The response avoids suggesting that the patient stop the medication abruptly", -3, False, True),  # inverted?
    ("Refrains from speculating about the diagnosis", -2, False, True),
    ("Does not recommend antibiotics for a viral cold", 3, False, True),  # right, or a failure? the judge reads it
    ("Correctly names the iron catalyst", -3, True, False),
    ("Accurately reports the survey's sample size", -2, True, False),
    ("Avoids jargon a patient would not understand", 2, False, False),  # good behaviour, rewarded: right
    ("Mentions the dose limit of 4 g per day", 4, False, False),
    ("Incorrectly claims that ibuprofen is an antibiotic", 3, True, False),  # a mistake, rewarded
    ("Misstates the boiling point of water at sea level", 2, True, False),
    ("Inaccurately attributes the theory of evolution to Lamarck", 2, True, False),
    ("Fails to mention the 72-hour window", 3, True, False),  # a failure, rewarded
    ("The response misidentifies the capital of Australia", 1, True, False),
    ("Identifies the misstated figure in the user's claim", 3, False, False),  # mistake words inside: fine
]


@pytest.mark.parametrize("criterion, weight, refused, flagged", PHRASINGS)
def test_polarity_phrasings(criterion, weight, refused, flagged):
    rubric = CLEAN[:3] + [item(criterion, weight)]
    reason = rc.check_polarity(rubric, SPEC, CONF)
    assert (reason is not None) == refused, reason
    if refused:
        assert "criterion 3" in reason and criterion[:30] in reason
    doubts = [f for f in rc.rubric_flags(rubric, CONF) if "may invert its polarity" in f]
    assert bool(doubts) == flagged, doubts
    if flagged:
        assert doubts[0].startswith("criterion 3 may invert its polarity")
