"""When two questions are near-duplicates: the similarity admission verifies, and the edits that make a question a
different one however similar its words.

MinHash LSH only proposes candidates; each is verified by its Jaccard similarity over word bigrams of the stemmed
text (order-sensitive: a reordered clause keeps most bigrams, swapped roles do not), against the configured
threshold. A pair that differs in a number, a negation, a name or a pair of opposites ("increased" / "decreased")
asks a different question, and is never a duplicate.
"""

from __future__ import annotations

import re

from operators.text import grams, jaccard, stems

_OPPOSITES = [
    ("increase", "decrease"), ("increase", "reduce"), ("rise", "fall"), ("raise", "lower"), ("high", "low"),
    ("higher", "lower"), ("highest", "lowest"), ("more", "less"), ("more", "fewer"), ("most", "least"),
    ("greater", "smaller"), ("larger", "smaller"), ("largest", "smallest"), ("big", "small"), ("maximum", "minimum"),
    ("max", "min"), ("before", "after"), ("above", "below"), ("over", "under"), ("left", "right"),
    ("north", "south"), ("east", "west"), ("first", "last"), ("positive", "negative"), ("true", "false"),
    ("advantage", "disadvantage"), ("benefit", "risk"), ("benefit", "drawback"), ("benefit", "harm"), ("pro", "con"),
    ("strength", "weakness"), ("cause", "prevent"), ("accelerate", "slow"), ("activate", "inhibit"),
    ("promote", "inhibit"), ("up", "down"), ("early", "late"), ("earlier", "later"), ("faster", "slower"),
    ("fast", "slow"), ("hot", "cold"), ("warm", "cool"), ("heat", "cool"), ("add", "remove"), ("include", "exclude"),
    ("accept", "reject"), ("success", "failure"), ("succeed", "fail"), ("gain", "loss"), ("gain", "lose"),
    ("buy", "sell"), ("import", "export"), ("expand", "contract"), ("strong", "weak"), ("stronger", "weaker"),
    ("safe", "dangerous"), ("acid", "base"), ("acidic", "basic"), ("male", "female"), ("young", "old"), ("younger", "older"), ("young", "older"), ("youngest", "oldest"),
    ("better", "worse"), ("best", "worst"), ("good", "bad"), ("cheaper", "dearer"), ("cheap", "expensive"),
    ("long", "short"), ("longer", "shorter"), ("wide", "narrow"), ("start", "end"), ("begin", "end"),
    ("open", "close"), ("win", "lose"), ("input", "output"), ("inflow", "outflow"), ("internal", "external"),
    ("minor", "major"), ("upper", "lower"), ("inner", "outer"), ("rich", "poor"), ("private", "public"),
    ("supply", "demand"), ("deficit", "surplus"), ("inflation", "deflation"), ("asset", "liability"),
    ("agonist", "antagonist"), ("hyper", "hypo"), ("systolic", "diastolic"), ("arterial", "venous"),
    ("artery", "vein"), ("anode", "cathode"), ("oxidation", "reduction"), ("import", "export"),
    ("allow", "forbid"), ("allow", "prohibit"), ("support", "oppose"), ("for", "against"), ("with", "without"),
    ("can", "cannot"), ("always", "never"), ("all", "none"), ("legal", "illegal"),
]
_NEGATIONS = frozenset({"not", "no", "never", "without", "cannot", "nor", "neither", "none", "t"})
_NEGATING_PREFIXES = ("un", "in", "im", "il", "ir", "dis", "non", "anti", "de", "mis")


def _lemmas(word: str) -> set[str]:
    """Crude base forms of a word ("increased" -> increase, "decreasing" -> decrease, "rises" -> rise)."""
    out = {word}
    for suffix, repl in (("ing", ""), ("ing", "e"), ("ed", ""), ("ed", "e"), ("d", ""), ("es", ""), ("s", ""),
                         ("ies", "y"), ("ied", "y")):
        if word.endswith(suffix) and len(word) > len(suffix) + 2:
            out.add(word[: -len(suffix)] + repl)
    return out


_OPPOSITE = {frozenset(p) for p in _OPPOSITES}


def _opposed(a: str, b: str) -> bool:
    if any(frozenset((x, y)) in _OPPOSITE for x in _lemmas(a) for y in _lemmas(b)):
        return True
    return any(b == p + a or a == p + b for p in _NEGATING_PREFIXES)


def _names(text: str) -> set[str]:
    """Lower-cased capitalised words not at a sentence start: names, places, products."""
    out, start = set(), True
    for token in re.findall(r"[^\W_]+|[.?!:]", text):
        if token in ".?!:":
            start = True
            continue
        if not start and token[0].isupper():
            out.add(token.lower())
        start = False
    return out


def different_question(a: str, b: str) -> str | None:
    """Why two similar questions ask different things (an edit that changes the answer), or None."""
    wa, wb = re.findall(r"[^\W_]+", a.lower()), re.findall(r"[^\W_]+", b.lower())
    only_a, only_b = set(wa) - set(wb), set(wb) - set(wa)
    if any(any(c.isdigit() for c in w) for w in only_a | only_b):
        return "a number differs"
    if (_NEGATIONS & only_a) or (_NEGATIONS & only_b):
        return "a negation differs"
    if any(_opposed(x, y) for x in only_a for y in only_b):
        return "a pair of opposites differs"
    names_a, names_b = _names(a), _names(b)
    if (names_a & only_a) or (names_b & only_b):
        return "a name differs"
    return None


def similarity(a: str, b: str) -> float:
    """Jaccard similarity of the word bigrams of the stemmed texts."""
    return jaccard(grams(stems(a), 2), grams(stems(b), 2))


def near_duplicate(a: str, b: str, threshold: float) -> float | None:
    """The similarity when `a` and `b` are near-duplicates at `threshold`, else None."""
    sim = similarity(a, b)
    if sim >= threshold and different_question(a, b) is None:
        return sim
    return None
