"""Turn raw LLM text into a validated pydantic object or a reject reason. Never raises on bad output.

Truncation is a normal outcome on small budgets and becomes a reason like any other: the whole output cut at
max_tokens (finish_reason "length"), or one string cut at its schema's `maxLength`. The JSON grammar enforces
`maxLength` by closing the string there, mid-word (seen on vLLM 0.32 with xgrammar, tests/test_llm_stages_real.py),
so a string exactly that long was cut and would be accepted half-written.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


def _describe(err: ValidationError) -> str:
    parts = []
    for e in err.errors()[:3]:
        loc = ".".join(str(p) for p in e["loc"]) or "<root>"
        parts.append(f"{loc}: {e['msg']}")
    more = f" (+{err.error_count() - 3} more)" if err.error_count() > 3 else ""
    return "; ".join(parts) + more


def _resolve(schema: dict, root: dict) -> dict:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        node: Any = root
        for part in ref[2:].split("/"):
            node = node[part]
        return node
    return schema


def cut_strings(data: Any, schema: dict, root: dict | None = None, path: str = "") -> list[str]:
    """Paths of the strings in `data` whose length reached their schema's maxLength (cut by the grammar)."""
    root = root or schema
    schema = _resolve(schema, root)
    alternatives = schema.get("anyOf") or schema.get("oneOf")
    if alternatives:
        return min((cut_strings(data, alt, root, path) for alt in alternatives), key=len)
    if isinstance(data, str):
        limit = schema.get("maxLength")
        return [f"{path or '<root>'} ({limit} characters)"] if limit is not None and len(data) >= limit else []
    if isinstance(data, dict):
        props = schema.get("properties", {})
        return [c for k, v in data.items() if k in props for c in cut_strings(v, props[k], root, f"{path}.{k}".lstrip("."))]
    if isinstance(data, list) and isinstance(schema.get("items"), dict):
        return [c for i, v in enumerate(data) for c in cut_strings(v, schema["items"], root, f"{path}.{i}".lstrip("."))]
    return []


def parse_output(text: str, finish_reason: str | None, model: type[M],
                 schema: dict | None = None) -> tuple[M | None, str | None]:
    """Return (object, None) when `text` is a valid `model` with no string cut at its maxLength (in `schema`, the
    JSON schema decoding was constrained by, else the model's own), else (None, reason)."""
    if finish_reason == "length":
        return None, f"output truncated at max_tokens ({len(text)} characters, JSON incomplete)"
    if not text or not text.strip():
        return None, "empty output"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON: {exc.msg} at character {exc.pos}"
    try:
        value = model.model_validate(data)
    except ValidationError as exc:
        return None, f"schema violation: {_describe(exc)}"
    cut = cut_strings(data, schema or model.model_json_schema())
    if cut:
        return None, "string cut at its maxLength by the JSON grammar: " + ", ".join(cut[:3])
    return value, None
