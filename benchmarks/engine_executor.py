"""Benchmark: vLLM's default CPU executor against the uniprocess executor the local configs use.

On the CPU, vLLM's default (multiprocess) executor runs the model in a worker process of its own, its OpenMP threads
pinned to cores (automatically: one core for the model, one reserved), while the engine process waits for each step
on a shared-memory queue that it polls in a busy loop. The uniprocess executor runs the model inside the engine
process: one Python process start less per engine, and no poll competing for the cores.

The same recorded requests (`benchmarks/engine_overhead.py`'s recording: the pipeline's calls over 12 sample
documents, in batches of 3, greedy) are replayed through the pipeline's engine client (`VLLMClient`, 4 batches in
flight, each batch's calls in stage order), each variant in a fresh process:
  one engine:  multiprocess with vLLM's automatic binding (1 thread, the previous local default), multiprocess on
               both cores (`VLLM_CPU_OMP_THREADS_BIND=0-1`), uniprocess with 1 thread, uniprocess with 2 threads (the
               local default now);
  two engines replaying at once, as the generator and judge pools of `local-two-engines` (or the policy pool beside
               the default one): multiprocess with automatic binding (both models pinned to the same core),
               uniprocess with 1 thread each (the local configs now).
Prints, per variant: seconds from the client's constructor to a ready engine, seconds of each of 2 replays, output
tokens, and output tokens/s; then each uniprocess variant's ratio of output tokens/s and of start seconds to its
multiprocess counterpart. Greedy outputs are not the same tokens from variant to variant (the CPU kernels' sums run in
another order, and which requests share a step changes), so the replays are compared per output token.

    .venv/bin/python -m benchmarks.engine_executor
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

KV = {"VLLM_CPU_KVCACHE_SPACE": "2"}
MP = {"dtype": "bfloat16", "enforce_eager": True}
UNI = {**MP, "distributed_executor_backend": "uni"}
UNI_ENV = {**KV, "VLLM_ENABLE_V1_MULTIPROCESSING": "0"}
# name -> (engines, engine_kwargs, env)
VARIANTS = {
    "1 engine, multiprocess, auto binding (1 thread)": (1, MP, KV),
    "1 engine, multiprocess, 2 threads": (1, MP, {**KV, "VLLM_CPU_OMP_THREADS_BIND": "0-1",
                                                  "VLLM_CPU_NUM_OF_RESERVED_CPU": "0"}),
    "1 engine, uniprocess, 1 thread": (1, UNI, {**UNI_ENV, "OMP_NUM_THREADS": "1"}),
    "1 engine, uniprocess, 2 threads": (1, UNI, {**UNI_ENV, "OMP_NUM_THREADS": "2"}),
    "2 engines, multiprocess, auto binding": (2, MP, KV),
    "2 engines, uniprocess, 1 thread each": (2, UNI, {**UNI_ENV, "OMP_NUM_THREADS": "1"}),
}
PAIRS = [("1 engine, uniprocess, 1 thread", "1 engine, multiprocess, auto binding (1 thread)"),
         ("1 engine, uniprocess, 2 threads", "1 engine, multiprocess, 2 threads"),
         ("1 engine, uniprocess, 2 threads", "1 engine, multiprocess, auto binding (1 thread)"),
         ("2 engines, uniprocess, 1 thread each", "2 engines, multiprocess, auto binding")]
N_DOCS, BATCH = 12, 3


def child(name: str) -> None:
    from benchmarks.engine_overhead import engine_path, recorded
    from operators.llm.client import StepStats, VLLMClient

    n_engines, kwargs, env = VARIANTS[name]
    batches, cfg = recorded(N_DOCS, BATCH)
    eng = cfg.engines["default"].model_copy(update={"engine_kwargs": kwargs, "env": env})
    started = time.perf_counter()
    clients = [VLLMClient(eng) for _ in range(n_engines)]
    start_seconds = time.perf_counter() - started
    requests = [r for calls in batches for reqs in calls for r in reqs]
    for c in clients:
        c.run(requests[:2])  # warm-up (grammar compilation) outside the timings
    passes = []
    for _ in range(2):
        t = time.perf_counter()
        with ThreadPoolExecutor(n_engines) as pool:  # the engines replay at once, as two pools do in a job
            tokens = sum(pool.map(lambda c: engine_path(c, StepStats(), batches, eng.max_concurrent_batches)[1],
                                  clients))
        passes.append(time.perf_counter() - t)
    for c in clients:
        c.close()
    print("RESULT " + json.dumps({"start": start_seconds, "passes": passes, "tokens": tokens}), flush=True)


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2])
        return
    # the recording, made (once, then kept in .cache/benchmarks/) in a process of its own
    subprocess.run([sys.executable, "-c", f"from benchmarks.engine_overhead import recorded; "
                                          f"recorded({N_DOCS}, {BATCH})"], check=True, capture_output=True)
    results = {}
    for name in VARIANTS:
        proc = subprocess.run([sys.executable, "-m", "benchmarks.engine_executor", "--child", name],
                              capture_output=True, text=True)
        line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
        if line is None:
            raise SystemExit(f"{name}: the run failed\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
        r = results[name] = json.loads(line[7:])
        secs = statistics.median(r["passes"])
        print(f"{name:48s} start {r['start']:5.1f} s; replays {', '.join(f'{p:.1f}' for p in r['passes'])} s; "
              f"{r['tokens']:6d} output tokens, {r['tokens'] / secs:6.1f} tok/s", flush=True)
    for new, old in PAIRS:
        a, b = results[new], results[old]
        rate = (a["tokens"] / statistics.median(a["passes"])) / (b["tokens"] / statistics.median(b["passes"]))
        print(f"{new} / {old}: output tokens/s {rate:.2f}, start seconds {a['start'] / b['start']:.2f}")


if __name__ == "__main__":
    main()
