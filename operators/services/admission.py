"""Cluster-wide admission: the target, per-domain quotas, exact and near-duplicate questions, the error budget.

This state cannot live in a map (every actor of every stage must see the same counts), so it lives in one named
Ray actor that the maps call once per batch. It is rebuilt from the committed output when a job starts or resumes,
so a restart neither forgets accepted instances nor counts the ones that were lost with the killed run; within a
run, every decision is journaled first, so an actor that Ray restarts also remembers the rows still in flight.
Near-duplicates: datasketch's MinHash LSH over the words and word bigrams of the stemmed question proposes candidates
at a lower
threshold than the configured one (so pairs just above it are not lost to the banding), and each is verified by its
Jaccard similarity against the threshold (`operators.near_duplicates`: an edit of a number, a negation, a name or a
pair of opposites makes a different question).

Stop at the target: once `target` instances are accepted (or a domain's quota is met), `gate` tells the runner
before each LLM stage, so no engine call is spent on documents or candidates that admission would refuse anyway.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Iterable

import ray
from pydantic import Field

from operators.config_base import Strict
from operators.services.journal import Journal
from operators.near_duplicates import index_shingles, near_duplicate
from operators.text import exact_key

log = logging.getLogger(__name__)
ACTOR_PREFIX = "ares-admission-"
MIN_DOCS_FOR_ABORT = 20  # the error budget is judged on at least this many documents


class TooManyErrors(RuntimeError):
    """The job's error budget is spent. Raised in the service and by the map that called it; Ray Data re-raises
    that as its own UserCodeException without the cause, so the driver asks the service (`spent_budget`)."""


class ServiceUnavailable(RuntimeError):
    """The service could not rebuild its state (the committed output or its journal could not be read)."""


class QuotaConfig(Strict):
    per_domain: dict[str, int] = Field(default_factory=dict, description="Target accepted instances per domain.")
    default: int | None = Field(None, ge=1, description="Target for domains not listed.")


class DedupConfig(Strict):
    enabled: bool = True
    threshold: float = Field(
        0.75, gt=0, le=1, description="Jaccard similarity of the stemmed questions' word bigrams at or above which two "
                                     "questions are near-duplicates (verified for every pair the LSH proposes).")
    num_perm: int = Field(128, ge=16, description="MinHash permutations of the LSH index.")
    recall_margin: float = Field(
        0.25, ge=0, lt=1, description="The LSH proposes pairs from this far below the threshold, so that banding "
                                      "loses none just above it; each proposal is then verified.")


Committed = tuple[Iterable[tuple[str, str, str]], dict[str, str]]


class Admission:
    """The plain-Python state machine; `AdmissionActor` hosts it in Ray."""

    def __init__(self, quota: QuotaConfig, dedup: DedupConfig, max_errored_fraction: float,
                 seed_from: Callable[[], Committed] | None = None, journal: Callable[[], Journal] | None = None,
                 target: int | None = None):
        """`seed_from` returns the committed state, (accepted (candidate_id, domain, question) rows,
        (doc_id, record_key) of written documents), as iterables consumed once; `journal` opens this attempt's
        decision log. Both run again when Ray restarts the actor, so the new instance knows what was committed and
        what was decided since. `target`: accepted instances after which everything is refused (None: no target)."""
        from datasketch import MinHashLSH

        self.quota, self.default_quota = dict(quota.per_domain), quota.default
        self.dedup, self.num_perm = dedup.enabled, dedup.num_perm
        self.threshold = dedup.threshold
        self.lsh = MinHashLSH(threshold=max(0.05, dedup.threshold - dedup.recall_margin), num_perm=dedup.num_perm)
        self.questions: dict[str, str] = {}  # candidate id -> question, to verify what the LSH proposes
        self.exact: dict[str, str] = {}  # exact key of a question -> candidate id
        self.admitted: dict[str, tuple[str, str]] = {}  # candidate id -> (domain, exact key)
        self.by_record: dict[str, list[str]] = {}  # record_key -> candidates admitted for it in this attempt
        self.accepted: dict[str, int] = {}
        self.target = target
        self.max_errored_fraction = max_errored_fraction
        self.spent: str | None = None  # why the error budget is spent, once it is
        self.docs_seen = self.docs_errored = 0
        self.doc_ids: dict[str, str] = {}  # document id -> record_key of its first record
        self.seeded = self.replayed = 0
        self.journal: Journal | None = None
        self.unavailable: str | None = None
        started = time.perf_counter()
        try:
            if seed_from is not None:
                accepted, documents = seed_from()  # streams: consumed here, batch by batch, never held as a list
                self.seeded = self.seed(accepted)
                self.doc_ids.update(documents)
            self.journal = journal() if journal is not None else None
            if self.journal is not None:
                for entry in self.journal.replay():
                    self._apply(entry)
                    self.replayed += 1
        except Exception as exc:  # refuse to decide from a partial state; the driver reports this in one line
            text = str(exc).splitlines()[0] if str(exc) else ""
            self.unavailable = f"admission state could not be rebuilt: {type(exc).__name__}: {text}"[:500]
        self.seed_seconds = time.perf_counter() - started

    def health(self) -> str | None:
        """None when the service can decide; else why it cannot."""
        return self.unavailable

    def _ready(self) -> None:
        if self.unavailable:
            raise ServiceUnavailable(self.unavailable)

    def _apply(self, entry: dict) -> None:
        """Re-apply one journal entry: the same state changes the original call made, without re-deciding."""
        for doc_id, record_key in entry.get("claims", []):
            self.doc_ids.setdefault(doc_id, record_key)
        for cid in entry.get("withdrawn", []):
            self._unregister(cid)
        for cid, domain, question, *record_key in entry.get("admitted", []):
            self._register(cid, domain, question, *record_key)
        self.docs_seen += entry.get("seen", 0)
        self.docs_errored += entry.get("errored", 0)

    def _log(self, **entry: Any) -> None:
        if self.journal is not None and any(entry.values()):
            self.journal.append(entry)

    def _minhash(self, text: str):
        from datasketch import MinHash

        m = MinHash(num_perm=self.num_perm)
        m.update_batch(list(index_shingles(text)))
        return m

    def _nearest(self, question: str) -> tuple[str, float] | None:
        """The most similar admitted question that is a verified near-duplicate of this one, or None."""
        best = None
        for other in self.lsh.query(self._minhash(question)):
            sim = near_duplicate(question, self.questions.get(other, ""), self.threshold)
            if sim is not None and (best is None or (sim, other) > (best[1], best[0])):
                best = (other, sim)
        return best

    def _limit(self, domain: str) -> int | None:
        return self.quota.get(domain, self.default_quota)

    def full_domains(self) -> list[str]:
        self._ready()
        return [d for d, n in self.accepted.items() if (lim := self._limit(d)) is not None and n >= lim]

    def target_met(self) -> str | None:
        """Why nothing more can be accepted (the target is met), or None."""
        if self.target is not None and sum(self.accepted.values()) >= self.target:
            return f"target of {self.target} accepted instances is met"
        return None

    def gate(self, record_keys: list[str]) -> tuple[str | None, list[str]]:
        """Asked before an LLM stage runs on a batch: (why all work stops, or None; the domains whose quota is met).
        The batch's documents are being processed, so they are not written yet: candidates admitted for them earlier
        in this attempt (a batch Ray retries) give up their place first, and are decided afresh if they get there."""
        self._ready()
        withdrawn = [cid for key in record_keys for cid in self.by_record.pop(key, [])]
        for cid in withdrawn:
            self._unregister(cid)
        self._log(withdrawn=withdrawn)
        return self.target_met(), self.full_domains()

    def _register(self, candidate_id: str, domain: str, question: str, record_key: str | None = None) -> None:
        """Count an admitted candidate once, however often it is registered (seed, journal replay, retry)."""
        self._unregister(candidate_id)
        key = exact_key(question)
        self.admitted[candidate_id] = (domain, key)
        if record_key is not None and candidate_id not in (mine := self.by_record.setdefault(record_key, [])):
            mine.append(candidate_id)
        self.accepted[domain] = self.accepted.get(domain, 0) + 1
        if self.dedup:
            self.exact.setdefault(key, candidate_id)
            self.questions[candidate_id] = question
            self.lsh.insert(candidate_id, self._minhash(question))

    def _unregister(self, candidate_id: str) -> None:
        prev = self.admitted.pop(candidate_id, None)
        if prev is None:
            return
        domain, key = prev
        self.accepted[domain] -= 1
        if self.dedup:
            if self.exact.get(key) == candidate_id:
                del self.exact[key]
            if candidate_id in self.lsh:
                self.lsh.remove(candidate_id)
            self.questions.pop(candidate_id, None)

    def seed(self, rows: Iterable[tuple[str, str, str]]) -> int:
        """Register already-committed accepted instances (candidate_id, domain, question)."""
        n = 0
        for cid, domain, question in rows:
            self._register(cid, domain, question)
            n += 1
        return n

    def claim_documents(self, items: list[tuple[str, str]]) -> list[str | None]:
        """For each (doc_id, record_key): None if this record owns the id, else the record_key that owns it.
        The first record to claim an id owns it, now and after a restart (ownership is rebuilt from the output
        and the journal)."""
        self._ready()
        out, new = [], []
        for doc_id, record_key in items:
            if doc_id not in self.doc_ids:
                new.append([doc_id, record_key])
            owner = self.doc_ids.setdefault(doc_id, record_key)
            out.append(None if owner == record_key else owner)
        self._log(claims=new)
        return out

    def admit(self, items: list[tuple]) -> list[tuple[bool, str, str]]:
        """For each (candidate_id, domain, question[, record_key]): (admitted, stage, reason). Admitted ones are
        registered. A candidate asked about again (Ray retried its batch) gives up its earlier place and is decided
        afresh, so a retry neither counts twice against a quota nor is rejected as a duplicate of itself."""
        self._ready()
        out, withdrawn, admitted = [], [], []
        for cid, domain, question, *record_key in items:
            if cid in self.admitted:
                self._unregister(cid)
                withdrawn.append(cid)
            if (met := self.target_met()) is not None:
                out.append((False, "quota", met))
                continue
            lim = self._limit(domain)
            if lim is not None and self.accepted.get(domain, 0) >= lim:
                out.append((False, "quota", f"quota of {lim} accepted instances for domain {domain!r} is met"))
                continue
            if self.dedup:
                key = exact_key(question)
                if key in self.exact:
                    out.append((False, "dedup", f"exact duplicate of candidate {self.exact[key]}"))
                    continue
                near = self._nearest(question)
                if near is not None:
                    other, sim = near
                    out.append((False, "dedup", f"near-duplicate of candidate {other} (similarity {sim:.2f} >= "
                                                f"{self.threshold})"))
                    continue
            self._register(cid, domain, question, *record_key)
            admitted.append([cid, domain, question, *record_key])
            out.append((True, "admission", "admitted"))
        self._log(withdrawn=withdrawn, admitted=admitted)
        return out

    def report_documents(self, seen: int, errored: int) -> None:
        """Count documents; raise when errored ones exceed the configured share (after a minimum sample)."""
        self._ready()
        self.docs_seen += seen
        self.docs_errored += errored
        self._log(seen=seen, errored=errored)
        if self.docs_seen >= MIN_DOCS_FOR_ABORT:
            frac = self.docs_errored / self.docs_seen
            if frac > self.max_errored_fraction:
                self.spent = self.spent or (
                    f"{self.docs_errored} of {self.docs_seen} documents raised errors ({frac:.0%} > "
                    f"ray.max_errored_fraction={self.max_errored_fraction}); aborting the job")
                raise TooManyErrors(self.spent)

    def spent_budget(self) -> str | None:
        """Why the job's error budget is spent, or None while it is not."""
        return self.spent

    def stats(self) -> dict[str, Any]:
        return {"accepted": dict(self.accepted), "target": self.target, "seeded": self.seeded,
                "seeded_documents": len(self.doc_ids), "seed_seconds": round(self.seed_seconds, 2),
                "replayed": self.replayed,
                "docs_seen": self.docs_seen, "docs_errored": self.docs_errored}


AdmissionActor = ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1)(Admission)


class AdmissionClient:
    """What stages call; wraps the actor handle (or, in unit tests, a plain `Admission`)."""

    def __init__(self, target: Any):
        self.target = target

    def _call(self, method: str, *args: Any) -> Any:
        fn = getattr(self.target, method)
        return ray.get(fn.remote(*args)) if hasattr(fn, "remote") else fn(*args)

    def full_domains(self) -> list[str]:
        return self._call("full_domains")

    def gate(self, record_keys: list[str]) -> tuple[str | None, list[str]]:
        return self._call("gate", record_keys)

    def admit(self, items: list[tuple]) -> list[tuple[bool, str, str]]:
        return self._call("admit", items) if items else []

    def report_documents(self, seen: int, errored: int) -> None:
        self._call("report_documents", seen, errored)

    def claim_documents(self, items: list[tuple[str, str]]) -> list[str | None]:
        return self._call("claim_documents", items) if items else []


def actor_name(run_name: str) -> str:
    return ACTOR_PREFIX + run_name

