"""Benchmark: what stopping at the target saves in engine calls.

The pipeline's operators run in this process over N sample documents, batch after batch, with the scripted engine
(`tests/scripted_engine.py`: it writes passing candidates, so instances are accepted and the target is reached; the
tiny model's candidates die at the filters) and the admission service in-process, twice with the same
`target.accepted`:
  (1) without the gate: every document goes through every stage, and admission refuses what is over the target;
  (2) with the gate (the pipeline's behaviour): before each LLM stage the runner asks admission, and once the target
      is met no document or candidate spends another engine call.
Prints engine calls per stage of each pass, the calls and (stand-in) tokens spent on candidates refused for quota
as the summary reports them, and the ratio of calls. Calls are exact; the scripted engine's tokens are characters/4.

    .venv/bin/python -m benchmarks.stop_at_target [N_DOCS] [TARGET]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from unittest import mock

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from benchmarks.prefix_reuse import sample_texts
from operators.read_documents import ROW_SCHEMA
from operators.services.admission import Admission, AdmissionClient
from pipelines.config import load_config
from pipelines.runner import GroupRunner, group_stages
from pipelines.summary import write_summary

META = {"prompts_version": "v", "models": "{}", "run_name": "bench"}


def one_pass(n: int, target: int, gate: bool, out: Path) -> tuple[dict[str, int], dict, int]:
    cfg = load_config("local", ["engines.default.client=tests.scripted_engine:ScriptedClient",
                                "input.limit_per_file=null", f"target.accepted={target}", f"output.path={out}"])
    adm = cfg.stages.admission
    admission = AdmissionClient(Admission(adm.quota, adm.dedup, 1.0, target=target))
    groups = group_stages(cfg.active_stages(), cfg)
    runners = [GroupRunner(cfg.model_dump_json(), g.stages, i == 0, i == len(groups) - 1, META, None, None)
               for i, g in enumerate(groups)]
    for r in runners:
        r.ctx.services["admission"] = admission
    texts = sample_texts(n)
    rows = pa.Table.from_pylist([{"record_key": f"s#{i}", "doc_id": f"d{i}", "text": t, "source": "s", "row": i,
                                  "error": None} for i, t in enumerate(texts, 1)], schema=ROW_SCHEMA)
    size = cfg.engines["default"].batch_size
    outputs = []
    with mock.patch.object(GroupRunner, "gated", new=gate):
        for start in range(0, len(texts), size):
            batch = rows.slice(start, size)
            for r in runners:
                batch = r(batch)
            outputs.append(batch)
    table = pa.concat_tables(outputs)
    for status in ("accepted", "rejected"):
        part = table.filter(pc.equal(table.column("status"), status)).drop_columns(["status"])
        (out / status).mkdir(parents=True, exist_ok=True)
        pq.write_table(part, out / status / "part-0.parquet")
    summary = write_summary(cfg, {})
    calls = next(r.ctx.llm for r in runners if r.ctx.llm is not None).calls
    return dict(calls), summary, summary["accepted"]


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 48
    target = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    with tempfile.TemporaryDirectory() as tmp:
        without = one_pass(n, target, False, Path(tmp) / "without")
        with_gate = one_pass(n, target, True, Path(tmp) / "with")
    print(f"{n} documents, target.accepted={target}, scripted engine, batches of the local batch_size")
    stages = sorted(set(without[0]) | set(with_gate[0]))
    print(f"{'engine calls':24s} " + " ".join(f"{s[:12]:>12s}" for s in stages) + f" {'total':>8s}  accepted")
    for name, (calls, _, accepted) in (("(1) refused at admission", without), ("(2) stop at the target", with_gate)):
        print(f"{name:24s} " + " ".join(f"{calls.get(s, 0):12d}" for s in stages)
              + f" {sum(calls.values()):8d}  {accepted}")
    for name, (_, summary, _) in (("(1)", without), ("(2)", with_gate)):
        r = summary["ledger"]["refused_for_quota"]
        print(f"{name} spent on refused for quota: {r['candidates']} candidates, {r['documents']} documents, "
              f"{r['calls']} calls, {r['prompt_tokens']} prompt / {r['output_tokens']} output tokens (stand-ins)")
    print(f"ratio of engine calls (2)/(1): {sum(with_gate[0].values()) / sum(without[0].values()):.2f}")


if __name__ == "__main__":
    main()
