"""`ares inspect` and `ares export` on a real run's output: every export format read back by its consumer (Hugging
Face `datasets`, which verl and OpenRLHF also load their files with) and checked against the documented fields."""

from __future__ import annotations

import json
import subprocess

import pytest

from operators.served_reward.labels import parse_label
from pipelines.output_reader import JobOutput
from tests.conftest import ARES, REPO

pytestmark = pytest.mark.e2e


def ares(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(ARES + list(args), cwd=REPO, capture_output=True, text=True, timeout=300)


def accepted_rows(out) -> dict[str, dict]:
    return {r["candidate_id"]: r for r in JobOutput(str(out)).table("accepted").to_pylist()}


def assert_difficulty(exported: dict, orig: dict) -> None:
    """The learnability stage's numbers ride along (the scripted run has it on, K=4), the policy's answers do not."""
    m = orig["learnability"]
    assert m is not None and m["k"] == 4 and len(m["scores"]) == 4
    assert exported == {key: m[key] for key in ("k", "scores", "mean", "std", "share_above")}


def test_inspect_prints_instances_and_filters_them(scripted_run):
    out, _, summary = scripted_run
    proc = ares("inspect", str(out), "--n", "2")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == f"2 of {summary['accepted']} accepted instances"
    first = next(iter(accepted_rows(out).values()))
    assert first["question"][:60] in proc.stdout.replace("\n  ", " ")
    assert f"  {first['rubric'][0]['weight']:+d}  " in proc.stdout and "verdicts:" in proc.stdout

    domain = sorted(summary["accepted_by_domain"])[0]
    proc = ares("inspect", str(out), "--domain", domain, "--n", "50")
    shown = [line for line in proc.stdout.splitlines() if line.startswith("[")]
    assert len(shown) == summary["accepted_by_domain"][domain] and all(f" · {domain} · " in s for s in shown)

    proc = ares("inspect", str(out), "--stage", "admission", "--n", "100")  # quota and dedup verdicts
    shown = [line for line in proc.stdout.splitlines() if line.startswith("[")]
    expected = summary["rejected_by_stage"].get("quota", 0) + summary["rejected_by_stage"].get("dedup", 0)
    assert proc.stdout.splitlines()[0] == f"{min(100, expected)} of {expected} rejected rows (stage 'admission')"
    assert len(shown) == min(100, expected) and all(" rejected · " in s for s in shown)

    proc = ares("inspect", str(out), "--stage", "read")  # a document that produced no candidate
    assert "document broken rejected at read" in proc.stdout and "missing text field" in proc.stdout

    for bad, message in ((["--stage", "nope"], "unknown stage 'nope'"), (["--n", "zero"], "argument --n"),
                         (["--domain", "Astrology"], "no accepted rows in domain 'Astrology'")):
        proc = ares("inspect", str(out), *bad)
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and message in proc.stderr


def test_hf_export_loads_with_datasets_with_its_splits(scripted_run, tmp_path):
    import datasets

    out, _, summary = scripted_run
    dest = tmp_path / "hf"
    proc = ares("export", str(out), "--format", "hf", "--out", str(dest))
    assert proc.returncode == 0, proc.stderr
    ds = datasets.load_dataset(str(dest), cache_dir=str(tmp_path / "cache"))
    assert {s: ds[s].num_rows for s in ds} == summary["accepted_by_split"]
    assert len(summary["accepted_by_split"]) >= 2
    src = accepted_rows(out)
    for split in ds:
        for row in ds[split]:
            orig = src[row["id"]]
            assert orig["split"] == split
            assert row["prompt"] == [{"role": "user", "content": orig["question"]}]  # TRL's conversational prompt
            assert row["question"] == orig["question"] and row["reference_answer"] == orig["reference_answer"]
            assert row["rubric"] == orig["rubric"] and row["domain"] == orig["domain"]
            assert row["source"] == orig["record_key"] and row["doc_hash"] == orig["doc_hash"]
            assert_difficulty(row["difficulty"], orig)

    one = tmp_path / "hf-test"
    assert ares("export", str(out), "--format", "hf", "--split", "test", "--out", str(one)).returncode == 0
    assert list(datasets.load_dataset(str(one), cache_dir=str(tmp_path / "cache2"))) == ["test"]


def test_verl_export_has_verls_rl_fields(scripted_run, tmp_path):
    """verl (after v0.9.0) reads RL parquet with datasets; rows: data_source, prompt (chat), ability,
    reward_model {style, ground_truth}, extra_info (a dict with index); the reward function gets ground_truth."""
    import datasets

    out, _, summary = scripted_run
    dest = tmp_path / "verl"
    assert ares("export", str(out), "--format", "verl", "--out", str(dest)).returncode == 0
    src = accepted_rows(out)
    for split, n in summary["accepted_by_split"].items():
        ds = datasets.load_dataset("parquet", data_files=str(dest / f"{split}.parquet"),
                                   cache_dir=str(tmp_path / "cache"))["train"]
        assert ds.num_rows == n
        assert set(ds.column_names) == {"data_source", "prompt", "ability", "reward_model", "extra_info"}
        for i, row in enumerate(ds):
            orig = src[row["extra_info"]["id"]]
            assert row["data_source"] == "ares" and row["ability"] == orig["domain"]
            assert row["prompt"] == [{"role": "user", "content": orig["question"]}]
            assert row["reward_model"]["style"] == "rubric"
            label = parse_label(row["reward_model"]["ground_truth"])
            assert label.question == orig["question"] and [r.model_dump() for r in label.rubric] == orig["rubric"]
            assert row["extra_info"]["index"] == i and row["extra_info"]["split"] == split
            assert_difficulty(row["extra_info"]["difficulty"], orig)


def test_openrlhf_and_jsonl_exports(scripted_run, tmp_path):
    """OpenRLHF v0.11.0: `--data.input_key input --data.label_key label`; its prompts dataset takes
    data[input_key] (a string is wrapped into a user turn under --data.apply_chat_template) and data[label_key]."""
    import datasets

    out, _, summary = scripted_run
    src = accepted_rows(out)
    assert ares("export", str(out), "--format", "openrlhf", "--out", str(tmp_path / "o")).returncode == 0
    assert ares("export", str(out), "--format", "jsonl", "--out", str(tmp_path / "j")).returncode == 0
    for split, n in summary["accepted_by_split"].items():
        ds = datasets.load_dataset("json", data_files=str(tmp_path / "o" / f"{split}.jsonl"),
                                   cache_dir=str(tmp_path / "cache"))["train"]
        assert ds.num_rows == n
        for row in ds:
            orig = src[row["id"]]
            assert isinstance(row["input"], str) and row["input"] == orig["question"]
            assert parse_label(row["label"]).question == orig["question"]
            assert_difficulty(row["difficulty"], orig)
        lines = (tmp_path / "j" / f"{split}.jsonl").read_text().splitlines()
        assert len(lines) == n
        for line in lines:
            row = json.loads(line)
            orig = src[row["id"]]
            assert (row["question"], row["rubric"], row["split"]) == (orig["question"], orig["rubric"], split)
            assert row["source"] == orig["record_key"] and isinstance(row["models"], dict)
            assert_difficulty(row["difficulty"], orig)


def test_export_refuses_what_it_cannot_do_in_one_line(scripted_run, tmp_path):
    out, _, _ = scripted_run
    for args, message in ((["--format", "csv"], "invalid choice: 'csv'"), (["--split", "dev", "--format", "hf"],
                          "invalid choice: 'dev'"), ([], "the following arguments are required: --format")):
        proc = ares("export", str(out), *args)
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and message in proc.stderr
    proc = ares("export", str(tmp_path / "nothing"), "--format", "hf")
    assert proc.returncode == 2 and proc.stderr.startswith("ares export: no ARES output at ")
    assert not list(tmp_path.glob("nothing*"))  # nothing written for a bad path
