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
        (rc.check_polarity, CLEAN[:3] + [item("Does not mention oceans", -2)], "phrased as the good"),
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
