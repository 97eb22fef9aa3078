"""`ares score`: the rubric reward over a response file, through Ray Data and the real tiny model as the judge."""

from __future__ import annotations

import json
import subprocess

import pyarrow.parquet as pq
import pytest

from operators.output import OUTPUT_SCHEMA, to_table
from operators.reward import normalized_score
from tests.conftest import ARES, REPO

pytestmark = pytest.mark.e2e

RUBRIC = [
    {"criterion": "Names Rayleigh scattering as the cause", "weight": 5, "polarity": "positive"},
    {"criterion": "States that shorter wavelengths scatter more strongly", "weight": 3, "polarity": "positive"},
    {"criterion": "Claims that the sky reflects the colour of the ocean", "weight": -4, "polarity": "negative"},
]


def test_score_a_response_file(tiny_model, tmp_path):
    instances = tmp_path / "out" / "accepted"
    instances.mkdir(parents=True)
    row = {name: None for name in OUTPUT_SCHEMA.names}
    row.update(candidate_id="c-sky", unit="candidate", status="accepted", question="Why is the daytime sky blue?",
               rubric=RUBRIC, record_key="f#1")
    pq.write_table(to_table([row]).drop(["status"]), instances / "part-0.parquet")
    responses = tmp_path / "responses.jsonl"
    responses.write_text("".join(json.dumps(r) + "\n" for r in [
        {"candidate_id": "c-sky", "response_id": "good", "response": "Rayleigh scattering: air molecules scatter "
         "short (blue) wavelengths much more strongly than long ones."},
        {"candidate_id": "c-sky", "response_id": "bad", "response": "The sky reflects the colour of the ocean."},
        {"candidate_id": "nope", "response_id": "unknown", "response": "anything"},
        {"candidate_id": "c-sky", "response_id": "empty", "response": ""},
    ]))
    out = tmp_path / "scores"
    proc = subprocess.run(
        ARES + ["score", "local", "--responses", str(responses), "--instances", str(instances), "--output", str(out),
                f"engines.default.model={tiny_model}"],
        cwd=REPO, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    summary = json.loads(proc.stdout.split("== ARES score finished ==")[1])
    assert summary["responses"] == 4 and summary["invalid_rows"] == 2

    rows = {r["response_id"]: r for r in pq.read_table(out).to_pylist()}
    assert rows["unknown"]["error"] == "unknown candidate_id 'nope'" and rows["unknown"]["score"] is None
    assert rows["empty"]["error"] == "missing or empty response"
    for rid in ("good", "bad"):
        r = rows[rid]
        verdicts = json.loads(r["verdicts"])
        assert [v["criterion"] for v in verdicts] == [c["criterion"] for c in RUBRIC]
        judged = [(v["weight"], v["met"]) for v in verdicts if v["error"] is None]
        assert r["errors"] == len(verdicts) - len(judged)
        assert r["partial_score"] == (normalized_score(judged) if judged else None)  # the formula, whatever was said
        if r["errors"]:
            assert r["score"] is None and any(v["error"] for v in verdicts)  # an error is never a silent "not met"
        else:
            assert r["score"] == r["partial_score"] and all(v["met"] is not None for v in verdicts)
