"""When two questions are near-duplicates: the similarity admission verifies, and the edits that make a question a
different one however similar its words.

MinHash LSH only proposes candidates; each is verified against the configured threshold by the Jaccard similarity of
the word bigrams of the stemmed text without articles (order-sensitive: one changed word of 25 keeps it near 0.85,
two drop it under 0.75), or, for clauses put in another order, by how much of each question the other covers in runs
of three words or more. A pair that differs in a number, a negation, a name or a pair of opposites ("increased" /
"decreased"), or whose words are the same but two of its roles swapped ("Can a landlord sue a tenant ..." / "Can a
tenant sue a landlord ..."), asks a different question and is never a duplicate.
"""

from __future__ import annotations

import re

from operators.text import STOPWORDS, grams, jaccard, stems

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
    ("uphill", "downhill"), ("beginning", "end"), ("start", "finish"), ("much", "little"), ("many", "few"),
    ("rise", "decline"), ("growth", "decline"), ("increase", "decline"), ("boom", "bust"), ("top", "bottom"),
    ("front", "back"), ("inside", "outside"), ("entry", "exit"), ("arrival", "departure"), ("import", "export"),
    ("overweight", "underweight"), ("overestimate", "underestimate"), ("overdose", "underdose"),
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


_OPPOSED_PREFIXES = [("over", "under"), ("hyper", "hypo"), ("pre", "post"), ("inter", "intra"), ("sub", "super"),
                     ("up", "down"), ("in", "out"), ("max", "min"), ("multi", "mono"), ("poly", "mono"),
                     ("pro", "anti"), ("im", "ex"), ("en", "de")]


def _opposed(a: str, b: str) -> bool:
    if any(frozenset((x, y)) in _OPPOSITE for x in _lemmas(a) for y in _lemmas(b)):
        return True
    if any(b == p + a or a == p + b for p in _NEGATING_PREFIXES):
        return True
    for p, q in _OPPOSED_PREFIXES:  # "overfermented" / "underfermented"
        for x, y in ((a, b), (b, a)):
            if x.startswith(p) and y.startswith(q) and len(x) - len(p) >= 3 and x[len(p):] == y[len(q):]:
                return True
    return False


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


_ARTICLES = frozenset({"a", "an", "the"})
# Words that open a clause: they move with it when clauses are reordered.
_CONNECTIVES = frozenset({"although", "though", "because", "since", "while", "whereas", "unless", "despite",
                          "however", "therefore", "also"})
TILE = 3  # the shortest run of words that counts as kept when clauses move


def _tokens(text: str) -> list[str]:
    return [t for t in stems(text) if t not in _ARTICLES]


def _tiles(a: list[str], b: list[str], shortest: int = TILE) -> tuple[list[bool], list[bool]]:
    """Greedy string tiling: mark the longest common runs of at least `shortest` tokens, longest first, each token
    used once; what is marked in `a` and in `b`."""
    ma, mb = [False] * len(a), [False] * len(b)
    while True:
        best = (0, 0, 0)
        for i in range(len(a)):
            for j in range(len(b)):
                n = 0
                while i + n < len(a) and j + n < len(b) and not ma[i + n] and not mb[j + n] and a[i + n] == b[j + n]:
                    n += 1
                if n > best[0]:
                    best = (n, i, j)
        n, i, j = best
        if n < shortest:
            return ma, mb
        for k in range(n):
            ma[i + k] = mb[j + k] = True


def _left_over(tokens: list[str], marked: list[bool]) -> list[str]:
    return [t for t, m in zip(tokens, marked) if not m and t not in STOPWORDS and t not in _CONNECTIVES]


def index_shingles(text: str) -> set[bytes]:
    """What the MinHash LSH indexes: the words and word bigrams of the stemmed text without articles. The words
    keep questions whose clauses moved close (their bigrams alone would not), so the index proposes them too."""
    tokens = _tokens(text)
    return {" ".join(g).encode() for g in grams(tokens, 2) | grams(tokens, 1)}


def similarity(a: str, b: str) -> float:
    """Jaccard similarity of the word bigrams of the stemmed texts without articles."""
    return jaccard(grams(_tokens(a), 2), grams(_tokens(b), 2))


def near_duplicate(a: str, b: str, threshold: float) -> float | None:
    """The similarity when `a` and `b` are near-duplicates at `threshold`, else None."""
    ta, tb = _tokens(a), _tokens(b)
    ma, mb = _tiles(ta, tb)
    rest_a, rest_b = _left_over(ta, ma), _left_over(tb, mb)
    if sorted(rest_a) == sorted(rest_b) and len(set(rest_a)) >= 2 and rest_a != rest_b:
        return None  # the same words with two roles swapped: another question
    sim = jaccard(grams(ta, 2), grams(tb, 2))
    if sim < threshold and set(rest_a) <= set(tb) and set(rest_b) <= set(ta) and _clauses(a) and _clauses(b):
        # no content word is new to the other question: the same clauses in another order (a pronoun for a noun)
        coverage = (sum(ma) + sum(mb)) / (len(ta) + len(tb))
        if coverage >= REORDERED_COVERAGE:
            sim = max(sim, threshold)
    if sim >= threshold and different_question(a, b) is None:
        return sim
    return None


REORDERED_COVERAGE = 0.6  # of each question's words, in shared runs of TILE or more, when clauses are reordered


def _clauses(text: str) -> bool:
    """Whether the text has more than one clause to reorder (a comma, a semicolon or a conjunction between them)."""
    return bool(re.search(r"[,;]|\b(?:and|but|or|while|although|though|because|if|when|whereas)\b", text, re.I))
