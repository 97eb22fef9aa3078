"""Turn raw LLM text into a validated pydantic object or a reject reason. Never raises on bad output.

Truncation (finish_reason "length") is a normal outcome on small budgets; it becomes a reason like any other.
"""

from __future__ import annotations

import json
from typing import TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


def _describe(err: ValidationError) -> str:
    parts = []
    for e in err.errors()[:3]:
        loc = ".".join(str(p) for p in e["loc"]) or "<root>"
        parts.append(f"{loc}: {e['msg']}")
    more = f" (+{err.error_count() - 3} more)" if err.error_count() > 3 else ""
    return "; ".join(parts) + more


def parse_output(text: str, finish_reason: str | None, model: type[M]) -> tuple[M | None, str | None]:
    """Return (object, None) when `text` is a valid `model`, else (None, reason)."""
    if finish_reason == "length":
        return None, f"output truncated at max_tokens ({len(text)} characters, JSON incomplete)"
    if not text or not text.strip():
        return None, "empty output"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON: {exc.msg} at character {exc.pos}"
    try:
        return model.model_validate(data), None
    except ValidationError as exc:
        return None, f"schema violation: {_describe(exc)}"
