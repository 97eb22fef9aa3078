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
