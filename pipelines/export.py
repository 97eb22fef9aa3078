"""`ares export OUTPUT --format hf|verl|openrlhf|jsonl [--split S]`: the accepted instances in the layout a trainer
or a dataset hub reads, one file per split.

- hf: `data/<split>-00000-of-00001.parquet` plus a README.md whose `configs` metadata names the splits, so that
  `datasets.load_dataset(DIR)` returns them as splits. A `prompt` column (a one-turn chat) makes it TRL GRPO-ready;
  `question` and `rubric` ride along for the reward function.
- verl: `<split>.parquet` with verl's RL columns (verl-project/verl after v0.9.0, examples/data_preprocess):
  `data_source`, `prompt` (chat), `ability` (the domain), `reward_model` {style, ground_truth} with the question and
  rubric as the ground truth (a JSON string), `extra_info` {split, index, ...}.
- openrlhf: `<split>.jsonl` with `input` (the question; OpenRLHF v0.11.0 wraps a string into a user turn under
  `--data.apply_chat_template`) and `label` (the question and rubric as a JSON string) for `--data.input_key input
  --data.label_key label`.
- jsonl: `<split>.jsonl`, one instance per line with its provenance.

Every format carries the difficulty the learnability stage measured (`difficulty`: k, the scores of the policy's k
answers, their mean, standard deviation and share above the threshold; null when the stage was off), so a trainer
can build a curriculum from it; in verl's layout it sits in `extra_info`.
"""

from __future__ import annotations

import json
import posixpath
from typing import Any, Callable

import pyarrow as pa
import pyarrow.parquet as pq

from operators import storage
from operators.output import RUBRIC_TYPE
from operators.served_reward.labels import dump_label
from pipelines.output_reader import JobOutput

FORMATS = ("hf", "verl", "openrlhf", "jsonl")
SPLITS = ("train", "validation", "test")
DATA_SOURCE = "ares"
COLUMNS = ["candidate_id", "question", "reference_answer", "rubric", "domain", "persona", "split", "record_key",
           "doc_id", "doc_hash", "chunk_start", "chunk_end", "models", "prompts_version", "run_name", "learnability"]
DIFFICULTY_TYPE = pa.struct([("k", pa.int32()), ("scores", pa.list_(pa.float64())), ("mean", pa.float64()),
                             ("std", pa.float64()), ("share_above", pa.float64())])
CHAT_TYPE = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))


class ExportError(ValueError):
    """Nothing to export, or a destination that cannot be written; one line."""


def _chat(question: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": question}]


def _difficulty(r: dict[str, Any]) -> dict[str, Any] | None:
    """The learnability stage's numbers (not the policy's answers), or None when the stage did not run."""
    m = r.get("learnability")
    if not m:
        return None
    return {"k": m["k"], "scores": m["scores"], "mean": m["mean"], "std": m["std"], "share_above": m["share_above"]}


def _provenance(r: dict[str, Any]) -> dict[str, Any]:
    return {"source": r["record_key"], "doc_id": r["doc_id"], "doc_hash": r["doc_hash"],
            "chunk_start": r["chunk_start"], "chunk_end": r["chunk_end"], "models": r["models"],
            "prompts_version": r["prompts_version"], "run_name": r["run_name"]}


HF_SCHEMA = pa.schema([
    ("id", pa.string()), ("prompt", CHAT_TYPE), ("question", pa.string()), ("reference_answer", pa.string()),
    ("rubric", RUBRIC_TYPE), ("domain", pa.string()), ("persona", pa.string()), ("source", pa.string()),
    ("doc_id", pa.string()), ("doc_hash", pa.string()), ("chunk_start", pa.int64()), ("chunk_end", pa.int64()),
    ("models", pa.string()), ("prompts_version", pa.string()), ("run_name", pa.string()),
    ("difficulty", DIFFICULTY_TYPE),
])

VERL_SCHEMA = pa.schema([
    ("data_source", pa.string()), ("prompt", CHAT_TYPE), ("ability", pa.string()),
    ("reward_model", pa.struct([("style", pa.string()), ("ground_truth", pa.string())])),
    ("extra_info", pa.struct([("split", pa.string()), ("index", pa.int64()), ("id", pa.string()),
                              ("question", pa.string()), ("reference_answer", pa.string()),
                              ("domain", pa.string()), ("persona", pa.string()), ("source", pa.string()),
                              ("difficulty", DIFFICULTY_TYPE)])),
])


def hf_row(r: dict[str, Any], i: int) -> dict[str, Any]:
    return {"id": r["candidate_id"], "prompt": _chat(r["question"]), "question": r["question"],
            "reference_answer": r["reference_answer"], "rubric": r["rubric"], "domain": r["domain"],
            "persona": r["persona"], **_provenance(r), "difficulty": _difficulty(r)}


def verl_row(r: dict[str, Any], i: int) -> dict[str, Any]:
    return {
        "data_source": DATA_SOURCE, "prompt": _chat(r["question"]), "ability": r["domain"],
        "reward_model": {"style": "rubric", "ground_truth": dump_label(r["question"], r["rubric"])},
        "extra_info": {"split": r["split"], "index": i, "id": r["candidate_id"], "question": r["question"],
                       "reference_answer": r["reference_answer"], "domain": r["domain"], "persona": r["persona"],
                       "source": r["record_key"], "difficulty": _difficulty(r)},
    }


def openrlhf_row(r: dict[str, Any], i: int) -> dict[str, Any]:
    return {"input": r["question"], "label": dump_label(r["question"], r["rubric"]), "id": r["candidate_id"],
            "domain": r["domain"], "persona": r["persona"], "reference_answer": r["reference_answer"],
            "difficulty": _difficulty(r)}


def jsonl_row(r: dict[str, Any], i: int) -> dict[str, Any]:
    prov = _provenance(r)
    prov["models"] = json.loads(prov["models"]) if prov["models"] else {}
    return {"id": r["candidate_id"], "question": r["question"], "reference_answer": r["reference_answer"],
            "rubric": r["rubric"], "domain": r["domain"], "persona": r["persona"], "split": r["split"], **prov,
            "difficulty": _difficulty(r)}


ROW_BUILDERS: dict[str, Callable[[dict[str, Any], int], dict[str, Any]]] = {
    "hf": hf_row, "verl": verl_row, "openrlhf": openrlhf_row, "jsonl": jsonl_row}


def hf_card(splits: list[str]) -> str:
    """The dataset card's metadata that tells `datasets` (and the Hub) which files make which split."""
    lines = ["---", "configs:", "- config_name: default", "  data_files:"]
    for s in splits:
        lines += [f"  - split: {s}", f"    path: data/{s}-*.parquet"]
    lines += ["---", "", "# ARES rubric-annotated RL data", "",
              "Exported by `ares export --format hf`: one row per accepted instance with a one-turn chat `prompt`,",
              "the `question`, its `reference_answer` and weighted `rubric` ({criterion, weight, polarity}), the",
              "`domain`, the `persona` it was written for, and its provenance.", ""]
    return "\n".join(lines)


def export(out: JobOutput, fmt: str, destination: str, split: str | None = None) -> dict[str, int]:
    """Write the accepted instances of `out` in format `fmt` under `destination`; returns rows per split."""
    import pyarrow.compute as pc

    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
    table = out.table("accepted", COLUMNS)
    if split is not None:
        table = table.filter(pc.equal(table.column("split"), split))
    if len(table) == 0:
        where = f" in split {split!r}" if split else ""
        raise ExportError(f"no accepted instances{where} in {out.path}")
    by_split: dict[str, list[dict[str, Any]]] = {}
    for r in table.to_pylist():
        by_split.setdefault(r["split"] or "train", []).append(r)
    splits = sorted(by_split, key=lambda s: SPLITS.index(s) if s in SPLITS else len(SPLITS))
    fs = storage.arrow_filesystem(destination, out.storage)
    root = storage.strip_scheme(destination).rstrip("/")
    if not storage.is_s3(destination):
        fs.create_dir(root, recursive=True)
    build = ROW_BUILDERS[fmt]
    counts = {}
    for s in splits:
        rows = [build(r, i) for i, r in enumerate(by_split[s])]
        counts[s] = len(rows)
        if fmt in ("hf", "verl"):
            schema = HF_SCHEMA if fmt == "hf" else VERL_SCHEMA
            name = f"data/{s}-00000-of-00001.parquet" if fmt == "hf" else f"{s}.parquet"
            path = posixpath.join(root, name)
            if fmt == "hf" and not storage.is_s3(destination):
                fs.create_dir(posixpath.dirname(path), recursive=True)
            pq.write_table(pa.Table.from_pylist(rows, schema=schema), path, filesystem=fs)
        else:
            with fs.open_output_stream(posixpath.join(root, f"{s}.jsonl")) as f:
                f.write("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8"))
    if fmt == "hf":
        with fs.open_output_stream(posixpath.join(root, "README.md")) as f:
            f.write(hf_card(splits).encode("utf-8"))
    return counts
