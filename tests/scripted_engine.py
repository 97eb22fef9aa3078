"""A scripted engine client: well-formed, passing answers for every ARES call, derived from the prompt, no model.

The tiny model's candidates rightly die at the filters, so the acceptance path (admission, quotas, de-duplication,
splits, the write) is driven end to end by this stand-in instead: selected with
`engines.<name>.client=tests.scripted_engine:ScriptedClient`. Each output goes through the same parsing and
validation as a real one. Answers are a pure function of the prompt, so runs are reproducible.

Knobs (class attributes a test may set before the pipeline starts, for in-process use): `fail_stages` makes the
named stages' judges say the failing verdict; `uphold_flags` makes the named judges rule every point flagged to
them a "defect" (by default they rule "fine"). Every prompt a judge saw with flagged points is kept in `flagged`.
"""

from __future__ import annotations

import hashlib
import json
import re

from operators.llm.client import LLMRequest, LLMResult
from operators.llm.parsing import parse_output

FLAW_MARK = "(this answer is deliberately incomplete)"
_STOP = {"the", "and", "that", "with", "from", "this", "which", "their", "they", "have", "been", "were", "into",
         "also", "when", "more", "than", "such", "most", "some", "these", "other", "about", "between", "over"}


def _between(text: str, tag: str) -> str:
    m = re.search(rf"<{tag}>\s*(.*?)\s*</{tag}>", text, re.S)
    return m.group(1) if m else ""


def _keywords(text: str, k: int) -> list[str]:
    seen: list[str] = []
    for w in re.findall(r"[A-Za-z][a-z]{4,}", text):
        w = w.lower()
        if w not in _STOP and w not in seen:
            seen.append(w)
        if len(seen) == k:
            break
    while len(seen) < k:
        seen.append(f"aspect{len(seen)}")
    return seen


PERSONAS = ["A careful engineering student", "A curious retired teacher"]


def synthesis(user: str, persona: str) -> dict:
    """A passing instance from the document's words; each persona asks about other words (so a document's two
    candidates are not near-duplicates), and the same document and persona always give the same question."""
    doc = _between(user, "document")
    slot = PERSONAS.index(persona) if persona in PERSONAS else 0
    words = _keywords(doc, 10 + 4 * len(PERSONAS))[4 * slot:]
    tag = hashlib.sha256((doc + persona).encode()).hexdigest()[:6]
    rubric = [{"criterion": f"Explains the role of {w} in the process described", "weight": 5 - i % 3,
               "polarity": "positive"} for i, w in enumerate(words[:6])]
    rubric.append({"criterion": f"Claims that {words[6]} and {words[7]} are unrelated", "weight": -3,
                   "polarity": "negative"})
    rubric.append({"criterion": f"States a wrong definition of {words[8]}", "weight": -2, "polarity": "negative"})
    return {
        "question": f"How do {words[0]}, {words[1]} and {words[2]} work together, and why does {words[3]} matter "
                    f"here? (case {tag})",
        "reference_answer": " ".join(f"The {w} contributes to the outcome." for w in words[:6]),
        "rubric": rubric,
    }


def grade(user: str) -> dict:
    response, criterion = _between(user, "response"), _between(user, "criterion")
    negative = criterion.startswith(("Claims that", "States a wrong"))
    flawed = FLAW_MARK in response
    met = (flawed if negative else not flawed)
    return {"explanation": "scripted grading", "criteria_met": met}


def _rulings(req: LLMRequest, uphold: bool) -> dict:
    """One ruling per flagged point, as the judge's schema asks (none when it asks for none)."""
    spec = (req.schema or {}).get("properties", {}).get("flags")
    return {"flags": ["defect" if uphold else "fine"] * spec["minItems"]} if spec else {}


class ScriptedClient:
    fail_stages: frozenset[str] = frozenset()
    uphold_flags: frozenset[str] = frozenset()
    flagged: list[tuple[str, str]] = []  # (stage, user prompt) of each judge call that carried flagged points

    def __init__(self, engine=None):
        self.calls: dict[str, int] = {}

    @staticmethod
    def policy_answers(req: LLMRequest) -> list[str]:
        """n answers to the question, every other one deliberately flawed: their rewards differ."""
        question = req.messages[-1]["content"]
        return [f"Answer {i} to: {question[:60]}" + (f" {FLAW_MARK}" if i % 2 else "") for i in range(req.sampling.n)]

    def answer(self, req: LLMRequest) -> dict:
        user = req.messages[-1]["content"]
        name = req.output.__name__
        rulings = _rulings(req, req.stage in self.uphold_flags)
        if rulings:
            ScriptedClient.flagged.append((req.stage, user))
        if name in ("BinaryJudgement", "RuledJudgement"):
            passes = "no" if req.stage == "leakage" else "yes"
            fails = "yes" if passes == "no" else "no"
            return {"reason": "scripted", **rulings, "verdict": fails if req.stage in self.fail_stages else passes}
        if name in ("DomainPersonas", "DomainLabel"):
            domains = re.search(r"exactly one of: (.*?)\.\n", user).group(1).split("; ")
            doc = _between(user, "document")
            domain = domains[int(hashlib.sha256(doc.encode()).hexdigest(), 16) % len(domains)]
            out = {"domain": domain}
            if name == "DomainPersonas":
                out["personas"] = list(PERSONAS)
            return out
        if name == "GeneratedInstance":
            return synthesis(user, _between(user, "persona"))
        if name == "RubricJudgement":
            signs = re.findall(r"^\d+\. \[([+-])\d+\]", _between(user, "rubric"), re.M)
            fails = req.stage in self.fail_stages
            return {"met_means": ["good" if s == "+" else "bad" for s in signs], "reason": "scripted", **rulings,
                    "verdict": "no" if fails else "yes"}
        if name == "FlawedAnswer":
            return {"answer": f"It is mostly about luck. {FLAW_MARK}"}
        if name == "CriterionJudgement":
            return grade(user)
        if name == "CriterionMet":
            return {"criteria_met": grade(user)["criteria_met"]}
        raise AssertionError(f"scripted client has no answer for {name} (stage {req.stage})")

    def run(self, requests: list[LLMRequest]) -> list[LLMResult]:
        out = []
        for req in requests:
            self.calls[req.stage] = self.calls.get(req.stage, 0) + 1
            if req.output is None:
                texts = self.policy_answers(req)
                out.append(LLMResult(None, None, texts[0], 1, sum(len(t) // 4 for t in texts), texts))
                continue
            text = json.dumps(self.answer(req), separators=(",", ":"))
            value, error = parse_output(text, "stop", req.output, req.schema)
            prompt_chars = sum(len(m["content"]) for m in req.messages)  # ~4 characters a token: a stand-in count
            out.append(LLMResult(value, error, text, 1, len(text) // 4, prompt_tokens=prompt_chars // 4))
        return out
