"""Benchmark: the pipeline's dataflow at 1K, 100K and 1M documents, without the LLM stages.

Synthetic documents (JSON lines on the local disk, ~700 characters each) go through the job's real machinery on a
local 2-CPU Ray cluster: the read, ingest (document ids claimed at the admission actor), the document filter,
chunking, then, in a second operator as the engine group would be, a stand-in for the LLM stages that gives each
document one candidate with a random question (for this benchmark only), admission (the named actor: per-domain
quotas of 10,000 as in conf/cluster.yaml, exact and MinHash near-duplicates), the checkpointed parquet write and the
summary. Each size runs in a fresh process; a sampler records the peak memory of the driver, of the largest Ray worker
and of the admission actor, resident (RSS) and private (RSS less shared pages: a worker's RSS counts the object-store
pages it has read). Then the same job is started again on the 1M output: everything is committed,
so it only re-seeds the admission actor from the output and rewrites the summary; its seeding time and memory are
printed.

    .venv/bin/python -m benchmarks.dataflow_scale [SIZES ...]     # default: 1000 100000 1000000
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from operators.stage import StageConfig, stage
from operators.state import Candidate, DocumentState
from operators.schemas import RubricItem

WORDS = ("river valley mountain energy protein market policy history language signal cloud carbon climate "
         "network memory theory garden engine bridge city music painting harvest ocean planet circuit vaccine "
         "budget tariff school museum railway forest island desert glacier volcano orbit crystal enzyme neuron "
         "algebra matrix vector galaxy comet harbor canal castle temple village festival recipe bakery").split()
DOMAINS = ["Social Science", "Technology & Engineering", "Medicine & Health", "Travel & Lifestyle",
           "Commerce & Economics", "Natural Science", "Education", "Coding", "Math", "Others"]
FILE_ROWS = 50_000


def sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(9, 15))).capitalize() + "."


def write_corpus(folder: Path, n: int) -> None:
    rng = random.Random(n)
    folder.mkdir(parents=True, exist_ok=True)
    for f, start in enumerate(range(0, n, FILE_ROWS)):
        with open(folder / f"part-{f:04d}.jsonl", "w") as out:
            for i in range(start, min(n, start + FILE_ROWS)):
                text = "\n\n".join(" ".join(sentence(rng) for _ in range(3)) for _ in range(3))
                out.write(json.dumps({"id": f"doc-{i}", "text": text}) + "\n")


def stand_in(docs: list[DocumentState], ctx) -> None:
    """For this benchmark only, in place of label, plan and the LLM stages: one candidate per document."""
    for doc in docs:
        if not doc.alive:
            continue
        h = hashlib.sha256(doc.record_key.encode()).digest()
        rng = random.Random(h)
        doc.domain, doc.personas = DOMAINS[h[0] % len(DOMAINS)], ["A reader"]
        cand = Candidate(candidate_id=h.hex()[:20], chunk_index=0, persona="A reader", domain=doc.domain,
                         question="How does " + " ".join(rng.choice(WORDS) for _ in range(12)) + " work?",
                         reference_answer=doc.chunks[0].text[:300],
                         rubric=[RubricItem(criterion=f"Mentions the {w}", weight=3, polarity="positive")
                                 for w in rng.sample(WORDS, 7)])
        doc.candidates.append(cand)


STAND_IN = stage("stand_in", stand_in, "one synthetic candidate per document (benchmark only)",
                 config=StageConfig, optional=True)


class PeakMemory:
    """Samples the memory of this process and of every Ray worker process every 0.2 s: resident (RSS, which counts the
    pages of Ray's shared-memory object store a process has touched) and private (RSS less its shared pages: what the
    process itself holds)."""

    KINDS = ("driver", "worker", "admission")

    def __init__(self) -> None:
        import psutil

        self.psutil, self.me = psutil, psutil.Process()
        self.rss = dict.fromkeys(self.KINDS, 0)
        self.private = dict.fromkeys(self.KINDS, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _note(self, kind: str, mem) -> None:
        self.rss[kind] = max(self.rss[kind], mem.rss)
        self.private[kind] = max(self.private[kind], mem.rss - mem.shared)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self._note("driver", self.me.memory_info())
            for p in self.psutil.process_iter(["name", "cmdline", "memory_info"]):
                cmd = " ".join(p.info["cmdline"] or [])
                if not cmd.startswith("ray::") or p.info["memory_info"] is None:
                    continue
                self._note("admission" if cmd.startswith("ray::Admission") else "worker", p.info["memory_info"])

    def stop(self) -> dict[str, dict[str, int]]:
        self._stop.set()
        self._thread.join()
        return {k: {"rss": round(self.rss[k] / 2**20), "private": round(self.private[k] / 2**20)}
                for k in self.KINDS}


def run_job(folder: Path, out: Path) -> dict:
    """The job's own start-up, dataset and summary, with the stand-in in place of the LLM stages."""
    import ray
    from ray.data import DataContext

    from operators.stages import admission, chunking, document_filter, ingest
    from pipelines import admission_service
    from pipelines.config import load_config
    from pipelines.dataset import build_dataset, checkpoint_config, write
    from pipelines.job import start_ray
    from pipelines.preflight import preflight
    from pipelines.runner import Group
    from pipelines.summary import write_summary

    cfg = load_config("local", [f"input.path={folder}", f"output.path={out}", "input.limit_per_file=null",
                                "input.records_per_block=1000", "stages.admission.quota.default=10000",
                                "ray.task_num_cpus=0.5"])
    started = time.perf_counter()
    mode = preflight(cfg)
    start_ray(cfg, resuming=mode == "resume")
    try:
        DataContext.get_current().checkpoint_config = checkpoint_config(cfg)
        actor, name = admission_service.start(cfg)
        seeding = ray.get(actor.stats.remote())
        groups = [Group(None, [ingest.STAGE, document_filter.STAGE, chunking.STAGE]),
                  Group(None, [STAND_IN, admission.STAGE])]
        t = time.perf_counter()
        write(build_dataset(cfg, groups, name, admission_service.NAMESPACE), cfg)
        pipeline_seconds = time.perf_counter() - t
        stats = admission_service.stop(cfg, actor)
        t = time.perf_counter()
        summary = write_summary(cfg, {"mode": mode, "admission": stats})
        summary_seconds = time.perf_counter() - t
    finally:
        ray.shutdown()
    return {"seconds": time.perf_counter() - started, "pipeline_seconds": pipeline_seconds,
            "summary_seconds": summary_seconds, "seed_seconds": seeding["seed_seconds"], "seeded": seeding["seeded"],
            "seeded_documents": seeding["seeded_documents"], "mode": mode,
            "documents": summary["documents_read"], "accepted": summary["accepted"],
            "candidates": summary["candidates"]}


def child(size: int, work: Path, restart: bool) -> None:
    folder, out = work / f"in-{size}", work / f"out-{size}"
    if not restart:
        write_corpus(folder, size)
    peak = PeakMemory()
    result = run_job(folder, out)
    print("RESULT " + json.dumps({**result, "size": size, "restart": restart, "memory_mib": peak.stop()}))


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        child(int(sys.argv[2]), Path(sys.argv[3]), sys.argv[4] == "restart")
        return
    sizes = [int(a) for a in sys.argv[1:]] or [1000, 100_000, 1_000_000]
    results = []
    with tempfile.TemporaryDirectory(dir=os.environ.get("ARES_BENCH_TMP")) as work:
        for size, restart in [(s, False) for s in sizes] + [(sizes[-1], True)]:
            proc = subprocess.run([sys.executable, "-m", "benchmarks.dataflow_scale", "--child", str(size), work,
                                   "restart" if restart else "first"], capture_output=True, text=True)
            line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
            if line is None:
                print(proc.stdout[-3000:], proc.stderr[-3000:])
                raise SystemExit(f"size {size}: the run failed")
            results.append(json.loads(line[7:]))
            r = results[-1]
            rate = "" if restart else f", {r['documents'] / r['pipeline_seconds']:,.0f} rows/s"
            print(f"{'restart, ' if restart else ''}{size:,} documents: job {r['seconds']:.0f} s, pipeline "
                  f"{r['pipeline_seconds']:.0f} s{rate}, summary {r['summary_seconds']:.1f} s; {r['candidates']:,} "
                  f"candidates, {r['accepted']:,} accepted; admission seeded from {r['seeded']:,} accepted rows "
                  f"and {r['seeded_documents']:,} document ids in {r['seed_seconds']:.1f} s; peak MiB, RSS (private): "
                  + ", ".join(f"{label} {m['rss']} ({m['private']})" for label, m in
                              zip(("driver", "largest worker", "admission actor"),
                                  (r["memory_mib"][k] for k in PeakMemory.KINDS))), flush=True)


if __name__ == "__main__":
    main()
