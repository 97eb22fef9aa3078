"""Flags in a judge's prompt and its rulings on them.

A deterministic check that cannot decide a point ("criteria 3 and 7 may duplicate each other") flags it for the judge
that owns it. That judge's prompt gets the points at its end (after the shared document prefix, so the prefix cache
still serves it), its JSON schema gets one ruling per point, "defect" or "fine", in order, and an upheld point
rejects the candidate. The flag, the ruling and the judge's reason are kept in the row.
"""

from __future__ import annotations

from typing import Literal, Sequence

from pydantic import Field

from operators.schemas import BinaryJudgement
from operators.state import Flag

Ruling = Literal["defect", "fine"]


class RuledJudgement(BinaryJudgement):
    """A yes/no judgement with a ruling on each flagged point."""

    flags: list[Ruling] = Field(default_factory=list)


def flags_block(flags: Sequence[Flag]) -> str:
    """The points the judge must rule on, appended to its prompt (empty when there are none)."""
    if not flags:
        return ""
    lines = "\n".join(f"{i + 1}. {f.detail}" for i, f in enumerate(flags))
    return ("\n\nAutomatic checks raised these points and could not decide them:\n" + lines +
            '\nRule on each point, in order, in a JSON list "flags": "defect" if the point is a real problem of this '
            'item, "fine" if it is not.')


def with_rulings(schema: dict, n: int) -> dict:
    """`schema` (an object schema) with a "flags" list of exactly n rulings, before its "verdict"."""
    if n == 0:
        return schema
    props = {k: v for k, v in schema["properties"].items() if k != "verdict"}
    props["flags"] = {"type": "array", "items": {"type": "string", "enum": ["defect", "fine"]},
                      "minItems": n, "maxItems": n}
    props["verdict"] = schema["properties"]["verdict"]
    required = [k for k in schema.get("required", []) if k != "verdict"] + ["flags", "verdict"]
    return {**schema, "properties": props, "required": required}


def binary_schema(n_flags: int) -> dict | None:
    """The yes/no judgement's schema with n rulings (None: the model's own, no flags)."""
    if not n_flags:
        return None
    return with_rulings(RuledJudgement.model_json_schema(), n_flags)


def rule(flags: Sequence[Flag], rulings: Sequence[str]) -> tuple[list[Flag], str] | None:
    """Record the judge's rulings on its flags; returns (the upheld flags, a note for the verdict's reason), or
    None when the count of rulings is wrong (the grammar fixes it; a hand-made client may not)."""
    if len(rulings) != len(flags):
        return None
    for flag, ruling in zip(flags, rulings):
        flag.ruling = ruling  # type: ignore[assignment]
    upheld = [f for f in flags if f.ruling == "defect"]
    note = "; ".join(f"flag {f.detail[:80]!r} -> {f.ruling}" for f in flags)
    return upheld, note
