"""`ares score`: the rubric reward over many responses, as one Ray Data pipeline with vLLM judge actors.

Input rows carry `candidate_id` (an accepted instance of an ARES output) and `response` (optionally
`response_id`). Each judge actor loads the instances' questions and rubrics once, grades every criterion of a batch
of responses in one engine call, and writes per-response scores with per-criterion verdicts. A response whose
judge output never parsed gets `score = null` and its errors listed: never a silent zero.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pyarrow as pa

from operators import storage
from operators.llm.client import build_client
from operators.output import RUBRIC_TYPE
from operators.reward import ScoreItem, score_many
from operators.rubric import RubricError, check_scorable
from operators.schemas import RubricItem
from pipelines.config import Config

log = logging.getLogger("ares.score")

SCORE_SCHEMA = pa.schema(
    [
        ("candidate_id", pa.string()),
        ("response_id", pa.string()),
        ("score", pa.float64()),
        ("partial_score", pa.float64()),
        ("errors", pa.int32()),
        ("error", pa.string()),
        ("verdicts", pa.string()),  # JSON list: criterion, weight, met, explanation, error
        ("rubric", RUBRIC_TYPE),
    ]
)


def load_instances(path: str, cfg: Config) -> dict[str, tuple[str, list[RubricItem]]]:
    import pyarrow.dataset as pads

    fs = storage.arrow_filesystem(path, cfg.storage)
    table = pads.dataset(storage.strip_scheme(path), filesystem=fs, format="parquet").to_table(
        columns=["candidate_id", "question", "rubric"]
    )
    return {
        row["candidate_id"]: (row["question"], [RubricItem(**item) for item in row["rubric"]])
        for row in table.to_pylist()
    }


def rubric_problem(rubric: list[RubricItem]) -> str | None:
    try:
        check_scorable(rubric)
    except RubricError as exc:
        return str(exc)
    return None


class ScoreRunner:
    def __init__(self, cfg_json: str, instances_path: str):
        self.cfg = Config.model_validate_json(cfg_json)
        self.instances = load_instances(instances_path, self.cfg)
        self.llm = build_client(self.cfg.engines[self.cfg.score.engine])

    def __call__(self, batch: pa.Table) -> pa.Table:
        rows = batch.to_pylist()
        out: list[dict[str, Any]] = []
        items, owners = [], []
        for row in rows:
            cid, response = row.get("candidate_id"), row.get("response")
            base = {"candidate_id": cid, "response_id": None if row.get("response_id") is None
                    else str(row["response_id"])}
            if cid not in self.instances:
                out.append({**base, "error": f"unknown candidate_id {cid!r}"})
            elif not isinstance(response, str) or not response.strip():
                out.append({**base, "error": "missing or empty response"})
            elif (problem := rubric_problem(self.instances[cid][1])) is not None:
                out.append({**base, "error": f"rubric of {cid!r} cannot be scored: {problem}"})
            else:
                question, rubric = self.instances[cid]
                owners.append((len(out), rubric))
                out.append(base)
                items.append(ScoreItem(question, response, rubric))
        results = score_many(items, self.llm, self.cfg.score.sampling, self.cfg.prompts_dir, stage="score",
                             explanations=self.cfg.score.explanations)
        for (i, rubric), res in zip(owners, results):
            out[i].update(
                score=res.score, partial_score=res.partial_score, errors=res.errors,
                verdicts=json.dumps([v.model_dump() for v in res.verdicts]),
                rubric=[r.model_dump() for r in rubric],
            )
        return pa.Table.from_pylist(out, schema=SCORE_SCHEMA)


def run(cfg: Config, responses: str, instances: str, output: str, verbose: bool = False) -> dict[str, Any]:
    import ray

    from pipelines.job import JobError, start_ray
    from pipelines.resources import check_schedulable, engine_map_args

    for path in (responses, instances):
        try:
            storage.check_input(path, cfg.storage)
        except storage.StorageError as exc:
            raise JobError(str(exc)) from None
    start_ray(cfg, verbose)
    try:
        check_schedulable(cfg, [("ares score", cfg.score.engine)])
        fs = storage.arrow_filesystem(responses, cfg.storage)
        reader = ray.data.read_parquet if responses.endswith(".parquet") else ray.data.read_json
        ds = reader(storage.strip_scheme(responses), filesystem=fs)
        ds = ds.map_batches(
            ScoreRunner, fn_constructor_kwargs=dict(cfg_json=cfg.model_dump_json(), instances_path=instances),
            batch_format="pyarrow", **{**engine_map_args(cfg.engines[cfg.score.engine], cfg.ray),
                                       "batch_size": cfg.score.batch_size},
        )
        out_fs = storage.arrow_filesystem(output, cfg.storage)
        ds.write_parquet(storage.strip_scheme(output), filesystem=out_fs, schema=SCORE_SCHEMA,
                         ray_remote_args={"num_cpus": cfg.ray.task_num_cpus})
        import pyarrow.dataset as pads

        table = pads.dataset(storage.strip_scheme(output), filesystem=out_fs, format="parquet").to_table(
            columns=["score", "errors", "error"]
        )
        scores = [s for s in table.column("score").to_pylist() if s is not None]
        return {
            "output": output,
            "responses": table.num_rows,
            "scored": len(scores),
            "with_judge_errors": sum(1 for e in table.column("errors").to_pylist() if e),
            "invalid_rows": sum(1 for e in table.column("error").to_pylist() if e),
            "mean_score": round(sum(scores) / len(scores), 4) if scores else None,
        }
    finally:
        if cfg.ray.address == "local":
            ray.shutdown()
