"""Benchmark: the same ARES work through this pipeline and through what a user would write instead.

The work: N sample documents on the tiny model (the local config's engine settings, compact JSON, KV cache 1 GB per
engine), greedy sampling, one attempt per call, the same prompts (this project's templates) and JSON schemas:
document judge -> label (domain, personas) -> synthesis per (chunk, persona), two personas -> the yes/no judges
self_containment, faithfulness, leakage, each on what the one before let through. Every peer starts from the same
chunks (this project's ingest, document filter and chunking, run in the driver for the peers).

  (a) this pipeline: `ares run local` with rubric_checks, rubric_judge and discriminativeness switched off, in this
      process (`pipelines.job.run`): one engine for every stage, several batches in flight, a document one row.
  (b) `ray.data.llm` as Ray's docs show it: one `build_processor(vLLMEngineProcessorConfig(...))` per stage, each
      with its JSON schema in the row's `sampling_params.structured_outputs`, chained on one dataset with a
      `flat_map` to candidates and a `filter` after each judge; the CPU asks of the verified 2-CPU recipe (engine
      bundles of a fraction of a CPU, 0.05 CPU for its chat-template, tokenize and detokenize stages and the
      pre/postprocess maps), every other setting Ray's default. Each processor starts its own engine. Streamed as
      one dataset, the six engines and their eighteen tokenizer actors took 21.9 of this machine's 23.5 GB and sent
      it into swap-less thrashing (load 20, half the CPU time in I/O wait) before the first engine answered, so here
      each processor's output is materialized before the next starts: one engine at a time, each stage paying its
      own engine start-up, as a user on a machine this size would have to.
  (c) distilabel's vLLM LLM (`distilabel.models.llms.vLLM`), if it is installed (`pip install -e '.[bench]'`) and
      runs beside the pinned vLLM; otherwise the line says why, with the error.

Passes alternate, (a) then (b), PAIRS times, in this one process, each on a fresh local Ray cluster of 2 CPUs
(started before the clock starts; engine start-up is inside the pass, as a user waits for it). Per pass: documents/s,
output tokens/s, engine calls, prompt and cached prompt tokens (vLLM's `num_cached_tokens`; ray.data.llm drops it
from its rows, so a worker setup hook copies it into the row's `metrics`, nothing else changed), engine calls
per stage, and each peer's ratio to ours (median over the pairs).

    .venv/bin/python -m benchmarks.peers [--docs N] [--pairs P]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

STAGES = ("document_judge", "label", "synthesis", "self_containment", "faithfulness", "leakage")
OFF = ("rubric_checks", "rubric_judge", "discriminativeness")
KV_GB = "1"  # per engine: the peer starts six engines on this machine


def our_overrides(docs: int, out: Path) -> list[str]:
    ov = [f"input.limit_per_file={docs}", f"output.path={out}", "engines.default.env.VLLM_CPU_KVCACHE_SPACE='1'"]
    ov += [f"stages.{s}.enabled=false" for s in OFF]
    for s in STAGES:
        ov += [f"stages.{s}.sampling.temperature=0", f"stages.{s}.sampling.max_attempts=1"]
    return ov


def load(docs: int, out: Path):
    from pipelines.config import load_config

    return load_config("local", our_overrides(docs, out))


def start_ray() -> None:
    import ray

    from pipelines import admission_service
    from pipelines.console import configure_ray_data, ray_init_kwargs

    ray.init(address="local", num_cpus=2, include_dashboard=False, namespace=admission_service.NAMESPACE,
             **ray_init_kwargs(False))
    configure_ray_data(False)


def ours(docs: int, work: Path, i: int) -> dict[str, Any]:
    """(a): the job itself; its ledger counts calls and tokens, per stage."""
    from pipelines import job

    out = work / f"ours-{i}"
    cfg = load(docs, out)
    start_ray()
    started = time.perf_counter()
    summary = job.run(cfg, progress_every=600)  # shuts the local cluster down at the end
    seconds = time.perf_counter() - started
    tot, stages = summary["ledger"]["total"], summary["ledger"]["stages"]
    return {"seconds": seconds, "documents": summary["documents_read"], "calls": tot["calls"],
            "prompt_tokens": tot["prompt_tokens"], "cached_tokens": tot["cached_prompt_tokens"],
            "output_tokens": tot["output_tokens"], "stage_calls": {s: stages.get(s, {}).get("calls", 0) for s in STAGES}}


def count_cached_tokens() -> None:
    """Worker setup hook for (b): keep vLLM's per-request `num_cached_tokens` in the row's metrics."""
    from ray.llm._internal.batch.stages.vllm_engine_stage import vLLMOutputData

    original = vLLMOutputData.from_vllm_engine_output.__func__

    def with_cached(cls, output):
        data = original(cls, output)
        data.metrics = {**(data.metrics or {}), "num_cached_tokens": getattr(output, "num_cached_tokens", 0) or 0}
        return data

    vLLMOutputData.from_vllm_engine_output = classmethod(with_cached)


def prepared_documents(cfg) -> list[dict[str, Any]]:
    """The chunks every peer starts from: this project's ingest, document filter and chunking."""
    import gzip

    from operators.stage import StageContext
    from operators.stages import chunking, document_filter, ingest
    from operators.state import DocumentState
    from pipelines.locations import sample_dir

    with gzip.open(sample_dir() / "documents.jsonl.gz", "rt", encoding="utf-8") as f:
        records = [json.loads(line) for line in f][:cfg.input.limit_per_file]
    docs = [DocumentState.from_read_row({"record_key": f"documents.jsonl.gz#{i}", "doc_id": r.get("id"),
                                         "text": r.get("text"), "source": "documents.jsonl.gz", "row": i,
                                         "error": None}) for i, r in enumerate(records, 1)]
    ctx = StageContext(cfg=cfg)
    for stage in (ingest.STAGE, document_filter.STAGE, chunking.STAGE):
        stage.run(docs, ctx.for_stage(stage.name))
    return [{"key": d.record_key, "chunk": d.chunks[0].text, "excerpt": d.excerpt()} for d in docs if d.alive]


class Ledger:
    """A named actor the peers' postprocess steps report each call to (rows a filter drops are counted too)."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, int]] = {}

    def add(self, stage: str, prompt: int, cached: int, output: int, passed: bool) -> None:
        r = self.rows.setdefault(stage, {"calls": 0, "prompt_tokens": 0, "cached_tokens": 0, "output_tokens": 0,
                                         "passed": 0})
        r["calls"] += 1
        r["prompt_tokens"] += prompt
        r["cached_tokens"] += cached
        r["output_tokens"] += output
        r["passed"] += int(passed)

    def get(self) -> dict[str, dict[str, int]]:
        return self.rows


def ray_data_llm(cfg, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """(b): one ray.data.llm processor per stage, chained."""
    import ray
    from ray.data import DataContext
    from ray.data.llm import build_processor, vLLMEngineProcessorConfig

    from operators.llm.engine_config import compact_structured_outputs
    from operators.llm.parsing import parse_output
    from operators.schemas import BinaryJudgement, DomainPersonas, GeneratedInstance
    from operators.stages import label, synthesis
    from operators.templates import render

    DataContext.get_current().checkpoint_config = None  # (a)'s job set its own in this process
    eng = cfg.engines["default"]
    env = {**eng.env, "VLLM_CPU_KVCACHE_SPACE": KV_GB, "HF_HUB_OFFLINE": "1"}
    engine_kwargs = {"dtype": "bfloat16", "enable_prefix_caching": True, **eng.engine_kwargs,
                     "max_model_len": eng.max_model_len,
                     "structured_outputs_config": compact_structured_outputs(None)}
    ledger = ray.remote(num_cpus=0)(Ledger).remote()
    spec, st = cfg.rubric, cfg.stages
    light = dict(num_cpus=0.05)

    def processor(stage: str, batch_size: int, template: str, values, output, schema, verdict):
        sampling = getattr(st, stage).sampling
        schema_text = json.dumps(schema)

        def pre(row):
            return {**row, "messages": render(template, None, **values(row)),
                    "sampling_params": dict(temperature=sampling.temperature, max_tokens=sampling.max_tokens,
                                            structured_outputs=dict(json=schema_text))}

        def post(row):
            value, error = parse_output(row["generated_text"], "stop", output, schema)
            ok, fields = verdict(value) if value is not None else (False, {})
            metrics = row.get("metrics") or {}
            ledger.add.remote(stage, int(row["num_input_tokens"]), int(metrics.get("num_cached_tokens") or 0),
                              int(row["num_generated_tokens"]), ok)
            keep = {k: row[k] for k in ("key", "chunk", "excerpt", "domain", "personas", "persona", "question",
                                         "answer") if k in row}
            return {**keep, **fields, "ok": ok}

        config = vLLMEngineProcessorConfig(
            model_source=eng.model, engine_kwargs=engine_kwargs, concurrency=(1, 1), batch_size=batch_size,
            accelerator_type=None, placement_group_config={"bundles": [{"CPU": 0.15}]},
            chat_template_stage=light, tokenize_stage=light, detokenize_stage=light,
            runtime_env={"env_vars": env, "worker_process_setup_hook": "benchmarks.peers.count_cached_tokens"})
        return build_processor(config, preprocess=pre, postprocess=post, preprocess_map_kwargs=dict(num_cpus=0.01),
                               postprocess_map_kwargs=dict(num_cpus=0.01))

    yes = lambda v: (v.verdict == "yes", {})  # noqa: E731
    label_schema = label._schema(st.label.domains, st.label.max_personas)
    k = st.plan.personas_per_chunk
    b = eng.batch_size
    judge = lambda name, values, passes="yes": processor(  # noqa: E731
        name, 2 * b, name, values, BinaryJudgement, BinaryJudgement.model_json_schema(),
        lambda v: (v.verdict == passes, {}))
    steps = [
        lambda ds: processor("document_judge", b, "document_judge", lambda r: {"document": r["chunk"]},
                             BinaryJudgement, BinaryJudgement.model_json_schema(), yes)(ds),
        lambda ds: processor("label", b, "label", lambda r: {"document": r["excerpt"],
                                                            "domains": "; ".join(st.label.domains),
                                                            "max_personas": st.label.max_personas},
                             DomainPersonas, label_schema,
                             lambda v: (True, {"domain": v.domain, "personas": list(dict.fromkeys(
                                 p.strip() for p in v.personas if p.strip()))}))(ds),
        lambda ds: processor("synthesis", 2 * b, "synthesis",
                             lambda r: synthesis.prompt_values(spec, r["chunk"], r["persona"], r["domain"]),
                             GeneratedInstance, synthesis.schema(spec),
                             lambda v: (True, {"question": v.question, "answer": v.reference_answer}))(
            ds.flat_map(lambda r: [{**r, "persona": p} for p in r["personas"][:k]])),
        lambda ds: judge("self_containment", lambda r: {"question": r["question"]})(ds),
        lambda ds: judge("faithfulness", lambda r: {"document": r["chunk"], "question": r["question"],
                                                    "answer": r["answer"]})(ds),
        lambda ds: judge("leakage", lambda r: {"question": r["question"], "answer": r["answer"]}, "no")(ds),
    ]
    started = time.perf_counter()
    ds = ray.data.from_items(rows, override_num_blocks=max(1, len(rows) // b))
    stage_seconds = []
    for step in steps:  # one processor at a time: six engines at once do not fit this machine (module docstring)
        t = time.perf_counter()
        ds = step(ds).filter(lambda r: r["ok"]).materialize()
        stage_seconds.append(time.perf_counter() - t)
    seconds = time.perf_counter() - started
    per = ray.get(ledger.get.remote())
    tot = {f: sum(r[f] for r in per.values()) for f in ("calls", "prompt_tokens", "cached_tokens", "output_tokens")}
    return {"seconds": seconds, "documents": len(rows), **tot, "stage_seconds": stage_seconds,
            "stage_calls": {s: per.get(s, {}).get("calls", 0) for s in STAGES}}


def peer_ray(docs: int, work: Path, i: int) -> dict[str, Any]:
    import ray

    cfg = load(docs, work / f"peer-{i}")
    rows = prepared_documents(cfg)
    start_ray()
    try:
        return ray_data_llm(cfg, rows)
    finally:
        ray.shutdown()


DISTILABEL_PROBE = """
import json, os, sys
os.environ.update(json.loads(sys.argv[1]))
from pydantic import BaseModel
class Verdict(BaseModel):
    reason: str
    verdict: str
if __name__ == "__main__":
    from distilabel.models.llms import vLLM
    kwargs = dict(model=sys.argv[2], dtype="bfloat16", disable_cuda_device_placement=True,
                  extra_kwargs=dict(max_model_len=2048, enforce_eager=True, distributed_executor_backend="uni"))
    chat = [[{"role": "user", "content": "Is water wet? Answer in JSON."}]]
    for structured in (None, {"format": "json", "schema": Verdict}):  # plain text first, then the JSON schema
        llm = vLLM(structured_output=structured, **kwargs)
        llm.load()
        print(llm.generate_outputs(inputs=chat, max_new_tokens=32))
        llm.unload()
"""


def distilabel_status(cfg) -> str:
    """Whether distilabel's vLLM LLM runs here: one JSON-constrained generation in a child process."""
    import subprocess

    try:
        import distilabel
    except ImportError:
        return "not installed (pip install -e '.[bench]'); not run"
    env = {**cfg.engines["default"].env, "VLLM_CPU_KVCACHE_SPACE": KV_GB, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-c", DISTILABEL_PROBE, json.dumps(env), cfg.engines["default"].model],
                          capture_output=True, text=True, timeout=600)
    if proc.returncode == 0:
        return f"distilabel {distilabel.__version__} ran one structured generation (a pass of the workload is not " \
               "written yet)"
    import re

    errors = [ln.strip() for ln in proc.stderr.splitlines() if re.match(r"\s*\w*(Error|Exception): ", ln)]
    last = errors[-1:] or [ln for ln in proc.stderr.strip().splitlines() if ln.strip()][-1:] or ["(no output)"]
    return f"distilabel {distilabel.__version__} cannot run beside vLLM {_vllm_version()}: {last[0]}"


def _vllm_version() -> str:
    from importlib.metadata import version

    return version("vllm-cpu") if _has("vllm-cpu") else version("vllm")


def _has(dist: str) -> bool:
    from importlib.metadata import PackageNotFoundError, version

    try:
        version(dist)
        return True
    except PackageNotFoundError:
        return False


def line(name: str, r: dict[str, Any]) -> str:
    return (f"{name:22s} {r['seconds']:7.1f} s {r['documents'] / r['seconds']:8.3f} docs/s "
            f"{r['output_tokens'] / r['seconds']:7.1f} out tok/s {r['calls']:5d} calls {r['prompt_tokens']:8,d} prompt "
            f"{r['cached_tokens']:8,d} cached {r['output_tokens']:7,d} out; calls per stage: "
            + " ".join(str(r["stage_calls"][s]) for s in STAGES))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=8)
    ap.add_argument("--pairs", type=int, default=2)
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    print(f"peers on the same work: {args.docs} sample documents, tiny model, greedy, {platform.machine()} "
          f"{os.cpu_count()} CPUs, {datetime.date.today()}; stages: {' -> '.join(STAGES)}")
    ratios: dict[str, list[float]] = {"docs/s": [], "output tok/s": []}
    with tempfile.TemporaryDirectory() as work:
        for i in range(args.pairs):
            a = ours(args.docs, Path(work), i)
            print(line(f"(a) ARES pass {i + 1}", a), flush=True)
            b = peer_ray(args.docs, Path(work), i)
            print(line(f"(b) ray.data.llm pass {i + 1}", b) + "; seconds per stage (engine start-up included): "
                  + " ".join(f"{x:.0f}" for x in b["stage_seconds"]), flush=True)
            ratios["docs/s"].append((b["documents"] / b["seconds"]) / (a["documents"] / a["seconds"]))
            ratios["output tok/s"].append((b["output_tokens"] / b["seconds"]) / (a["output_tokens"] / a["seconds"]))
        print("(b)/(a), median over pairs: " + ", ".join(
            f"{k} {statistics.median(v):.2f} ({', '.join(f'{x:.2f}' for x in v)})" for k, v in ratios.items()))
        print(f"(c) distilabel: {distilabel_status(load(args.docs, Path(work) / 'c'))}")


if __name__ == "__main__":
    main()
