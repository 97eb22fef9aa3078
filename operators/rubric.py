"""What a rubric must look like: the bounds shared by synthesis (its output schema and prompt) and the rubric checks.

A rubric is a list of `RubricItem`s. A positive criterion describes what a good response does; a negative one
(a pitfall) describes the bad behaviour itself ("Claims that ..."), so "met" always means "the response shows what
the criterion describes" and the reward adds the weight, negative or positive.
"""

from __future__ import annotations

import re
from typing import Sequence

from pydantic import Field, model_validator

from operators.config_base import Strict
from operators.schemas import RubricItem


class RubricSpec(Strict):
    min_criteria: int = Field(7, ge=1)
    max_criteria: int = Field(15, ge=1)
    min_weight: int = -5
    max_weight: int = 5
    min_negative: int = Field(1, ge=0, description="Pitfall criteria a rubric must carry.")
    negative_share: float = Field(
        0.25, ge=0, lt=1, description="Share of pitfalls synthesis asks for (about 26% in the ARES data).")

    @model_validator(mode="after")
    def _check(self) -> "RubricSpec":
        if self.max_criteria < self.min_criteria:
            raise ValueError("max_criteria is below min_criteria")
        if not (self.min_weight < 0 < self.max_weight):
            raise ValueError("weights must range over negatives and positives: min_weight < 0 < max_weight")
        if self.min_negative >= self.max_criteria:
            raise ValueError("min_negative must leave room for a positive criterion (below max_criteria)")
        return self


def pitfalls_wanted(spec: RubricSpec) -> int:
    """How many pitfalls synthesis asks for: the target share of a mid-sized rubric, at least `min_negative`."""
    mid = (spec.min_criteria + spec.max_criteria) / 2
    return max(spec.min_negative, round(spec.negative_share * mid))


def weight_tiers(spec: RubricSpec) -> dict[str, str]:
    """The weight ranges of the important and optional tiers below the essential one (`max_weight`): with the
    default 5, important 3 to 4 and optional 1 to 2 (Rubrics as Rewards' categories)."""
    top = spec.max_weight
    low = max(2, -(-top // 2))  # the important tier starts at half the top weight, rounded up
    span = lambda lo, hi: f"{lo}" if lo >= hi else f"{lo} to {hi}"  # noqa: E731
    if top <= 2:
        return {"important": "1", "optional": "1"}
    return {"important": span(low, top - 1), "optional": span(1, low - 1)}


# How a criterion opens once its subject is dropped ("The response avoids ..." reads as "avoids ...").
_SUBJECT = re.compile(r"^\s*(?:(?:the|a|this)\s+)?(?:response|answer|model|assistant|reply|output|it)\s+"
                      r"(?:(?:also|clearly|explicitly)\s+)?", re.I)
# Openings whose meaning does not depend on what follows: met is always good ("Correctly names ...") or always bad
# (a mistake or a failure: "Misstates ...", "Fails to mention ..."). The wrong sign on one is unambiguous.
ALWAYS_GOOD = re.compile(r"^(?:correctly|accurately|properly|precisely|rightly|appropriately)\b", re.I)
ALWAYS_BAD = re.compile(
    r"^(?:falsely|incorrectly|wrongly|mistakenly|erroneously|inaccurately|misleadingly|improperly|"
    r"mis(?:states?|stating|attributes?|attributing|identifies|identify|identifying|represents?|representing|"
    r"quotes?|quoting|reports?|reporting|interprets?|interpreting|calculates?|calculating|labels?|labell?ing|"
    r"names?|naming|characteri[sz]es?|spells?|reads?|classifies|classify|uses?|using|applies|apply)|"
    r"fails?\s+to|failing\s+to|neglects?\s+to|confuses|conflates|contradicts\s+itself)\b", re.I)
# Openings whose sign depends on what follows: "Avoids suggesting the patient stop the medication" (met is good:
# a pitfall so phrased is the silent reward bug) against "Avoids taking a position on whether the investment suits
# the user" (evasion: a right pitfall); "Does not recommend antibiotics for a cold" (good) against "Does not mention
# the dose limit" (bad). Only a reader of the whole criterion can tell: these become flags for the rubric judge.
AVOIDANCE = re.compile(r"^(?:avoids?|avoiding|refrains?\s+from|steers?\s+clear\s+of|abstains?\s+from|"
                       r"is\s+careful\s+(?:not\s+)?to|takes?\s+care\s+not\s+to|makes?\s+sure\s+not\s+to|"
                       r"(?:is|are)\s+careful\s+not|resists?|declines?\s+to|stays?\s+away\s+from|"
                       r"does\s+not\s+fall\s+for|never\s+falls\s+for)\b", re.I)
# "Gives the time difference correctly as ..." penalised: probably a correct response penalised, but the word may
# qualify something else ("Claims that the model correctly predicts ..."): a flag, not a reject.
RIGHTNESS = re.compile(r"\b(?:correctly|accurately|properly|rightly)\b", re.I)
FAILURE = re.compile(r"\b(?:not|never|fails?|failing|without|incorrectly|inaccurately|wrongly|claims?|implies|"
                     r"suggests?|asserts?)\b", re.I)
OMISSION = re.compile(r"^(?:does\s+not|doesn't|do\s+not|did\s+not|never|omits?|omitting|ignores?|overlooks?|"
                      r"leaves?\s+out|skips?|lacks?|without|no\s+mention|makes?\s+no\s+mention|gives?\s+no|"
                      r"says?\s+nothing|mentions?\s+nothing|is\s+silent)\b", re.I)


def opening(criterion: str) -> str:
    """The criterion without its subject: what the polarity rules read."""
    return _SUBJECT.sub("", criterion, count=1).lstrip()


def polarity_problem(index: int, item: RubricItem) -> str | None:
    """Why this item's weight sign cannot be right, or None: a zero weight, a polarity label that disagrees with
    the sign, or an opening whose meaning is fixed and opposite to the sign ("Correctly ..." penalised,
    "Misstates ..." or "Fails to ..." rewarded)."""
    if item.weight == 0:
        return f"criterion {index} has weight 0"
    if (item.polarity == "positive") != (item.weight > 0):
        return f"criterion {index} polarity {item.polarity} disagrees with weight {item.weight}"
    text = opening(item.criterion)
    if item.weight < 0 and ALWAYS_GOOD.match(text):
        return f"criterion {index} penalises a correct response ({item.criterion[:60]!r}, weight {item.weight})"
    if item.weight > 0 and ALWAYS_BAD.match(text):
        return f"criterion {index} rewards a mistake ({item.criterion[:60]!r}, weight {item.weight})"
    return None


def polarity_doubt(index: int, item: RubricItem) -> str | None:
    """Why this item's sign may be inverted, for the rubric judge to rule on, or None: an avoidance penalised
    ("Avoids X" met is usually the good outcome) or an omission rewarded ("Does not mention X" met is usually the
    bad one). Unambiguous problems are `polarity_problem`'s."""
    text = opening(item.criterion)
    if item.weight < 0 and AVOIDANCE.match(text):
        return (f"criterion {index} may invert its polarity: it penalises an avoidance ({item.criterion[:60]!r}, "
                f"weight {item.weight}); is avoiding that good (inverted) or an evasion (right)?")
    if item.weight > 0 and OMISSION.match(text):
        return (f"criterion {index} may invert its polarity: it rewards an omission ({item.criterion[:60]!r}, "
                f"weight {item.weight}); is leaving that out good (right) or a failure (inverted)?")
    if item.weight < 0 and RIGHTNESS.search(text) and not FAILURE.search(text) and not ALWAYS_GOOD.match(text):
        return (f"criterion {index} may invert its polarity: it penalises something done correctly "
                f"({item.criterion[:60]!r}, weight {item.weight})")
    return None


class RubricError(ValueError):
    """A rubric the reward cannot score correctly; the message names the item."""


def check_scorable(rubric: Sequence[RubricItem]) -> None:
    """Raise RubricError unless every item's weight sign is right and some weight is positive: the reward would
    otherwise be a silently wrong number."""
    for i, item in enumerate(rubric):
        problem = polarity_problem(i, item)
        if problem:
            raise RubricError(problem)
    if not any(item.weight > 0 for item in rubric):
        raise RubricError("the rubric has no positive weight to normalise by")


def _item(polarity: str, low: int, high: int) -> dict:
    return {
        "type": "object",
        "properties": {
            "criterion": {"type": "string", "minLength": 10, "maxLength": 200},
            "polarity": {"type": "string", "enum": [polarity]},
            "weight": {"type": "integer", "minimum": low, "maximum": high},
        },
        "required": ["criterion", "polarity", "weight"],
        "additionalProperties": False,
    }


def items_schema(spec: RubricSpec) -> dict:
    """JSON schema of a rubric within the bounds. A criterion is one of two shapes, positive with a weight in
    [1, max] or negative with a weight in [min, -1], so constrained decoding cannot emit a zero weight or a sign that
    disagrees with the polarity (the deterministic checks still verify both)."""
    item = {"anyOf": [_item("positive", 1, spec.max_weight), _item("negative", spec.min_weight, -1)]}
    return {"type": "array", "items": item, "minItems": spec.min_criteria, "maxItems": spec.max_criteria}


def rubric_text(rubric: Sequence[RubricItem]) -> str:
    """The rubric as judges read it: one numbered line per criterion with its signed weight."""
    return "\n".join(f"{i}. [{it.weight:+d}] {it.criterion}" for i, it in enumerate(rubric))
