"""Each deterministic rubric check catches a planted defect and passes a clean rubric."""

from __future__ import annotations

import pytest

from operators.rubric import RubricSpec
from operators.schemas import RubricItem
from operators.stages import rubric_checks as rc

SPEC = RubricSpec(min_criteria=3, max_criteria=6, min_weight=-5, max_weight=5, min_negative=1)
CONF = rc.RubricChecksConfig(max_similarity=0.9)


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
        (rc.check_polarity, CLEAN[:3] + [item("Avoids claiming the sky is painted", -2)], "phrased as the good"),
        (rc.check_polarity, CLEAN[:3] + [item("Falsely states that the sky is green", 2)], "rewards a mistake"),
        (rc.check_duplicates, CLEAN + [item("names rayleigh scattering as the cause!", 3)], "identical"),
        (rc.check_duplicates, [item("Names Rayleigh scattering as the main cause of blue", 5),
                               item("Names Rayleigh scattering as the main cause of the blue", 4),
                               item("Claims that dust alone colours the sky", -2)], "near-duplicates"),
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
    leak = rc.check_question_text("Given that Rayleigh scattering makes the sky blue, why is it blue?",
                                  "Rayleigh scattering makes the sky blue")
    assert leak == "question contains the reference answer verbatim"
    assert rc.check_question_text("Why is the daytime sky blue rather than violet?", "Rayleigh scattering") is None


# What the deterministic check decides alone, and what it leaves to the rubric judge (which reads the document, the
# reference answer and every criterion). "met" means the response shows what the criterion describes.
PHRASINGS = [
    # (criterion, weight, refused by the deterministic check?)
    ("Omits the contraindication for patients with kidney disease", -3, False),  # met = the bad thing happened
    ("Does not mention the dose limit of 4 g per day", -3, False),  # the same: a correct pitfall
    ("Claims that antibiotics cure viral colds", -4, False),
    ("Recommends antibiotics for a viral cold", -4, False),
    ("Never mentions the risk of liver damage", -2, False),  # context-dependent: the judge reads it
    ("Avoids recommending antibiotics", -2, True),  # met = good behaviour, penalised: the silent reward bug
    ("Refrains from speculating about the diagnosis", -2, True),
    ("Correctly names the iron catalyst", -3, True),
    ("Avoids jargon a patient would not understand", 2, False),  # good behaviour, rewarded: right
    ("Mentions the dose limit of 4 g per day", 4, False),
    ("Incorrectly claims that ibuprofen is an antibiotic", 3, True),  # a mistake, rewarded
]


@pytest.mark.parametrize("criterion, weight, refused", PHRASINGS)
def test_polarity_phrasings(criterion, weight, refused):
    reason = rc.check_polarity(CLEAN[:3] + [item(criterion, weight)], SPEC, CONF)
    assert (reason is not None) == refused, reason
    if refused:
        assert "criterion 3" in reason and criterion[:30] in reason
