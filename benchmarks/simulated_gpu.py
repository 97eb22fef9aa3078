"""An engine client that behaves like a GPU vLLM engine in time and concurrency, without a GPU or a model.

Selected with `engines.<name>.client=benchmarks.simulated_gpu:SimulatedGPUClient`, it runs inside the real Ray Data
pipeline in place of `VLLMClient`. What it does on the CPU is what `VLLMClient` does: it renders each prompt with the
chat template and tokenizes it (the tokenizer of `engines.<name>.model`; the benchmarks point it at the tiny model),
checks the length against `max_model_len`, and parses and validates each output against its schema. The outputs are
the scripted client's (`tests/scripted_engine.py`: well-formed, passing answers), so every stage runs, or with
`ARES_SIM_PASS_RATES` a share of each judge's verdicts failing, so the funnel thins as a real one does. What it does
not do is compute: a scheduler thread plays vLLM's V1 scheduler against a model of one H100-class engine.

The scheduler (one per actor, like one vLLM engine): at most `max_num_seqs` running requests (vLLM's
`engine_kwargs.max_num_seqs`; default 128, what `AsyncLLM.from_engine_args` gets on any GPU in vLLM 0.32), a KV cache
of `kv_tokens` tokens (a request is admitted only when its prompt and its output fit: no preemption), a token budget
per step of `max_num_batched_tokens` (default 2048): each running request that has its prompt decodes one token,
the rest of the budget prefills waiting prompts in chunks (chunked prefill, first come first served). A prompt's
leading 16-token blocks seen before are served from a prefix cache (LRU, as big as the KV cache) and cost no prefill.

One step's time (a roofline; all rates are ASSUMPTIONS from public H100 SXM figures, `GPU_MODELS` below):
    overhead + max(memory time, compute time)
    memory time  = (weights + KV read by the decoding requests) / (GPUs x 3.35 TB/s x BW_EFFICIENCY)
    compute time = 2 x parameters x (tokens in the step) / (GPUs x 989 TFLOP/s x MFU)
    overhead     = STEP_OVERHEAD_S + STEP_OVERHEAD_PER_SEQ_S x running requests (scheduling, sampling, grammar masks)
Output lengths are drawn per request (gamma, coefficient of variation 0.5, clipped to max_tokens) around an assumed
mean per output schema (`OUTPUT_TOKENS`: Qwen3-class models writing compact JSON), seeded by the prompt, so a
batch has a long tail as real ones do.

Simulated time runs `ARES_SIM_SPEEDUP` times faster than the wall clock (environment of the engine, default 1), so a
benchmark on a small machine can cover many engine-minutes; a step of 30 ms sleeps 30 / speedup ms. `inf` answers at
once (no engine time, no scheduler thread): what is left is the CPU spent outside the engines.

Every actor records, in bins of simulated time, the time stepping and the time at full occupancy (a step in which the
engine could take no more: `max_num_seqs` running, a request waiting for KV space or seats, or the token budget
used up), running requests and queue depth (time-weighted), idle time between steps, tokens, and the batches inside
`run()`; and per calling thread the gaps between its calls (wall and CPU time), split into gaps inside a batch (its
CPU stages, admission) and gaps between batches (waiting for the next batch). The record is written as JSON to
`ARES_SIM_STATS_DIR/<engine>-<pid>.json` after every `run()`, every 2 s of wall time and when the client closes.
"""

from __future__ import annotations

import json
import math
import os
import random
import threading
import time
import zlib
from collections import OrderedDict, deque
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field
from typing import Any

from operators.llm.client import LLMRequest, LLMResult
from operators.llm.parsing import parse_output

# Public figures of one H100 SXM 80 GB (NVIDIA's datasheet): HBM3 bandwidth, dense BF16 tensor throughput.
H100_BANDWIDTH = 3.35e12  # bytes/s
H100_BF16_FLOPS = 989e12  # FLOP/s
H100_MEMORY = 80e9  # bytes
# Assumed efficiencies (not measured here): achieved share of the bandwidth in decode, of the FLOPs in prefill.
BW_EFFICIENCY = 0.75
MFU = 0.5
TP_EFFICIENCY = 0.85  # tensor parallelism: the all-reduces cost this share
STEP_OVERHEAD_S = 0.003  # per engine step: scheduling, launch, sampling (assumed)
STEP_OVERHEAD_PER_SEQ_S = 0.00002  # per running request per step: sampling and grammar bitmasks (assumed)
GPU_MEMORY_UTILIZATION = 0.90
ACTIVATION_RESERVE = 4e9  # per GPU, for activations and CUDA graphs (assumed)
BLOCK = 16  # vLLM's KV block size in tokens: the prefix cache's unit
KV_WATERMARK = 0.95  # a request is admitted while the KV cache, with its prompt, stays below this share


@dataclass(frozen=True)
class GPUModel:
    """A model on its GPUs: what a step's time depends on."""

    name: str
    parameters: float
    weight_bytes: float
    kv_bytes_per_token: float  # 2 (K and V) x layers x KV heads x head dim x 2 bytes
    gpus: int

    @property
    def kv_tokens(self) -> int:
        free = self.gpus * (H100_MEMORY * GPU_MEMORY_UTILIZATION - ACTIVATION_RESERVE) - self.weight_bytes
        return int(free / self.kv_bytes_per_token)

    def step_seconds(self, tokens: int, decode_context: int, running: int) -> float:
        """One engine step computing `tokens` tokens, its decoding requests reading `decode_context` KV tokens."""
        tp = 1.0 if self.gpus == 1 else TP_EFFICIENCY
        memory = (self.weight_bytes + decode_context * self.kv_bytes_per_token) / (
            self.gpus * H100_BANDWIDTH * BW_EFFICIENCY * tp)
        compute = 2 * self.parameters * tokens / (self.gpus * H100_BF16_FLOPS * MFU * tp)
        return STEP_OVERHEAD_S + STEP_OVERHEAD_PER_SEQ_S * running + max(memory, compute)


# Qwen3-14B: 40 layers, 8 KV heads of 128; Qwen3-32B: 64 layers, 8 KV heads of 128 (their model cards), BF16.
GPU_MODELS = {
    "qwen3-14b-1xh100": GPUModel("Qwen3-14B on 1 x H100", 14.8e9, 29.6e9, 2 * 40 * 8 * 128 * 2, 1),
    "qwen3-32b-2xh100": GPUModel("Qwen3-32B on 2 x H100, tensor parallel", 32.8e9, 65.5e9, 2 * 64 * 8 * 128 * 2, 2),
}

# Assumed mean output tokens per call, by output schema (compact JSON; cf. conf/cluster.yaml's sizing estimates).
OUTPUT_TOKENS = {"BinaryJudgement": 60, "DomainPersonas": 90, "DomainLabel": 12, "GeneratedInstance": 900,
                 "RubricJudgement": 80, "FlawedAnswer": 250, "CriterionJudgement": 55, "CriterionMet": 8}
FREE_TEXT_TOKENS = 400  # a policy's answer


def output_tokens(req: LLMRequest, prompt_ids: list[int]) -> int:
    """This request's output length: drawn around its schema's mean, the same for the same prompt."""
    mean = OUTPUT_TOKENS.get(req.output.__name__, 100) if req.output is not None else FREE_TEXT_TOKENS
    rng = random.Random(zlib.crc32(repr(prompt_ids[-64:]).encode()) ^ zlib.crc32(req.stage.encode()))
    n = rng.gammavariate(4.0, mean / 4.0) * (req.sampling.n if req.output is None else 1)
    return max(1, min(req.sampling.max_tokens * req.sampling.n, round(n)))


@dataclass
class _Request:
    prompt: int
    to_prefill: int  # prompt tokens still to compute
    output: int
    blocks: list[int]
    future: Future
    cached: int = 0
    generated: int = 0


@dataclass
class Bin:
    """What one engine did in one bin of simulated time."""

    steps: int = 0
    busy: float = 0.0  # simulated seconds spent in steps
    full: float = 0.0  # of which at full occupancy
    idle: float = 0.0  # with nothing to run
    running: float = 0.0  # running requests x seconds
    waiting: float = 0.0  # queued requests x seconds
    in_run: float = 0.0  # batches inside run() x seconds
    prefill_time: float = 0.0  # of busy, the prefill tokens' share of each step (by tokens)
    prefill_tokens: int = 0
    decode_tokens: int = 0
    cached_tokens: int = 0
    requests: int = 0


@dataclass
class Gaps:
    """A calling thread's time between two of its calls: count, wall seconds, CPU seconds of that thread."""

    n: int = 0
    wall: float = 0.0
    cpu: float = 0.0


@dataclass
class Record:
    engine: str
    model: str
    pid: int
    speedup: float
    max_num_seqs: int
    max_num_batched_tokens: int
    kv_tokens: int
    bin_seconds: float
    started: float  # wall clock (time.time()) at which simulated time 0 was
    bins: list[Bin] = field(default_factory=list)
    within_batch: Gaps = field(default_factory=Gaps)
    between_batches: Gaps = field(default_factory=Gaps)
    preempted: int = 0  # requests preempted (KV cache full) and computed again
    lag: float = 0.0  # simulated seconds the scheduler thread fell behind its clock (this machine's CPU)
    calls: int = 0


class SimulatedEngine:
    """vLLM's scheduling loop against the step-time model, on a thread of its own."""

    def __init__(self, model: GPUModel, max_num_seqs: int, max_num_batched_tokens: int, speedup: float,
                 record: Record):
        self.model, self.max_seqs, self.budget, self.speedup = model, max_num_seqs, max_num_batched_tokens, speedup
        self.record = record
        self.cache: OrderedDict[int, None] = OrderedDict()  # block hash -> None, least recently used first
        self.cache_blocks = model.kv_tokens // BLOCK
        self.waiting: deque[_Request] = deque()
        self.running: list[_Request] = []
        self.kv_used = 0
        self.in_run = 0
        self.cond = threading.Condition()
        self.closed = False
        self.t0 = time.perf_counter()
        self.instant = math.isinf(speedup)  # no engine time at all: what the CPU outside the engines costs
        if not self.instant:
            threading.Thread(target=self._loop, name="simulated-gpu", daemon=True).start()

    def now(self) -> float:
        """Simulated seconds since the engine started (less the time the scheduler thread fell behind)."""
        return (time.perf_counter() - self.t0) * self.speedup - self.record.lag

    def _bin(self, t: float) -> Bin:
        i = int(t / self.record.bin_seconds)
        while len(self.record.bins) <= i:
            self.record.bins.append(Bin())
        return self.record.bins[i]

    def _spread(self, start: float, seconds: float, **amounts: float) -> None:
        """Add an interval's time-weighted amounts to the bins it covers."""
        end, t = start + seconds, start
        while t < end - 1e-12:
            b = self._bin(t)
            edge = min(end, (int(t / self.record.bin_seconds) + 1) * self.record.bin_seconds)
            share = (edge - t) / seconds if seconds > 0 else 1.0
            for k, v in amounts.items():
                setattr(b, k, getattr(b, k) + v * share)
            t = edge

    def submit(self, prompt: int, output: int, blocks: list[int]) -> Future:
        fut: Future = Future()
        if self.instant:
            with self.cond:
                cached = min(self._cached_prefix(blocks), prompt - 1)
                self._remember(blocks)
            fut.set_result((cached, output))
            return fut
        with self.cond:
            self.waiting.append(_Request(prompt, prompt, output, blocks, fut))
            self.cond.notify()
        return fut

    def _cached_prefix(self, blocks: list[int]) -> int:
        n = 0
        for h in blocks:
            if h not in self.cache:
                break
            self.cache.move_to_end(h)
            n += 1
        return n * BLOCK

    def _remember(self, blocks: list[int]) -> None:
        for h in blocks:
            self.cache[h] = None
            self.cache.move_to_end(h)
        while len(self.cache) > self.cache_blocks:
            self.cache.popitem(last=False)

    def _schedule(self) -> tuple[list[_Request], list[tuple[_Request, int]], bool]:
        """Admit what fits (KV for its prompt now; it grows by a token per step), preempt the newest requests when
        the cache overflows (vLLM V1 preempts by recompute), then this step's decoding requests and prefill chunks;
        and whether the engine is full."""
        while self.kv_used > self.model.kv_tokens and len(self.running) > 1:
            victim = self.running.pop()
            self.kv_used -= victim.prompt + victim.generated
            victim.to_prefill, victim.cached = victim.prompt + victim.generated, 0
            self.record.preempted += 1
            self.waiting.appendleft(victim)
        while self.waiting and len(self.running) < self.max_seqs and \
                self.kv_used + self.waiting[0].prompt <= self.model.kv_tokens * KV_WATERMARK:
            req = self.waiting.popleft()
            if req.generated == 0:
                req.cached = min(self._cached_prefix(req.blocks), req.prompt - 1)
                req.to_prefill = req.prompt - req.cached
            self.kv_used += req.prompt + req.generated
            self.running.append(req)
        decode = [r for r in self.running if r.to_prefill == 0]
        budget = self.budget - len(decode)
        chunks = []
        for r in self.running:
            if r.to_prefill and budget > 0:
                take = min(budget, r.to_prefill)
                chunks.append((r, take))
                budget -= take
        full = len(self.running) >= self.max_seqs or bool(self.waiting) or budget <= 0
        return decode, chunks, full

    def _loop(self) -> None:
        clock = 0.0  # simulated time of the end of the last step
        while True:
            with self.cond:
                waited = False
                while not self.running and not self.waiting and not self.closed:
                    self.cond.wait(0.05)
                    waited = True
                if self.closed:
                    return
                start = max(clock, self.now()) if waited else clock  # idle only when there was nothing to run
                if start > clock:
                    self._spread(clock, start - clock, idle=start - clock, in_run=self.in_run * (start - clock))
                decode, chunks, full = self._schedule()
                tokens = len(decode) + sum(n for _, n in chunks)
                context = sum(r.prompt + r.generated for r in decode)
                seconds = self.model.step_seconds(tokens, context, len(self.running))
                self._spread(start, seconds, steps=1, busy=seconds, full=seconds if full else 0.0,
                             running=len(self.running) * seconds, waiting=len(self.waiting) * seconds,
                             in_run=self.in_run * seconds, prefill_tokens=sum(n for _, n in chunks),
                             prefill_time=seconds * sum(n for _, n in chunks) / max(1, tokens),
                             decode_tokens=len(decode))
            clock = start + seconds
            behind = self.now() - clock
            if behind > 0:  # this thread could not keep up with its clock: move the clock back, count it
                self.record.lag += behind
            else:
                time.sleep(-behind / self.speedup)
            with self.cond:
                done = []
                for r in decode:
                    r.generated += 1
                    self.kv_used += 1
                for r, n in chunks:
                    r.to_prefill -= n
                    if r.to_prefill == 0:  # the last prefill chunk also samples the first output token
                        r.generated += 1
                        self.kv_used += 1
                        self._remember(r.blocks)
                for r in self.running:
                    if r.to_prefill == 0 and r.generated >= r.output:
                        done.append(r)
                if done:
                    finished = {id(r) for r in done}
                    self.running = [r for r in self.running if id(r) not in finished]
                    for r in done:
                        self.kv_used -= r.prompt + r.generated
                        b = self._bin(clock)
                        b.requests += 1
                        b.cached_tokens += r.cached
                        r.future.set_result((r.cached, r.output))

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()


def block_hashes(ids: list[int]) -> list[int]:
    """Chained hashes of the prompt's full 16-token blocks (a block is reused only after the same prefix)."""
    out, h = [], 0
    for i in range(0, len(ids) - BLOCK + 1, BLOCK):
        h = zlib.crc32(repr(ids[i:i + BLOCK]).encode(), h) | (i << 32)
        out.append(h)
    return out


STAGE_ORDER: dict[str, int] = {}


def _stage_index(stage: str) -> int:
    if not STAGE_ORDER:
        from pipelines.ares import FLOW

        STAGE_ORDER.update({s.name: i for i, s in enumerate(FLOW)})
    return STAGE_ORDER.get(stage, -1)


class SimulatedGPUClient:
    """The engine client (`run(requests) -> results`, called from several threads at once): the CPU side of
    `VLLMClient` with the simulated engine in place of vLLM's."""

    def __init__(self, engine: Any):
        from transformers import AutoTokenizer

        from tests.scripted_engine import ScriptedClient

        env = {**engine.env, **{k: v for k, v in os.environ.items() if k.startswith("ARES_SIM_")}}
        self.model = GPU_MODELS[env.get("ARES_SIM_MODEL", "qwen3-14b-1xh100")]
        speedup = float(env.get("ARES_SIM_SPEEDUP", "1"))
        max_seqs = int(engine.engine_kwargs.get("max_num_seqs", 128))
        budget = int(engine.engine_kwargs.get("max_num_batched_tokens", 2048))
        self.stats_dir = env.get("ARES_SIM_STATS_DIR")
        self.record = Record(env.get("ARES_SIM_ENGINE", "engine"), self.model.name, os.getpid(), speedup, max_seqs,
                             budget, self.model.kv_tokens, float(env.get("ARES_SIM_BIN_SECONDS", "10")), time.time())
        self.tokenizer = AutoTokenizer.from_pretrained(engine.model)
        self.chat_template_kwargs = dict(engine.chat_template_kwargs)
        self.max_model_len = engine.max_model_len
        self.scripted = ScriptedClient()
        self.pass_rates = {k: float(v) for k, _, v in (p.partition("=") for p in
                                                       env.get("ARES_SIM_PASS_RATES", "").split(",") if p)}
        self.engine = SimulatedEngine(self.model, max_seqs, budget, speedup, self.record)
        self._threads: dict[int, tuple[float, float, int]] = {}  # thread -> (wall, cpu, stage index) at last return
        self._lock = threading.Lock()
        self._writer = threading.Thread(target=self._write_every, args=(2.0,), daemon=True)
        self._writer.start()

    def prompt_ids(self, req: LLMRequest) -> list[int]:
        ids = self.tokenizer.apply_chat_template(req.messages, add_generation_prompt=True, tokenize=True,
                                                 **self.chat_template_kwargs)
        if isinstance(ids, dict) or hasattr(ids, "input_ids"):
            ids = ids["input_ids"]
        return list(ids)

    def _note_gap(self, stage: str) -> None:
        """Classify the time since this thread's last call: inside one batch (its CPU stages) or between batches."""
        me, wall, cpu = threading.get_ident(), time.perf_counter(), time.thread_time()
        last = self._threads.get(me)
        if last is not None:
            gaps = self.record.within_batch if _stage_index(stage) >= last[2] else self.record.between_batches
            with self._lock:
                gaps.n += 1
                gaps.wall += wall - last[0]
                gaps.cpu += cpu - last[1]

    def run(self, requests: list[LLMRequest]) -> list[LLMResult]:
        if not requests:
            return []
        self._note_gap(requests[0].stage)
        with self.engine.cond:
            self.engine.in_run += 1
        try:
            started = time.perf_counter()
            ids = [self.prompt_ids(r) for r in requests]
            pending: list[Future | None] = []
            for req, i in zip(requests, ids):
                if len(i) + req.sampling.max_tokens > self.max_model_len:
                    pending.append(None)
                else:
                    pending.append(self.engine.submit(len(i), output_tokens(req, i), block_hashes(i)))
            results = []
            for req, i, fut in zip(requests, ids, pending):
                if fut is None:
                    results.append(LLMResult(None, f"prompt of {len(i)} tokens + max_tokens {req.sampling.max_tokens} "
                                                   f"exceeds max_model_len {self.max_model_len}", attempts=0))
                    continue
                cached, n_out = fut.result()
                if req.output is None:
                    texts = self.scripted.policy_answers(req)
                    results.append(LLMResult(None, None, texts[0], 1, n_out, texts, len(i), cached))
                    continue
                text = json.dumps(self.verdict(req, self.scripted.answer(req), i), separators=(",", ":"))
                value, error = parse_output(text, "stop", req.output, req.schema)
                results.append(LLMResult(value, error, text, 1, n_out, prompt_tokens=len(i),
                                         cached_prompt_tokens=cached))
            share = (time.perf_counter() - started) / len(requests)
            for r in results:
                r.seconds = share
            self.record.calls += len(requests)
            return results
        finally:
            with self.engine.cond:
                self.engine.in_run -= 1
            self._threads[threading.get_ident()] = (time.perf_counter(), time.thread_time(),
                                                    _stage_index(requests[-1].stage))
            self.write()  # Ray Data ends a pool's actors without a call when its operator is done: keep it current

    def verdict(self, req: LLMRequest, answer: dict[str, Any], ids: list[int]) -> dict[str, Any]:
        """The scripted answer, with the judge's verdict turned to failing for a share `1 - pass rate` of requests
        (`ARES_SIM_PASS_RATES`, e.g. `document_judge=0.6,faithfulness=0.9`; chosen by a hash of the prompt), so the
        funnel thins out as a real one does."""
        rate = self.pass_rates.get(req.stage)
        if rate is None or "verdict" not in answer or zlib.crc32(repr(ids).encode()) % 1000 < rate * 1000:
            return answer
        return {**answer, "verdict": "yes" if req.stage == "leakage" else "no"}

    def write(self) -> None:
        if not self.stats_dir:
            return
        with self.engine.cond:
            data = asdict(self.record)
        path = os.path.join(self.stats_dir, f"{self.record.engine}-{self.record.pid}.json")
        tmp = f"{path}.{threading.get_ident()}.tmp"  # several threads write: each its own file, then one rename
        with open(tmp, "w") as f:
            json.dump(data, f)
        os.replace(tmp, path)

    def _write_every(self, seconds: float) -> None:
        while not self.engine.closed:
            time.sleep(seconds)
            try:
                self.write()
            except Exception:  # a stats file that cannot be written must not fail the batch
                pass

    def close(self) -> None:
        self.engine.close()
        self.write()


def occupancy(record: dict[str, Any], start: float | None = None, end: float | None = None) -> dict[str, float]:
    """Shares of an engine's simulated time in [start, end) (bins wholly inside; default: its first busy bin to its
    last): stepping, at full occupancy, idle; mean running requests, queue depth and batches inside run();
    tokens per second of prefill (uncached) and decode."""
    bins = record["bins"]
    busy = [i for i, b in enumerate(bins) if b["steps"]]
    if not busy:
        return {"seconds": 0.0}
    w = record["bin_seconds"]
    lo = busy[0] if start is None else max(busy[0], math.ceil(start / w))
    hi = busy[-1] + 1 if end is None else min(busy[-1] + 1, int(end / w))
    sel = bins[lo:hi] or bins[busy[0]:busy[-1] + 1]
    span = len(sel) * w
    tot = {k: sum(b[k] for b in sel) for k in sel[0]}
    return {"seconds": span, "busy": tot["busy"] / span, "full": tot["full"] / span, "idle": tot["idle"] / span,
            "running": tot["running"] / span, "waiting": tot["waiting"] / span, "in_run": tot["in_run"] / span,
            "prefill_tokens_per_s": tot["prefill_tokens"] / span, "decode_tokens_per_s": tot["decode_tokens"] / span,
            "requests": tot["requests"], "cached_tokens": tot["cached_tokens"]}
