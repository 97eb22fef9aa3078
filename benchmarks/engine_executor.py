"""Benchmark: the local job with vLLM's default CPU executor against the uniprocess executor the local config uses.

On the CPU, vLLM's default (multiprocess) executor runs the model in a worker process of its own, its OpenMP threads
pinned to cores, while the engine process waits for each step on a shared-memory queue that it polls in a busy loop,
so on a 2-core machine the poll competes with the model for the second core. The uniprocess executor runs the model
inside the engine process: one Python process start less per engine and no poll. The same `ares run local` job runs
as a subprocess (its own local Ray, a fresh output each time), alternating:
  (1) multiprocess, 1 thread (vLLM's automatic binding: one core for the model, one reserved): the previous default;
  (2) multiprocess, 2 threads (`VLLM_CPU_OMP_THREADS_BIND=0-1`);
  (3) uniprocess, 2 threads (`conf/local.yaml` as it is).
The model's outputs depend on the thread count (the CPU kernels' sums run in another order), so runs with the same
threads write the same tokens and compare directly ((2) against (3)); (1) against (3) compares seconds per output
token. Prints, per run: wall time of the command, engine seconds and output tokens from the job's ledger; then the
ratios of (3) to (1) and to (2).

    .venv/bin/python -m benchmarks.engine_executor [ROUNDS] [key=value ...]    # default: 1 round of the local default
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
KV = '"VLLM_CPU_KVCACHE_SPACE": "2"'
VARIANTS = {
    "(1) multiprocess, 1 thread": [
        "engines.default.engine_kwargs={dtype: bfloat16, enforce_eager: true}", f"engines.default.env={{{KV}}}"],
    "(2) multiprocess, 2 threads": [
        "engines.default.engine_kwargs={dtype: bfloat16, enforce_eager: true}",
        f'engines.default.env={{{KV}, "VLLM_CPU_OMP_THREADS_BIND": "0-1", "VLLM_CPU_NUM_OF_RESERVED_CPU": "0"}}'],
    "(3) uniprocess, 2 threads": [],  # conf/local.yaml
}


def run(variant: list[str], extra: list[str], out: Path) -> dict:
    cmd = [sys.executable, "-m", "pipelines.cli", "run", "local", f"output.path={out}", *variant, *extra]
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=3600)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"the run failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    ledger = json.loads((out / "summary.json").read_text())["ledger"]["total"]
    return {"wall": wall, "engine_seconds": ledger["seconds"], "output_tokens": ledger["output_tokens"],
            "prompt_tokens": ledger["prompt_tokens"]}


def main() -> None:
    args = sys.argv[1:]
    rounds = int(args.pop(0)) if args and args[0].isdigit() else 1
    results: dict[str, list[dict]] = {name: [] for name in VARIANTS}
    with tempfile.TemporaryDirectory() as work:
        for r in range(rounds):
            for i, (name, variant) in enumerate(VARIANTS.items()):
                res = run(variant, args, Path(work) / f"out-{r}-{i}")
                results[name].append(res)
                print(f"round {r + 1}: {name:30s} {res['wall']:6.1f} s wall, {res['engine_seconds']:6.1f} s in engine "
                      f"calls, {res['output_tokens']:6d} output / {res['prompt_tokens']:6d} prompt tokens, "
                      f"{res['wall'] / res['output_tokens'] * 1000:6.1f} ms wall per output token", flush=True)
    med = {name: {k: statistics.median(x[k] for x in runs) for k in runs[0]} for name, runs in results.items()}
    new = med["(3) uniprocess, 2 threads"]
    for name in ("(1) multiprocess, 1 thread", "(2) multiprocess, 2 threads"):
        old = med[name]
        print(f"(3) / {name[:3]}: wall {new['wall'] / old['wall']:.2f}, engine seconds "
              f"{new['engine_seconds'] / old['engine_seconds']:.2f}, wall per output token "
              f"{(new['wall'] / new['output_tokens']) / (old['wall'] / old['output_tokens']):.2f}")


if __name__ == "__main__":
    main()
