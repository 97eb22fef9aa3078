"""LLM outputs become validated objects or reasons; truncation and wrong types never raise."""

from __future__ import annotations

import json

from operators.llm.parsing import parse_output
from operators.schemas import BinaryJudgement, GeneratedInstance

GOOD = {
    "question": "Why is the daytime sky blue?",
    "reference_answer": "Air molecules scatter short wavelengths more strongly (Rayleigh scattering).",
    "rubric": [{"criterion": "Names Rayleigh scattering", "weight": 5, "polarity": "positive"}],
}


def test_valid_output_parses():
    value, error = parse_output(json.dumps(GOOD), "stop", GeneratedInstance)
    assert error is None and value.rubric[0].weight == 5


def test_truncated_output_is_a_reason():
    text = json.dumps(GOOD)[:40]
    value, error = parse_output(text, "length", GeneratedInstance)
    assert value is None and error.startswith("output truncated at max_tokens")


def test_truncated_json_without_length_flag_is_invalid_json():
    value, error = parse_output(json.dumps(GOOD)[:40], "stop", GeneratedInstance)
    assert value is None and error.startswith("invalid JSON")


def test_wrong_types_are_schema_violations():
    bad = dict(GOOD, rubric=[{"criterion": "x", "weight": "heavy", "polarity": "positive"}])
    value, error = parse_output(json.dumps(bad), "stop", GeneratedInstance)
    assert value is None and "schema violation" in error and "rubric.0.weight" in error


def test_missing_field_and_extra_field():
    value, error = parse_output(json.dumps({"question": "q?"}), "stop", GeneratedInstance)
    assert value is None and "reference_answer" in error
    value, error = parse_output(json.dumps({"reason": "r", "verdict": "yes", "x": 1}), "stop", BinaryJudgement)
    assert value is None and "x: Extra inputs are not permitted" in error


def test_bad_enum_and_empty_output():
    value, error = parse_output(json.dumps({"reason": "r", "verdict": "maybe"}), "stop", BinaryJudgement)
    assert value is None and "verdict" in error
    assert parse_output("  ", "stop", BinaryJudgement) == (None, "empty output")


def test_strings_cut_at_their_max_length_are_rejected():
    """The JSON grammar enforces maxLength by closing the string there (seen on the real engine): a string that long
    was cut, so the output is refused, naming the field; one character less passes."""
    from operators.rubric import RubricSpec
    from operators.stages.synthesis import schema

    tight = schema(RubricSpec(min_criteria=1, max_criteria=3))
    limit = tight["properties"]["reference_answer"]["maxLength"]
    cut = dict(GOOD, reference_answer="x" * limit)
    value, error = parse_output(json.dumps(cut), "stop", GeneratedInstance, tight)
    assert value is None and error.startswith("string cut at its maxLength") and f"reference_answer ({limit}" in error
    whole = dict(GOOD, reference_answer="x" * (limit - 1))
    assert parse_output(json.dumps(whole), "stop", GeneratedInstance, tight)[1] is None
    crit = dict(GOOD, rubric=[{"criterion": "c" * 200, "weight": -2, "polarity": "negative"}])
    value, error = parse_output(json.dumps(crit), "stop", GeneratedInstance, tight)
    assert value is None and "rubric.0.criterion (200 characters)" in error  # inside anyOf items
    long_reason = json.dumps({"reason": "r" * 400, "verdict": "yes"})  # the model's own schema: max_length=400
    assert "reason (400 characters)" in parse_output(long_reason, "stop", BinaryJudgement)[1]
