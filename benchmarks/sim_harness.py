"""What the simulated-engine benchmarks share: a corpus, a config that runs a conf/ file on this machine with the
simulated GPU client, one real job in a child process, and a sampler of every process's CPU time.

The job is the real one (`pipelines.job.run`: preflight, the admission service, the progress actor, the streaming
Ray Data pipeline, the checkpointed write, the summary) on a local Ray cluster of 2 CPUs and as many logical GPUs as
the scaled pools ask (Ray counts them; nothing uses them). Only the engine client is replaced
(`benchmarks/simulated_gpu.py`), and the pools' CPU asks are made fractional so everything fits the 2 cores.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "data" / "sample" / "documents.jsonl.gz"
CLIENT = "benchmarks.simulated_gpu:SimulatedGPUClient"
# The funnel of the paper's kind of run, ~60% of documents past the document judge and ~72% of candidates kept
# (conf/cluster.yaml's sizing comment): a share of each judge's verdicts is turned to failing.
PASS_RATES = "document_judge=0.6,self_containment=0.93,faithfulness=0.9,leakage=0.93,rubric_judge=0.92"
# Which simulated model each engine of a config plays (the cluster config's pools; the local engine as the generator).
SIM_MODELS = {"generator": "qwen3-14b-1xh100", "judge": "qwen3-32b-2xh100", "default": "qwen3-14b-1xh100",
              "policy": "qwen3-14b-1xh100"}


def write_corpus(path: Path, n: int) -> None:
    """n documents from the bundled sample's 50: each a sample with its paragraphs rotated and a leading sentence of
    words drawn from the whole sample, so that documents, and the scripted questions written from their first
    words, differ."""
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f]
    vocab = sorted({w.strip(".,;:()").lower() for t in texts for w in t.split() if len(w) > 5})
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as out:
        for i in range(n):
            rng = random.Random(i)
            paras = texts[i % len(texts)].split("\n\n")
            k = (i // len(texts)) % len(paras)
            lead = " ".join(rng.choice(vocab) for _ in range(10)).capitalize() + "."
            out.write(json.dumps({"id": f"doc-{i}", "text": "\n\n".join([lead] + paras[k:] + paras[:k])}) + "\n")


def tiny_model() -> str:
    from pipelines.locations import tiny_model_dir

    return str(tiny_model_dir())


def overrides(config: str, corpus: Path, out: Path, stats: Path, speedup: float, scale: int,
              extra: list[str]) -> tuple[list[str], int]:
    """Overrides that run `config` here with the simulated client; and the logical GPUs its pools ask."""
    from pipelines.config import load_config

    cfg = load_config(config, [f"input.path={corpus}", f"output.path={out}"] + extra)
    ov = ["ray.address=local", "ray.num_cpus=2", "ray.expect_autoscaling=false", f"input.path={corpus}",
          "input.limit_per_file=null", f"output.path={out}", "ray.task_num_cpus=0.1",
          f"ray.cpu_actors={max(1, math.ceil(cfg.ray.cpu_actors / scale))}"]
    gpus = 0
    used = {s.engine for s in cfg.llm_stages().values()}
    for name, eng in cfg.engines.items():
        if name not in used:
            continue
        actors = max(1, math.ceil(eng.max_actors / scale))
        gpus += actors * eng.num_gpus
        ov += [f"engines.{name}.client={CLIENT}", f"engines.{name}.model={tiny_model()}",
               f"engines.{name}.min_actors={actors}", f"engines.{name}.max_actors={actors}",
               f"engines.{name}.num_cpus=0.1", f"engines.{name}.env.ARES_SIM_MODEL={SIM_MODELS.get(name)}",
               f"engines.{name}.env.ARES_SIM_ENGINE={name}", f"engines.{name}.env.ARES_SIM_SPEEDUP='{speedup}'",
               f"engines.{name}.env.ARES_SIM_STATS_DIR={stats}", f"engines.{name}.env.ARES_SIM_PASS_RATES='{PASS_RATES}'"]
    return extra + ov, gpus  # the scaled pool sizes win over a variant's own



OTHER = "other Ray workers (read, write, ...)"


class CPUSampler:
    """Every 0.5 s, the CPU seconds so far of this process and of each Ray process, grouped by what it is; the
    last value seen per process is its total (a process that ends loses at most 0.5 s)."""

    KINDS = ("driver", "engine actors", "CPU-stage actors", "admission actor", "progress actor",
             "other Ray workers (read, write, ...)", "Ray system (raylet, GCS)")

    def __init__(self) -> None:
        import psutil

        self.psutil, self.me = psutil, psutil.Process()
        self.seen: dict[int, tuple[str, float]] = {}
        self.started = time.perf_counter()
        self.machine_start = psutil.cpu_times()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def kind(self, cmd: str) -> str | None:
        if "EngineGroupRunner" in cmd:
            return "engine actors"
        if "GroupRunner" in cmd:
            return "CPU-stage actors"
        if cmd.startswith("ray::Admission"):
            return "admission actor"
        if cmd.startswith("ray::Progress"):
            return "progress actor"
        if cmd.startswith("ray::") or "default_worker.py" in cmd:  # a pooled worker, or one not yet named
            return "other Ray workers (read, write, ...)"
        if "raylet" in cmd or "gcs_server" in cmd or "dashboard" in cmd or "log_monitor" in cmd:
            return "Ray system (raylet, GCS)"
        return None

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.sample()

    def sample(self) -> None:
        for p in self.psutil.process_iter(["pid", "cmdline"]):
            try:
                if p.pid == self.me.pid:
                    kind = "driver"
                else:
                    kind = self.kind(" ".join(p.info["cmdline"] or []))
                if kind is None:
                    continue
                t = p.cpu_times()
                prev = self.seen.get(p.pid)
                # a Ray worker is named by what it runs (and pooled workers per task): keep the most specific name
                if prev and prev[0] != OTHER:
                    kind = prev[0]
                self.seen[p.pid] = (kind, t.user + t.system)
            except (self.psutil.NoSuchProcess, self.psutil.AccessDenied):
                continue

    def stop(self) -> dict[str, Any]:
        self.sample()
        self._stop.set()
        self._thread.join()
        wall = time.perf_counter() - self.started
        now = self.psutil.cpu_times()
        machine_busy = sum(getattr(now, f) - getattr(self.machine_start, f) for f in ("user", "system", "nice"))
        by_kind = dict.fromkeys(self.KINDS, 0.0)
        for kind, cpu in self.seen.values():
            by_kind[kind] += cpu
        return {"wall_seconds": wall, "cpu_seconds": by_kind,
                "machine_cpu_share": machine_busy / (wall * self.psutil.cpu_count())}


def child_run(args: dict[str, Any]) -> dict[str, Any]:
    """In a fresh process: start local Ray with the logical GPUs, run the job, return its figures."""
    import ray

    from pipelines import admission_service, job
    from pipelines.config import load_config
    from pipelines.console import ray_init_kwargs

    cfg = load_config(args["config"], args["overrides"])
    stats = Path(args["stats"])
    stats.mkdir(parents=True, exist_ok=True)
    sampler = CPUSampler()
    ray.init(address="local", num_cpus=cfg.ray.num_cpus, num_gpus=args["gpus"], include_dashboard=False,
             namespace=admission_service.NAMESPACE, **ray_init_kwargs(False))
    started = time.perf_counter()
    try:
        summary = job.run(cfg, progress_every=600)
    finally:
        if ray.is_initialized():
            ray.shutdown()
    seconds = time.perf_counter() - started
    cpu = sampler.stop()
    records = [json.loads(p.read_text()) for p in sorted(stats.glob("*.json"))]
    from pipelines.progress import read_progress

    final = read_progress(cfg.output.path, cfg.storage) or {"stages": []}  # the job's last progress.json
    stages = {row["stage"]: row for row in final["stages"]}
    return {"seconds": seconds, "summary": {k: summary.get(k) for k in ("documents_read", "candidates", "accepted")},
            "ledger_total": summary.get("ledger", {}).get("total"), "cpu": cpu, "progress": stages,
            "engines": records}


def run_child(module: str, args: dict[str, Any], timeout: float = 3600, child: list[str] | None = None) -> dict[str, Any]:
    """Run `python -m module --child ARGS_JSON` (or `child` in place of `--child`) and return its RESULT line."""
    proc = subprocess.run([sys.executable, "-m", module, *(child or ["--child"]), json.dumps(args)], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout, env={**os.environ, "PYTHONPATH": str(REPO)})
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"the run failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-4000:]}")
    return json.loads(line[len("RESULT "):])
