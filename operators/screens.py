"""Text screens for what a reader or grader cannot see: references to the unseen source, and an answer given away
by its question. No model involved.

During RL the grader sees the question and a response, never the source document, so a question, a reference answer
or a criterion that points at "the passage" is unusable. Each screen has two levels: a phrasing that can only mean
the unseen source ("according to the passage", "as described in the excerpt", "the text above") rejects; one that
may ("the author argues", "the study") becomes a flag the responsible judge rules on. A named work is not the
unseen source: "the text of the Treaty of Versailles", "the document known as the Declaration of Independence",
"the passage of the bill".
"""

from __future__ import annotations

import re

from operators.text import STOPWORDS, contains_span, sentences, words

# What a generator calls the source it was shown.
_SOURCE = r"(?:passage|text|excerpt|extract|article|document|paragraph|reading|snippet|context|source\s+text)s?"
# Material a source may be, beside those: a reference to one of these with "above", "provided", "the author's
# words" cannot be a named work.
_MATERIAL = (r"(?:passage|text|excerpt|extract|article|document|paragraph|reading|snippet|context|report|leaflet|"
             r"tutorial|case\s+study|memo|transcript|lecture|notes|slides?|handout|brochure|manual|guide|chapter|"
             r"section|table|figure|chart|graph|diagram|abstract|summary|essay|story|letter|e-?mail|interview|survey|"
             r"materials?|sources?|study|paper|author|writer|video|podcast|speech|minutes|post|blog|review|"
             r"infographic|sheet|worksheet|excerpts|readings|texts|articles|documents|passages)")
# After the noun, what makes it a named thing or another noun ("the text of the Treaty", "the document known as",
# "the text message") rather than the unseen source.
_NAMED_AFTER = (r"(?!\s+(?:of|known|called|titled|entitled|named|message|messages|editor|file|box|book|field|"
                r"string|mining|version|describing\s+the\s+[A-Z])\b)(?!\s*[\"'“‘(])")
_VERBS = (r"(?:says?|states?|mentions?|describes?|explains?|notes?|suggests?|argues?|claims?|discusses?|highlights?|"
          r"indicates?|reports?|shows?|presents?|outlines?|emphasi[sz]es?|lists?|defines?|details?|asserts?|"
          r"contends?|implies|implied|concludes?|points?\s+out|refers?\s+to|provides?|gives?|cites?|puts?|sets?|"
          r"places?|estimates?|recommends?|advises?|warns?|finds|found|showed|stated|said|noted|reported)")
_PARTICIPLES = (r"(?:described|stated|mentioned|discussed|explained|noted|shown|outlined|presented|given|defined|"
                r"reported|detailed|indicated|suggested|argued|provided|cited|listed|quoted|depicted|covered|"
                r"highlighted|summari[sz]ed|referenced)")
# "the table above", "the case study provided", "the tutorial you were given": any material so placed is unseen.
_PLACED = (r"(?:above|below|provided|supplied|attached|enclosed|you\s+(?:were|have\s+been)\s+given|"
           r"we\s+(?:were|have\s+been)\s+given|given\s+(?:above|below|here|to\s+you)|shown\s+(?:above|below)|"
           r"presented\s+(?:above|below)|listed\s+(?:above|below))"
           r"(?!\s+(?:by|to|for|that|in|with|under|through|as|zero|freezing|average|ground|sea|the\s+\w+\s+of)\b)")

STRONG_SOURCE = re.compile(
    r"\b(?:"
    rf"(?:according\s+to|based\s+on|drawing\s+on|using\s+only|relying\s+on|going\s+by|referring\s+to|"
    rf"with\s+reference\s+to|as\s+per)\s+(?:the|this|that)\s+(?:{_MATERIAL}|authors?|writers?){_NAMED_AFTER}"
    rf"|(?:from|in|within|per|using)\s+(?:the|this|that)\s+"
    rf"(?:(?:given|provided|above|preceding|following|accompanying|attached|original|source|reference|"
    rf"supplied|quoted|cited)\s+)?{_SOURCE}(?:\s+(?:above|below|provided|given|shown))?{_NAMED_AFTER}"
    rf"|as\s+{_PARTICIPLES}\s+(?:in|by)\s+(?:the|this|that)\s+(?:{_MATERIAL}|authors?){_NAMED_AFTER}"
    rf"|as\s+(?:the|this)\s+{_MATERIAL}\s+(?:\w+\s+)?{_VERBS}\b"
    rf"|(?:the|this)\s+(?:[a-z][\w'’-]*\s+){{0,2}}{_MATERIAL}\s+{_PLACED}"
    rf"|the\s+(?:above|preceding|aforementioned|accompanying|attached|supplied|provided|enclosed)\s+[a-z][\w-]*"
    rf"|the\s+(?:given|original|source|reference)\s+(?:{_SOURCE}|material|materials|sources?){_NAMED_AFTER}"
    rf"|(?:the|this)\s+(?:{_MATERIAL}|authors?)'s?\s+(?:own\s+)?(?:words|advice|view|views|argument|account|"
    rf"description|definition|conclusion|claims?|recommendations?|explanation|figures?|data|example|wording|"
    rf"terms|position|thesis|point)\b"
    rf"|in\s+the\s+(?:first|second|third|fourth|last|final|opening|closing|next|previous|preceding|following|"
    rf"concluding|same)\s+(?:paragraph|section|sentence|chapter|line|page|part|passage|excerpt|table|figure)\b"
    rf"|(?:the|this)\s+(?:passage|excerpt|extract|article|text|document|paragraph|snippet|leaflet|tutorial|"
    rf"handout|memo|transcript)s?\s+(?:\w+\s+)?{_VERBS}\b"
    rf"|(?:the|this)\s+(?:authors?|writers?)\s+{_VERBS}\b"
    rf"|(?:contrary\s+to|unlike|beyond|outside|absent\s+from|missing\s+from|not\s+in|than|to|of|by|with)\s+"
    rf"(?:the|this)\s+(?:passage|excerpt|extract|snippet|source\s+text|provided\s+text|given\s+text)s?"
    rf"{_NAMED_AFTER}"
    rf"|contrary\s+to\s+(?:the|this)\s+(?:text|article|document|author|report|leaflet|study){_NAMED_AFTER}"
    rf"|(?:contradicts|follows|ignores|repeats|quotes|paraphrases)\s+the\s+{_MATERIAL}'s?\b{_NAMED_AFTER}"
    rf"|(?:does|did|do)\s+the\s+(?:authors?|writers?|passage|excerpt|text|article)\b(?!\s+of\b)"
    r")",
    re.I,
)

# Phrasings that may point at the unseen source, or at a real, named one: the judge decides.
WEAK_SOURCE = re.compile(
    r"\b(?:"
    r"the\s+(?:authors?|writers?|narrator|speaker|researchers?|study|studies|survey|report|figure|table|chart|graph|"
    r"diagram|image|case\s+study|experiment|interview|interviewees|respondents|participants|essay|story|author's|"
    r"passage|excerpt|trial|paper|dataset|data\s+set|sample|findings|results|proposed\s+\w+|company's\s+new|"
    r"committee|panel|board|council's|pilot|programme|program|project|company|firm|organi[sz]ation|"
    r"new\s+(?:policy|strategy|plan|law|rule|method|approach|system))\b(?!\s+of\b)"
    r"|the\s+(?:key|main|principal|central|major)\s+(?:results|findings|conclusions|recommendations|points)\b"
    r"|(?:did|does|do|has|have)\s+the\s+[a-z][\w-]*\s+(?:find|found|conclude|report|recommend|decide|reject|"
    r"propose|argue|claim|show|identify|say|state|suggest|predict|estimate|use|measure)\b"
    r"|(?:this|that)\s+(?:study|research|report|paper|article|essay|story|chapter|section|passage|survey)\b"
    r"|(?:above|below)\s+(?:mentioned|described|discussed|example|case)"
    r"|the\s+(?:previous|above)\b"
    r")",
    re.I,
)


def source_reference(text: str) -> tuple[str | None, str | None]:
    """(the phrase that can only mean the unseen source, or None; a phrase that may mean it, or None)."""
    strong = STRONG_SOURCE.search(text)
    if strong:
        return strong.group(0), None
    weak = WEAK_SOURCE.search(text)
    return None, (weak.group(0) if weak else None)


# Answers that say nothing by themselves ("Yes.", "No, because ..."): never a leak by their words alone.
_NON_ANSWERS = frozenset({"yes", "no", "true", "false", "maybe", "it", "depends", "none", "both", "neither"})
_ARTICLES = ("the", "a", "an")
_LEADS = ("in", "on", "at", "by", "around", "about", "approximately", "roughly", "it", "is", "was", "its", "they",
          "are", "were", "he", "she")  # "In 1989.", "It is nitrogen.": what a short answer opens with
SHORT_ANSWER_WORDS = 6
PASTED_SENTENCE_WORDS = 6
OPENING_WORDS = 12  # an answer's opening phrase (up to its first comma) this short, named in the question: a flag


def _core(tokens: list[str]) -> list[str]:
    while tokens and tokens[0] in _ARTICLES:
        tokens = tokens[1:]
    return tokens


def is_choice_question(question_words: list[str], span: list[str]) -> bool:
    """Whether the question offers alternatives and the span is one of them ("merge sort or quicksort", "between
    A and B", "A, B or C", "A vs B"): naming the options is what such a question does."""
    if not {"or", "versus", "vs", "between", "whether"} & set(question_words):
        return False
    n = len(span)
    for i in range(len(question_words) - n + 1):
        if question_words[i : i + n] != span:
            continue
        before = question_words[max(0, i - 3) : i]
        after = question_words[i + n : i + n + 3]
        if {"or", "versus", "vs", "between", "whether", "and"} & set(before + after):
            return True
    return False


def answer_in_question(question: str, answer: str) -> tuple[str | None, str | None]:
    """(why the question unambiguously gives its answer away, or None; why it may, or None). Compared on whole
    words. A short answer ("Nitrogen.") named in the question is a leak unless the question is a choice that names
    its options; a sentence of a long answer pasted into the question is a leak; the first phrase of a long answer
    named in the question ("Paris, because ...") may be one."""
    q = words(question)
    a_sentences = [words(s) for s in sentences(answer)]
    a_sentences = [s for s in a_sentences if s]
    if not q or not a_sentences:
        return None, None
    whole = _core([w for s in a_sentences for w in s])
    while len(whole) <= SHORT_ANSWER_WORDS and whole and whole[0] in _LEADS:
        whole = _core(whole[1:])
    content = [w for w in whole if w not in STOPWORDS]
    if whole and len(whole) <= SHORT_ANSWER_WORDS and content and not (set(whole) <= _NON_ANSWERS):
        if contains_span(q, whole) and not is_choice_question(q, whole):
            return f"the question names its short answer {' '.join(whole)!r}", None
        return None, None
    for s in a_sentences:
        core = _core(s)
        if len(core) >= PASTED_SENTENCE_WORDS and contains_span(q, core):
            return f"the question holds a sentence of its answer ({' '.join(core[:12])!r})", None
    first = _core(words(re.split(r"[,;:.!?]", answer, maxsplit=1)[0]))
    if first and len(first) <= OPENING_WORDS and first[0] not in _NON_ANSWERS and any(w not in STOPWORDS for w in first):
        if contains_span(q, first) and not is_choice_question(q, first):
            return None, f"the question names the answer's opening {' '.join(first)!r}"
    return None, None
