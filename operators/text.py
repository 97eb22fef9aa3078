"""Text normalisation shared by the checks that compare texts: rubric duplicates, contamination, de-duplication."""

from __future__ import annotations

import hashlib
import re

_WORDS = re.compile(r"[^\W_]+")


def words(text: str) -> list[str]:
    """Lower-cased words (letters and digits), punctuation dropped."""
    return _WORDS.findall(text.lower())


def normalise(text: str) -> str:
    return " ".join(words(text))


def token_set(text: str) -> set[str]:
    return set(words(text))


def ngrams(text: str, n: int) -> set[str]:
    """Word n-grams of the normalised text (none when it has fewer than n words)."""
    w = words(text)
    return {" ".join(w[i : i + n]) for i in range(len(w) - n + 1)}


def shingles(text: str, n: int = 3) -> set[bytes]:
    """Word n-grams for MinHash; a text shorter than n words is one shingle."""
    w = words(text)
    grams = [" ".join(w[i : i + n]) for i in range(max(1, len(w) - n + 1))]
    return {g.encode() for g in grams if g}


def exact_key(text: str) -> str:
    return hashlib.sha256(normalise(text).encode()).hexdigest()
