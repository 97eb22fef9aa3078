"""What a rubric must look like: the bounds shared by synthesis (its output schema and prompt) and the rubric checks.

A rubric is a list of `RubricItem`s. A positive criterion describes what a good response does; a negative one
(a pitfall) describes the bad behaviour itself ("Claims that ..."), so "met" always means "the response shows what
the criterion describes" and the reward adds the weight, negative or positive.
"""

from __future__ import annotations

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

    @model_validator(mode="after")
    def _check(self) -> "RubricSpec":
        if self.max_criteria < self.min_criteria:
            raise ValueError("max_criteria is below min_criteria")
        if not (self.min_weight < 0 < self.max_weight):
            raise ValueError("weights must range over negatives and positives: min_weight < 0 < max_weight")
        if self.min_negative >= self.max_criteria:
            raise ValueError("min_negative must leave room for a positive criterion (below max_criteria)")
        return self


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
