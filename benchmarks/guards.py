"""The guards benchmark: planted defects and hard clean controls through the real stage functions.

    python -m benchmarks.guards [--corpus tests/data/guards] [--json]

The corpus (`tests/data/guards/`, hand-written) holds, per kind, candidates with a planted defect and clean hard
cases that a careless check would reject. Each goes through the stage that guards it, exactly as the pipeline runs
it: the rubric checks (criteria, question and reference-answer screens), contamination against the corpus's own
evaluation set, admission's near-duplicate index, ingest's split key. Printed per kind: planted, caught and recall;
per control kind: false rejects. A kind a deterministic check cannot decide is listed with the judge that owns it,
and "caught" there means the case was flagged to that judge (the judge rules on it in the pipeline; see
tests/test_guards_benchmark.py for the flag reaching it). tests/test_guards_benchmark.py holds the floors: recall
>= 95% on every kind a deterministic check owns, false rejects <= 2% of the hard controls.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from operators.schemas import RubricItem
from operators.services.admission import Admission, AdmissionClient, DedupConfig, QuotaConfig
from operators.stage import StageContext
from operators.stages import admission, contamination, ingest, rubric_checks
from operators.state import Candidate, Chunk, DocumentState

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "data" / "guards"
RECALL_FLOOR = 0.95
FALSE_REJECT_CEILING = 0.02


@dataclass
class Outcome:
    file: str
    id: str
    kind: str
    expect: str  # reject | flag | pass | same
    owner: str | None  # the judge a flag must reach
    rejected: str | None = None  # the reject reason, if rejected (for "same": why the two differ)
    flagged: list[str] = field(default_factory=list)  # judges the case was flagged to

    @property
    def caught(self) -> bool:
        if self.expect == "reject":
            return self.rejected is not None
        if self.expect == "flag":
            return self.rejected is not None or self.owner in self.flagged
        return self.rejected is None  # pass / same: "caught" = behaved

    @property
    def false_reject(self) -> bool:
        return self.expect in ("pass",) and self.rejected is not None


def _lines(path: Path) -> Iterable[dict]:
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path} line {n}: {exc}") from None


def _config():
    from pipelines.config import load_config

    # the default rubric bounds (7 to 15 criteria): the local config's tighter ones are a CPU budget, not a guard
    return load_config("local", ["rubric.min_criteria=7", "rubric.max_criteria=15"])


def _doc(key: str, cands: list[Candidate]) -> DocumentState:
    return DocumentState(record_key=key, doc_id=key, source="guards", row=1, doc_hash=key, content_key=key,
                         chunks=[Chunk(index=0, start=0, end=1, text="(unused)")], domain="Others", candidates=cands)


def _candidate(cid: str, question: str, answer: str, rubric: list[dict]) -> Candidate:
    return Candidate(candidate_id=cid, chunk_index=0, persona="p", domain="Others", question=question,
                     reference_answer=answer, rubric=[RubricItem(**item) for item in rubric])


def _judge_candidates(cands: list[tuple[dict, Candidate]], cfg, file: str) -> list[Outcome]:
    docs = [_doc(f"{file}#{i}", [cand]) for i, (_, cand) in enumerate(cands)]
    ctx = StageContext(cfg=cfg).for_stage(rubric_checks.NAME)
    rubric_checks.run(docs, ctx)
    out = []
    for case, cand in cands:
        out.append(Outcome(file, case["id"], case["kind"], case["expect"], case.get("owner"),
                           cand.reject_reason if cand.status == "rejected" else None,
                           sorted({f.judge for f in cand.flags})))
    return out


def rubric_cases(corpus: Path, cfg) -> list[Outcome]:
    bases = {b["id"]: b for b in _lines(corpus / "rubric_bases.jsonl")}
    cands = [(dict(id=b["id"], kind="clean_base", expect="pass"),
              _candidate(b["id"], b["question"], b["reference_answer"], b["rubric"])) for b in bases.values()]
    for case in _lines(corpus / "rubric_cases.jsonl"):
        base = bases[case["base"]]
        rubric = [dict(item) for item in base["rubric"]]
        for index, item in (case.get("replace") or {}).items():
            rubric[int(index)] = item
        rubric += case.get("add") or []
        cands.append((case, _candidate(case["id"], base["question"], base["reference_answer"], rubric)))
    return _judge_candidates(cands, cfg, "rubric_cases")


def question_cases(corpus: Path, cfg) -> list[Outcome]:
    bases = list(_lines(corpus / "rubric_bases.jsonl"))
    cands = [(case, _candidate(case["id"], case["question"], case["reference_answer"],
                               bases[i % len(bases)]["rubric"]))
             for i, case in enumerate(_lines(corpus / "question_cases.jsonl"))]
    return _judge_candidates(cands, cfg, "question_cases")


def contamination_cases(corpus: Path, cfg) -> list[Outcome]:
    conf = contamination.ContaminationConfig(eval_files=[str(corpus / "contamination_eval.jsonl")])
    ctx = StageContext(cfg=cfg, stage=contamination.NAME, conf=conf)
    cases = list(_lines(corpus / "contamination_cases.jsonl"))
    cands = [_candidate(c["id"], c["question"], c["reference_answer"], []) for c in cases]
    contamination.run([_doc(f"c#{i}", [cand]) for i, cand in enumerate(cands)], ctx)
    return [Outcome("contamination_cases", c["id"], c["kind"], c["expect"], None,
                    cand.reject_reason if cand.status == "rejected" else None) for c, cand in zip(cases, cands)]


def near_duplicate_cases(corpus: Path, cfg) -> list[Outcome]:
    """Each pair in a fresh admission service: the first question is admitted, then the second is decided."""
    out = []
    for case in _lines(corpus / "near_duplicate_cases.jsonl"):
        service = AdmissionClient(Admission(QuotaConfig(), DedupConfig(**cfg.stages.admission.dedup.model_dump()),
                                            1.0))
        ctx = StageContext(cfg=cfg, services={"admission": service}).for_stage(admission.NAME)
        first = _candidate("first", case["first"], "", [])
        second = _candidate("second", case["second"], "", [])
        admission.run([_doc("a", [first])], ctx)
        admission.run([_doc("b", [second])], ctx)
        assert first.status == "accepted", (case["id"], first.reject_reason)
        out.append(Outcome("near_duplicate_cases", case["id"], case["kind"], case["expect"], None,
                           second.reject_reason if second.status == "rejected" else None))
    return out


def split_cases(corpus: Path, cfg) -> list[Outcome]:
    """Two records whose texts differ only in form must share the split key (hence the split)."""
    out = []
    ctx = StageContext(cfg=cfg).for_stage(ingest.NAME)
    for case in _lines(corpus / "split_cases.jsonl"):
        a = DocumentState.from_read_row({"record_key": "a", "doc_id": "a", "source": "s", "row": 1,
                                         "text": case["first"]})
        b = DocumentState.from_read_row({"record_key": "b", "doc_id": "b", "source": "s", "row": 2,
                                         "text": case["second"]})
        ingest.run([a, b], ctx)
        same = a.content_key == b.content_key and (
            admission.assign_split(a.content_key, cfg.stages.admission.splits)
            == admission.assign_split(b.content_key, cfg.stages.admission.splits))
        out.append(Outcome("split_cases", case["id"], case["kind"], "same", None,
                           None if same else "the two texts got different split keys"))
    return out


def reward_refusals(outcomes: list[Outcome], corpus: Path) -> list[Outcome]:
    """The reward's own refusal (`check_scorable`) over the rubric cases whose defect is a sign: it must refuse the
    polarity defects the checks reject and score every control."""
    from operators.rubric import RubricError, check_scorable

    bases = {b["id"]: b for b in _lines(corpus / "rubric_bases.jsonl")}
    sign_kinds = {"polarity_label_mismatch", "penalises_correct", "rewards_mistake"}
    out = []
    for case in _lines(corpus / "rubric_cases.jsonl"):
        if case["kind"] not in sign_kinds and case["expect"] != "pass":
            continue
        rubric = [dict(item) for item in bases[case["base"]]["rubric"]]
        for index, item in (case.get("replace") or {}).items():
            rubric[int(index)] = item
        rubric += case.get("add") or []
        try:
            check_scorable([RubricItem(**item) for item in rubric])
            refused = None
        except RubricError as exc:
            refused = str(exc)
        kind = "reward:" + case["kind"]
        out.append(Outcome("reward", case["id"], kind, "reject" if case["expect"] == "reject" else "pass", None,
                           refused))
    return out


def measure(corpus: Path = CORPUS) -> list[Outcome]:
    cfg = _config()
    outcomes = rubric_cases(corpus, cfg) + question_cases(corpus, cfg)
    outcomes += contamination_cases(corpus, cfg) + near_duplicate_cases(corpus, cfg) + split_cases(corpus, cfg)
    outcomes += reward_refusals(outcomes, corpus)
    return outcomes


def table(outcomes: list[Outcome]) -> dict:
    """Per kind: planted/caught/recall (defects), flagged to the owner (judge kinds), false rejects (controls)."""
    kinds: dict[str, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        kinds[(o.file, o.kind)].append(o)  # type: ignore[index]
    rows = []
    for (file, kind), cases in sorted(kinds.items()):
        expect = cases[0].expect
        n = len(cases)
        if expect == "pass":
            bad = sum(o.false_reject for o in cases)
            rows.append({"file": file, "kind": kind, "group": "control", "n": n, "false_rejects": bad,
                         "misses": [o.id for o in cases if o.false_reject]})
        else:
            caught = sum(o.caught for o in cases)
            group = "judge" if expect == "flag" else "deterministic"
            rows.append({"file": file, "kind": kind, "group": group, "owner": cases[0].owner or "deterministic",
                         "n": n, "caught": caught, "recall": caught / n,
                         "misses": [o.id for o in cases if not o.caught]})
    controls = [o for o in outcomes if o.expect == "pass"]
    return {"rows": rows, "controls": len(controls), "false_rejects": sum(o.false_reject for o in controls)}


def format_table(result: dict) -> str:
    lines = [f"{'check':<22} {'kind':<30} {'owner':<17} {'planted':>7} {'caught':>6} {'recall':>7}"]
    for r in result["rows"]:
        if r["group"] != "control":
            lines.append(f"{r['file'].removesuffix('_cases'):<22} {r['kind']:<30} {r['owner']:<17} {r['n']:>7} "
                         f"{r['caught']:>6} {r['recall']:>7.0%}")
    lines.append("")
    lines.append(f"{'check':<22} {'control kind':<30} {'':<17} {'cases':>7} {'false rejects':>14}")
    for r in result["rows"]:
        if r["group"] == "control":
            lines.append(f"{r['file'].removesuffix('_cases'):<22} {r['kind']:<30} {'':<17} {r['n']:>7} "
                         f"{r['false_rejects']:>14}")
    share = result["false_rejects"] / result["controls"] if result["controls"] else 0.0
    lines.append(f"{'all controls':<71} {result['controls']:>7} {result['false_rejects']:>14} ({share:.1%})")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=str(CORPUS))
    parser.add_argument("--json", action="store_true", help="print the table as JSON")
    parser.add_argument("--misses", action="store_true", help="list the ids of missed cases and false rejects")
    args = parser.parse_args()
    result = table(measure(Path(args.corpus)))
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(format_table(result))
    if args.misses:
        for r in result["rows"]:
            if r["misses"]:
                print(f"{r['kind']}: {', '.join(r['misses'])}")


if __name__ == "__main__":
    main()
