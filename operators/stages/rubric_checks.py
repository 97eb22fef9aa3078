"""Deterministic rubric validity checks and text screens of the question, the reference answer and every
criterion; no model involved.

A check rejects only what is unambiguous; the first failure rejects the candidate. What a check cannot decide becomes
a flag on the candidate for the judge that owns it (the rubric judge for criteria, self-containment for the
question, faithfulness for the reference answer, leakage for an answer the question may give away): that judge
sees the flag in its prompt and rules on it.
"""

from __future__ import annotations

import re
from itertools import combinations

from pydantic import Field

from operators.rubric import RubricSpec, opening, polarity_doubt, polarity_problem
from operators.schemas import RubricItem
from operators.screens import answer_in_question, source_reference
from operators.stage import StageConfig, StageContext, stage
from operators.state import Candidate, DocumentState
from operators.text import content_words, grams, jaccard, stem, stems

NAME = "rubric_checks"


class RubricChecksConfig(StageConfig):
    max_similarity: float = Field(
        0.6, gt=0, le=1,
        description="Two criteria of the same sign whose normalised word bigrams overlap this much (Jaccard) are "
                    "flagged to the rubric judge as possible duplicates; criteria equal once normalised are rejected.")


# Verbs that open a criterion and say the same thing ("States the dose" = "Gives the dose" = "Mentions the dose").
_VERBS_OF_SAYING = """
state say give mention note explain describe identify provide list include specify indicate highlight name cite
report present outline discuss clarify emphasize emphasise acknowledge recognize recognise address cover convey detail
point identifies specifies clarifies claim assert argue contend
""".split()
_SAME_VERB = frozenset(stem(v + end) for v in _VERBS_OF_SAYING for end in ("", "s", "es"))
_FILLER = frozenset({"a", "an", "the", "that", "out", "clearly", "explicitly", "also", "correctly", "accurately"})


# Words a criterion can gain or lose without saying something else ("a"/"the", "that", "per month"/"a month",
# "one hour"/"an hour"); negations, quantities and directions are kept ("with"/"without", "before"/"after").
_KEY_DROP = frozenset("""
a an the that which who whom whose this these those it its is are was were be been being am do does did has have had
having of for at by as with and per one also clearly explicitly correctly accurately very to
""".split())


def _lemma(token: str) -> str:
    """A crude base form, for duplicates only: "rebasing"/"rebase", "merging"/"merge", "adrenalin"/"adrenaline"."""
    for suffix in ("ing", "ed", "es", "s", "e"):
        if token.endswith(suffix) and len(token) - len(suffix) >= 4:
            return token[: -len(suffix)]
    return token


def duplicate_key(criterion: str) -> str:
    """What two criteria that say the same thing share: the content of `criterion_key`, words in their base form,
    joined without spaces (so "auto-injector" = "autoinjector", "1,200" = "1200", "per cent" = "percent")."""
    tokens = criterion_key(re.sub(r"\bper\s+cent\b", "percent", criterion.replace("%", " percent "), flags=re.I))
    return "".join(_lemma(t) for t in tokens if t not in _KEY_DROP)


def criterion_key(criterion: str) -> tuple[str, ...]:
    """A criterion as duplicates compare it: its subject dropped, an opening verb of saying made one verb, articles
    and fillers dropped, plurals stemmed, word order kept."""
    tokens = stems(opening(criterion))
    if tokens and tokens[0] in _SAME_VERB:
        tokens = ["STATE", *tokens[1:]]
    return tuple(t for t in tokens if t not in _FILLER)


def criterion_similarity(a: tuple[str, ...], b: tuple[str, ...]) -> float:
    """Word-bigram Jaccard: order-sensitive ("left ... right" against "right ... left" differ)."""
    return jaccard(grams(list(a), 2), grams(list(b), 2))


def check_count(rubric: list[RubricItem], spec: RubricSpec, conf: RubricChecksConfig) -> str | None:
    if not spec.min_criteria <= len(rubric) <= spec.max_criteria:
        return f"{len(rubric)} criteria, outside [{spec.min_criteria}, {spec.max_criteria}]"
    return None


def check_weights(rubric: list[RubricItem], spec: RubricSpec, conf: RubricChecksConfig) -> str | None:
    for i, item in enumerate(rubric):
        if item.weight == 0:
            return f"criterion {i} has weight 0"
        if not spec.min_weight <= item.weight <= spec.max_weight:
            return f"criterion {i} weight {item.weight} outside [{spec.min_weight}, {spec.max_weight}]"
    return None


def check_polarity(rubric: list[RubricItem], spec: RubricSpec, conf: RubricChecksConfig) -> str | None:
    """Weight signs that cannot be right: a polarity label that disagrees, or an opening whose meaning is fixed
    and opposite to the sign ("Correctly names ..." penalised, "Misstates ..." rewarded). A wrong sign flips the
    reward: a known source of silent reward bugs in published rubric data. Openings whose sign depends on what
    follows ("Avoids ...", "Does not ...") are flags for the rubric judge (`rubric_flags`)."""
    for i, item in enumerate(rubric):
        problem = polarity_problem(i, item)
        if problem:
            return problem
    return None


def check_duplicates(rubric: list[RubricItem], spec: RubricSpec, conf: RubricChecksConfig) -> str | None:
    """Criteria that are the same once normalised: the same sign is a duplicate (the fact counted twice), opposite
    signs reward and penalise the same behaviour. A fact rewarded beside its inversion penalised ("left ventricle
    to the body" +3, "right ventricle to the body" -3) is what good rubrics do, and is not compared across signs."""
    keys = [duplicate_key(item.criterion) for item in rubric]
    for i, j in combinations(range(len(rubric)), 2):
        if keys[i] and keys[i] == keys[j]:
            if (rubric[i].weight > 0) == (rubric[j].weight > 0):
                return f"criteria {i} and {j} are duplicates (the same once normalised)"
            return f"criteria {i} and {j} reward and penalise the same behaviour"
    return None


def check_criteria_source(rubric: list[RubricItem], spec: RubricSpec, conf: RubricChecksConfig) -> str | None:
    """A criterion that points at the source: the grader during RL never sees it."""
    for i, item in enumerate(rubric):
        strong, _ = source_reference(item.criterion)
        if strong:
            return f"criterion {i} refers to the unseen source ({strong!r})"
    return None


def check_top_positive(rubric: list[RubricItem], spec: RubricSpec, conf: RubricChecksConfig) -> str | None:
    top = max((abs(item.weight) for item in rubric), default=0)
    if not any(item.weight == top and item.weight > 0 for item in rubric):
        return f"no positive criterion carries the highest weight ({top})"
    return None


def check_negatives(rubric: list[RubricItem], spec: RubricSpec, conf: RubricChecksConfig) -> str | None:
    n = sum(1 for item in rubric if item.weight < 0)
    if n < spec.min_negative:
        return f"{n} negative criteria, fewer than {spec.min_negative}"
    return None


RUBRIC_CHECKS = [check_count, check_weights, check_polarity, check_duplicates, check_criteria_source,
                 check_top_positive, check_negatives]


def check_rubric(rubric: list[RubricItem], spec: RubricSpec, conf: RubricChecksConfig) -> str | None:
    """Why the rubric is unusable (the first failing check), or None."""
    for check in RUBRIC_CHECKS:
        reason = check(rubric, spec, conf)
        if reason:
            return f"{check.__name__.removeprefix('check_')}: {reason}"
    return None


def rubric_flags(rubric: list[RubricItem], conf: RubricChecksConfig) -> list[str]:
    """What the checks cannot decide about the criteria, for the rubric judge: a sign that may be inverted, two
    criteria of one sign that may check the same thing, a criterion that may cite the source."""
    flags = [doubt for i, item in enumerate(rubric) if (doubt := polarity_doubt(i, item))]
    keys = [criterion_key(item.criterion) for item in rubric]
    same = [duplicate_key(item.criterion) for item in rubric]
    content = [content_words(list(k)) - {"STATE"} for k in keys]
    for i, j in combinations(range(len(rubric)), 2):
        if (rubric[i].weight > 0) == (rubric[j].weight > 0) and same[i] != same[j]:
            sim = max(criterion_similarity(keys[i], keys[j]), jaccard(content[i], content[j]))
            if sim >= conf.max_similarity:
                flags.append(f"criteria {i} and {j} may duplicate each other (word overlap {sim:.2f})")
    for i, item in enumerate(rubric):
        _, weak = source_reference(item.criterion)
        if weak:
            flags.append(f"criterion {i} may refer to the unseen source ({weak!r}): can a grader who sees only the "
                         f"question and a response decide it?")
    return flags


def check_question_text(question: str, answer: str) -> str | None:
    """Cheap self-containment and leakage screens of the question and the reference answer, before the judges."""
    strong, _ = source_reference(question)
    if strong:
        return f"question refers to an unseen text ({strong!r})"
    strong, _ = source_reference(answer)
    if strong:
        return f"reference answer refers to an unseen text ({strong!r})"
    leak, _ = answer_in_question(question, answer)
    if leak:
        return leak
    return None


def text_flags(question: str, answer: str) -> list[tuple[str, str]]:
    """(judge, detail) of what the text screens cannot decide."""
    out = []
    _, weak = source_reference(question)
    if weak:
        out.append(("self_containment", f"the question may refer to a text the reader cannot see ({weak!r})"))
    _, weak = source_reference(answer)
    if weak:
        out.append(("faithfulness", f"the reference answer may refer to the unseen source ({weak!r}); an answer "
                                    f"must stand without it"))
    _, maybe = answer_in_question(question, answer)
    if maybe:
        out.append(("leakage", maybe))
    return out


def flag_candidate(cand: Candidate, conf: RubricChecksConfig) -> None:
    """Hand every undecided point to the judge that owns it."""
    for detail in rubric_flags(cand.rubric, conf):
        cand.flag("rubric_judge", NAME, detail)
    for judge, detail in text_flags(cand.question or "", cand.reference_answer or ""):
        cand.flag(judge, NAME, detail)


def run(docs: list[DocumentState], ctx: StageContext) -> None:
    for doc in docs:
        for cand in doc.live_candidates():
            reason = check_rubric(cand.rubric, ctx.cfg.rubric, ctx.conf)
            if reason is None:
                reason = check_question_text(cand.question or "", cand.reference_answer or "")
            if reason is None:
                flag_candidate(cand, ctx.conf)
            n_neg = sum(1 for item in cand.rubric if item.weight < 0)
            flagged = f"; {len(cand.flags)} point(s) flagged for the judges" if cand.flags else ""
            cand.record(NAME, reason is None, reason or f"{len(cand.rubric)} criteria, {n_neg} negative: valid{flagged}")


STAGE = stage(NAME, run, "count, weights, polarity, duplicates, pitfalls, source references in every text, an "
                         "answer in its question; undecided points flagged to the judges",
              reads=["candidate.rubric", "candidate.question", "candidate.reference_answer"],
              writes=["candidate.flags"], config=RubricChecksConfig)
