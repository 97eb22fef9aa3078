"""Benchmark: what the pipeline's engine path costs next to a bare `LLM.chat` (the ceiling).

First the pipeline's stages run over N sample documents in this process (greedy sampling, one attempt per call), and
every engine call they make is recorded: per batch of documents, the calls of each stage in order. Then the same
recorded requests are replayed, on the real tiny model, through
  (a) one bare `vllm.LLM.chat` with all of them at once: no stage order to wait for, the ceiling;
  (b) the pipeline's engine path: `VLLMClient` (vLLM's AsyncLLM) with `max_concurrent_batches` batches in flight,
      each batch's calls stage after stage, as `EngineGroupRunner` runs them (tokenize, generate, parse, validate);
  (c) the previous engine path, for reference: one synchronous `LLM.chat` per stage per batch, batch after batch.
(a) and (b) run 3 times each, alternating, in this process; (c) once. Each pass starts with an empty prefix cache.
Prints output tokens/s of each, the ratio b/a (median of the 3 pairs), and the mean number of sequences running per
engine step (vLLM's scheduler stats).

    .venv/bin/python -m benchmarks.engine_overhead [N_DOCS] [BATCH_SIZE]     # default: 12 documents, 3 per batch

With the defaults the 12 documents make 4 batches, as many as the local engine keeps in flight
(`max_concurrent_batches`), so the engine path runs as it does inside a long job.

The recording is kept in `.cache/benchmarks/` and reused by later runs with the same N_DOCS (delete it to record
again).
"""

from __future__ import annotations

import gc
import os
import pickle
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa

from benchmarks.prefix_reuse import sample_texts
from operators.llm.client import LLMRequest, StepStats, VLLMClient
from operators.read_documents import ROW_SCHEMA
from pipelines.config import load_config
from pipelines.runner import GroupRunner, group_stages

GREEDY = ["stages.label.sampling.temperature=0", "stages.synthesis.sampling.temperature=0",
          "stages.discriminativeness.flawed_answer.temperature=0"]


class Recorder:
    """An engine client that records each call's requests, then answers through the real engine."""

    shared: "Recorder | None" = None

    def __init__(self, engine):
        self.client = VLLMClient(engine)
        self.calls: list[tuple[int, list[LLMRequest]]] = []  # (batch number, requests of one stage's call)
        self.batch = 0
        Recorder.shared = self

    def run(self, requests):
        self.calls.append((self.batch, [LLMRequest(r.messages, r.output, r.sampling.model_copy(
            update={"max_attempts": 1}), r.schema, r.stage) for r in requests]))
        return self.client.run(requests)


def record(n_docs: int, batch_size: int) -> tuple[list[list[list[LLMRequest]]], object]:
    """Run the pipeline's stages over `n_docs` sample documents; return, per batch, its calls in order."""
    overrides = GREEDY + ["engines.default.client=benchmarks.engine_overhead:Recorder",
                          f"engines.default.batch_size={batch_size}"]
    overrides += [f"stages.{s}.sampling.max_attempts=1" for s in ("document_judge", "label", "synthesis",
                                                                     "self_containment", "faithfulness", "leakage",
                                                                     "rubric_judge", "discriminativeness")]
    cfg = load_config("local", overrides)
    texts = sample_texts(n_docs)
    rows = pa.Table.from_pylist([{"record_key": f"s#{i}", "doc_id": f"d{i}", "text": t, "source": "s", "row": i,
                                  "error": None} for i, t in enumerate(texts, 1)], schema=ROW_SCHEMA)
    groups = group_stages(cfg.active_stages(), cfg)
    meta = {"prompts_version": "v", "models": "{}", "run_name": "bench"}
    runners = [GroupRunner(cfg.model_dump_json(), g.stages, i == 0, i == len(groups) - 1, meta, None, None)
               for i, g in enumerate(groups)]
    from benchmarks import engine_overhead  # the module the config's client factory names (not __main__)

    rec = engine_overhead.Recorder.shared
    size = cfg.engines["default"].batch_size
    for b, start in enumerate(range(0, len(texts), size)):
        rec.batch = b
        batch = rows.slice(start, size)
        for runner in runners:
            batch = runner(batch)
    batches: list[list[list[LLMRequest]]] = [[] for _ in range(rec.batch + 1)]
    for b, reqs in rec.calls:
        batches[b].append(reqs)
    rec.client.close()
    del runners
    gc.collect()
    return batches, cfg


def ceiling(llm, stats: StepStats, requests: list[LLMRequest]) -> tuple[float, int]:
    """(a): one bare LLM.chat over every request."""
    llm.reset_prefix_cache()
    stats.reset()
    started = time.perf_counter()
    outs = llm.chat([r.messages for r in requests], [VLLMClient.sampling_params(r, 0) for r in requests],
                    use_tqdm=False)
    return time.perf_counter() - started, sum(len(o.outputs[0].token_ids) for o in outs)


def old_path(llm, stats: StepStats, batches: list[list[list[LLMRequest]]]) -> tuple[float, int]:
    """(c): the previous engine path, one synchronous LLM.chat per stage per batch, batch after batch."""
    llm.reset_prefix_cache()
    stats.reset()
    started, tokens = time.perf_counter(), 0
    for calls in batches:
        for reqs in calls:
            outs = llm.chat([r.messages for r in reqs], [VLLMClient.sampling_params(r, 0) for r in reqs],
                            use_tqdm=False)
            tokens += sum(len(o.outputs[0].token_ids) for o in outs)
    return time.perf_counter() - started, tokens


def engine_path(client: VLLMClient, stats: StepStats, batches: list[list[list[LLMRequest]]],
                in_flight: int) -> tuple[float, int]:
    """(b): the pipeline's path, `in_flight` batches at once, each batch's calls in stage order."""
    client.reset_prefix_cache()
    stats.reset()

    def one_batch(calls: list[list[LLMRequest]]) -> int:
        return sum(r.output_tokens for reqs in calls for r in client.run(reqs))

    started = time.perf_counter()
    with ThreadPoolExecutor(in_flight) as pool:
        tokens = sum(pool.map(one_batch, batches))
    return time.perf_counter() - started, tokens


def bare_llm(cfg, stats: StepStats):
    from vllm import LLM

    from operators.llm.engine_config import compact_structured_outputs

    eng = cfg.engines["default"]
    os.environ.update(eng.env)  # the engine's environment, as its actor gets it (the KV cache size above all)
    kwargs = {"dtype": "bfloat16", "enable_prefix_caching": True, **eng.engine_kwargs}
    kwargs["structured_outputs_config"] = compact_structured_outputs(None)
    llm = LLM(model=eng.model, max_model_len=eng.max_model_len, disable_log_stats=False, **kwargs)
    stats.install(llm.llm_engine)
    return llm


def recorded(n: int, batch_size: int):
    path = Path(__file__).resolve().parent.parent / ".cache" / "benchmarks" / f"engine_overhead-{n}-{batch_size}.pkl"
    if path.exists():
        return pickle.loads(path.read_bytes()), load_config("local", [f"engines.default.batch_size={batch_size}"])
    batches, cfg = record(n, batch_size)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(batches))
    return batches, cfg


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 12
    batches, cfg = recorded(n, int(sys.argv[2]) if len(sys.argv) > 2 else 3)
    requests = [r for calls in batches for reqs in calls for r in reqs]
    in_flight = cfg.engines["default"].max_concurrent_batches
    a_stats, b_stats = StepStats(), StepStats()
    llm = bare_llm(cfg, a_stats)
    client = VLLMClient(cfg.engines["default"], step_stats=b_stats)
    ceiling(llm, a_stats, requests[:2])  # warm-up (grammar compilation) outside the timings
    client.run(requests[:2])
    a_runs, b_runs = [], []
    for i in range(3):
        secs, toks = ceiling(llm, a_stats, requests)
        a_runs.append((secs, toks, a_stats.mean_running))
        secs, toks = engine_path(client, b_stats, batches, in_flight)
        b_runs.append((secs, toks, b_stats.mean_running))
        print(f"pass {i + 1} of 3: (a) {a_runs[-1][0]:.1f} s, (b) {b_runs[-1][0]:.1f} s", file=sys.stderr, flush=True)
    c_secs, c_toks = old_path(llm, a_stats, batches)
    c_running = a_stats.mean_running

    print(f"{n} documents, {len(batches)} batches of {cfg.engines['default'].batch_size}, "
          f"{len(requests)} recorded requests, {in_flight} batches in flight on the engine path")
    for name, runs in (("(a) bare LLM.chat, all at once", a_runs), ("(b) pipeline engine path", b_runs)):
        for secs, toks, running in runs:
            print(f"{name:34s} {secs:7.1f} s {toks:7d} output tokens {toks / secs:7.1f} tok/s "
                  f"{running:5.1f} running/step")
    print(f"{'(c) previous path, per stage/batch':34s} {c_secs:7.1f} s {c_toks:7d} output tokens "
          f"{c_toks / c_secs:7.1f} tok/s {c_running:5.1f} running/step")
    ratios = [(bt / bs) / (at / as_) for (as_, at, _), (bs, bt, _) in zip(a_runs, b_runs)]
    print(f"ratio b/a of output tokens/s: median {statistics.median(ratios):.2f} "
          f"(runs: {', '.join(f'{r:.2f}' for r in ratios)}); ratio c/a: "
          f"{(c_toks / c_secs) / statistics.median(at / as_ for as_, at, _ in a_runs):.2f}")
    client.close()


if __name__ == "__main__":
    main()
