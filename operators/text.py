"""Text normalisation shared by the checks that compare texts: rubric duplicates, screens, contamination,
de-duplication and the split key.

"Light" normalisation: lower case, letters and digits only (punctuation, a BOM, CRLF and extra spaces vanish), and
for comparisons a crude plural stem, so "criteria that differ only by case, punctuation or a plural" compare equal
while word order is kept.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

_WORDS = re.compile(r"[^\W_]+")

# Function words: what a comparison of content ignores (articles, pronouns, auxiliaries, prepositions).
STOPWORDS = frozenset("""
a an the and or but if then than so of to in on at by for with without from into onto over under about as is are was
were be been being am do does did doing have has had having it its this that these those there their they them he she
his her him we our us you your i me my what which who whom whose when where why how not no nor can could should would
will shall may might must also very just only such some any each every all both either neither more most less least
much many other another same own s t up down out off again further once here
""".split())


def words(text: str) -> list[str]:
    """Lower-cased words (letters and digits), punctuation dropped; composed and decomposed accents compare equal
    (Unicode NFKC)."""
    return _WORDS.findall(unicodedata.normalize("NFKC", text).lower())


def normalise(text: str) -> str:
    return " ".join(words(text))


def token_set(text: str) -> set[str]:
    return set(words(text))


# British spellings written the American way, so "colour" and "color" compare equal.
_BRITISH = [(re.compile(r"(?<=[a-z]{3})our(?=(?:s|ing|ed|ite|ites|able|ful|less|hood)?$)"), "or"),
            (re.compile(r"(?<=[a-z]{2})tre(s?)$"), r"ter\1"),
            (re.compile(r"is(e|es|ed|ing|ation|ations)$"), r"iz\1"), (re.compile(r"ys(e|es|ed|ing)$"), r"yz\1"),
            (re.compile(r"ogue(s?)$"), r"og\1"), (re.compile(r"ae"), "e")]
_BRITISH_KEEP = frozenset({"four", "hour", "our", "your", "pour", "tour", "flour", "sour", "tours", "hours", "yours",
                           "ours", "pours", "rise", "wise", "noise", "raise", "poise", "praise", "base", "case",
                           "otherwise", "precise", "concise", "promise", "premise", "exercise", "advise", "surprise",
                           "arise", "expertise", "franchise", "merchandise", "enterprise"})


def american(word: str) -> str:
    """The American spelling of a British one ("colour" -> "color", "metre" -> "meter", "organise" -> "organize")."""
    if word in _BRITISH_KEEP or len(word) <= 4:
        return word
    for pattern, repl in _BRITISH:
        word = pattern.sub(repl, word)
    return word


def stem(word: str) -> str:
    """A crude plural stem: "criteria that differ only by a plural" compare equal ("doses" / "dose", "studies" /
    "study", "boxes" / "box"); words ending in ss, us, is are left alone ("class", "virus", "analysis")."""
    if len(word) <= 3 or not word.isalpha() or word in STOPWORDS:  # "does", "this", "has" are no plurals
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("es") and word[:-2].endswith(("ss", "x", "zz", "ch", "sh")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def stems(text: str) -> list[str]:
    return [stem(american(w)) for w in words(text)]


def content_words(tokens: list[str]) -> set[str]:
    """The tokens that carry content: not function words."""
    return {t for t in tokens if t not in STOPWORDS}


def ngrams(text: str, n: int) -> set[str]:
    """Word n-grams of the normalised text (none when it has fewer than n words)."""
    w = words(text)
    return {" ".join(w[i : i + n]) for i in range(len(w) - n + 1)}


def grams(tokens: list[str], n: int) -> set[tuple[str, ...]]:
    """n-grams of a token list; a list shorter than n is one gram (so a short text still compares)."""
    if len(tokens) < n:
        return {tuple(tokens)} if tokens else set()
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def contains_span(haystack: list[str], needle: list[str]) -> bool:
    """Whether `needle` occurs in `haystack` as a contiguous run of whole words."""
    n = len(needle)
    if not n or n > len(haystack):
        return False
    first = needle[0]
    return any(haystack[i] == first and haystack[i : i + n] == needle for i in range(len(haystack) - n + 1))


def sentences(text: str) -> list[str]:
    """Sentences of a text: split after . ? ! or a line break (good enough for screens and contamination)."""
    return [s for s in re.split(r"(?<=[.?!])\s+|\n+", text) if s.strip()]


def exact_key(text: str) -> str:
    """The hash of the normalised text: equal for texts that differ only in case, punctuation, whitespace, line
    endings or a byte-order mark (what exact de-duplication and the split key compare)."""
    return hashlib.sha256(normalise(text).encode()).hexdigest()
