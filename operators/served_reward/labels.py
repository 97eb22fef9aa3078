"""The label a trainer carries with each prompt: the question and its rubric, as one JSON string.

Exports put it where each trainer hands it to its reward function (verl's `reward_model.ground_truth`, OpenRLHF's
label key); the adapters read it back with `parse_label`. A string, because every trainer passes a string through
untouched, while nested structures come back as numpy arrays or dicts depending on the framework and version.
"""

from __future__ import annotations

import json
from typing import Any, Sequence

from pydantic import BaseModel, Field, ValidationError

from operators.schemas import RubricItem


class RubricLabel(BaseModel):
    question: str = Field(min_length=1)
    rubric: list[RubricItem] = Field(min_length=1)


class LabelError(ValueError):
    """A label that is not an ARES rubric label; the message is one line."""


def dump_label(question: str, rubric: Sequence[RubricItem | dict[str, Any]]) -> str:
    items = [r if isinstance(r, RubricItem) else RubricItem.model_validate(dict(r)) for r in rubric]
    return RubricLabel(question=question, rubric=items).model_dump_json()


def parse_label(label: Any) -> RubricLabel:
    """A label as exported (a JSON string) or already decoded (a dict)."""
    try:
        if isinstance(label, (str, bytes)):
            return RubricLabel.model_validate_json(label)
        return RubricLabel.model_validate(label)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "<label>"
        raise LabelError(f"not an ARES rubric label: {where}: {first['msg']}") from None


def rubric_items(rubric: Any) -> list[RubricItem]:
    """A rubric column value (a list of {criterion, weight, polarity}, or its JSON) as RubricItems."""
    if isinstance(rubric, (str, bytes)):
        rubric = json.loads(rubric)
    try:
        return [RubricItem.model_validate(dict(item)) for item in rubric]
    except (ValidationError, TypeError, ValueError) as exc:
        raise LabelError(f"not an ARES rubric: {str(exc).splitlines()[0]}") from None
