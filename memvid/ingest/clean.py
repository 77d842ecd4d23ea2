"""Repair text broken by PDF extraction, with symspellpy's English word list.

Three kinds of damage are repaired, each only when the evidence is strong:

- **Hyphenation at a line end** (``"employ-\\nee"``): the parts are joined when
  the joined word is a common dictionary word and one part is not a common word
  on its own; a real compound split at its hyphen (``"well-\\nknown"``) keeps
  its hyphen and loses only the line break.
- **Words split by spaces** (``"emp lo yee"``): a run of lower-case fragments
  is joined when the joined word is a common dictionary word and at least one
  fragment is not a common word on its own, so ``"a bout"`` or ``"in to"``
  stay as they are.
- **Words glued together** (``"theemployee"``): a lower-case token that is not
  a word is split when symspell's segmentation cuts it into at most three
  common words, one of them a short function word (``the``, ``of``,
  ``and``...), and that is not a known word with a suffix or two added, so
  names, jargon, compounds and derived words (``"memvid"``,
  ``"Microsystems"``, ``"manpages"``, ``"formatters"``) stay whole.

Two gates keep good text as it is. A block (text between blank lines) is
touched only if it reads as English: at least 12% of its words are English
function words, against about 30% in English prose and under 10% in other
languages. And split or glued words are repaired only where they are dense (at
least 2 per 100 words, and 2 in all), as they are in text whose extraction lost
its spacing: a lone unknown word in clean text is far more often a rare word
(``"formatters"``) than damage.

The rules only ever delete spaces or hyphens or insert spaces: letters are
never changed, so a wrong decision cannot invent a word. The dictionary is
``frequency_dictionary_en_82_765.txt``, shipped inside the symspellpy wheel,
loaded on first use (about half a second) and cached per process.
"""

from __future__ import annotations

import functools
import importlib.resources
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from symspellpy import SymSpell  # type: ignore[import-untyped]

__all__ = ["CleanStats", "clean_text"]

# A word counts as common when the dictionary (counts from a web corpus of ~1e12 words)
# has seen it this often; fragments like "lo", "yee", "cess" or "ation" are rarer or absent.
_COMMON: Final = 1_000_000
# Glued pieces must be commoner still: a split that invents a word boundary needs more evidence.
_GLUE_PART: Final = 5_000_000
_MAX_FRAGMENTS: Final = 6
_MAX_GLUED_PIECES: Final = 3
_MIN_GLUED: Final = 5
_MIN_ENGLISH: Final = 0.12
_MIN_DAMAGE: Final = 0.02
_MIN_REPAIRS: Final = 2
_MIN_BLOCK_TOKENS: Final = 30  # below this a block's own shares are noise; the whole text's are used
# Text loses its spaces around short function words far more often than compounds are coined
# from them, so a glued split must free one of these. They also tell English from other languages.
_FUNCTION_WORDS: Final = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "to",
        "in",
        "on",
        "at",
        "by",
        "for",
        "from",
        "with",
        "and",
        "or",
        "but",
        "as",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "not",
        "no",
        "we",
        "you",
        "he",
        "she",
        "they",
        "his",
        "her",
        "their",
        "our",
    ]
)

_BLOCK_BREAK = re.compile(r"(\n[ \t]*\n\s*)")
_HYPHEN = re.compile(r"(?<![\w-])([A-Za-z]+)-[ \t]*\n[ \t]*([a-z]+)(?![\w-])")
# A token: a run of letters with at most opening punctuation before it and closing after it,
# bounded by whitespace. URLs, paths, identifiers and numbers never match.
_TOKEN = re.compile(r"(?<!\S)([(\[\"'\u201c\u2018]?)([A-Za-z]+)([.,;:!?)\]\"'\u201d\u2019]*)(?!\S)")


@dataclass(frozen=True, slots=True)
class CleanStats:
    """What :func:`clean_text` repaired: split words joined, glued words split, hyphens removed."""

    joined: int = 0
    split: int = 0
    dehyphenated: int = 0

    def __add__(self, other: CleanStats) -> CleanStats:
        return CleanStats(self.joined + other.joined, self.split + other.split, self.dehyphenated + other.dehyphenated)

    @property
    def total(self) -> int:
        return self.joined + self.split + self.dehyphenated

    def to_dict(self) -> dict[str, int]:
        return {"joined": self.joined, "split": self.split, "dehyphenated": self.dehyphenated}


@functools.cache
def _symspell() -> SymSpell:
    from symspellpy import SymSpell

    # Edit distance 0: exact lookups and segmentation only.
    speller = SymSpell(max_dictionary_edit_distance=0, prefix_length=7)
    resource = importlib.resources.files("symspellpy") / "frequency_dictionary_en_82_765.txt"
    if isinstance(getattr(speller, "_words", None), dict) and isinstance(getattr(speller, "_max_length", None), int):
        # load_dictionary also builds the delete index of fuzzy lookups, which lookups and segmentation at
        # edit distance 0 never read; filling the word table alone is 15 times faster (each worker pays it).
        speller._words.update(_word_counts(resource.read_text(encoding="utf-8")))
        speller._max_length = max(map(len, speller._words))
        return speller
    with importlib.resources.as_file(resource) as path:
        if not speller.load_dictionary(str(path), term_index=0, count_index=1, encoding="utf-8"):
            raise RuntimeError(f"symspellpy could not load its dictionary from {path}")
    return speller


def _word_counts(text: str) -> dict[str, int]:
    """The dictionary's ``word count`` lines as a dict; every process that cleans text pays this."""
    lines = text.splitlines()
    fields = text.split()
    if len(fields) == 2 * len(lines):  # one word and one count a line: read them in bulk, twice as fast
        try:
            return dict(zip(fields[0::2], map(int, fields[1::2]), strict=True))
        except ValueError:
            pass
    words: dict[str, int] = {}
    for line in lines:
        term, _, count = line.partition(" ")
        if count.strip().isdigit():
            words[term] = int(count)
    return words


def _count(word: str) -> int:
    return int(_symspell().words.get(word.lower(), 0))


# An edit: replace text[start:end] with a new string.
_Edit = tuple[int, int, str]


def clean_text(text: str) -> tuple[str, CleanStats]:
    """``text`` with split, glued and line-end-hyphenated words repaired, and what was done.

    >>> clean_text("The emp lo yee filed areport on the infor-\\nmation sys tem.")[0]
    'The employee filed a report on the information system.'
    >>> clean_text("A bout of flu kept Alice in to the night; memvid is fine.")[0]
    'A bout of flu kept Alice in to the night; memvid is fine.'
    """
    parts = _BLOCK_BREAK.split(text)  # blocks, with the blank lines between them at odd indexes
    overall_english = _english_share(text)
    dehyphenated = 0
    found: dict[int, tuple[list[_Edit], list[_Edit], int]] = {}
    for i in range(0, len(parts), 2):
        tokens = len(_TOKEN.findall(parts[i]))
        english = _english_share(parts[i]) if tokens >= _MIN_BLOCK_TOKENS else overall_english
        if english < _MIN_ENGLISH:
            continue  # another language: its words are not in this dictionary, and would be cut up
        parts[i], count = _dehyphenate(parts[i])
        dehyphenated += count
        joins = _join_edits(parts[i])
        found[i] = (joins, _glue_edits(parts[i], joins), tokens)
    all_repairs = sum(len(j) + len(g) for j, g, _ in found.values())
    all_tokens = sum(n for _, _, n in found.values())
    overall_damage = all_repairs / all_tokens if all_tokens else 0.0
    joined = split = 0
    if all_repairs >= _MIN_REPAIRS:
        for i, (joins, glues, tokens) in found.items():
            damage = (len(joins) + len(glues)) / tokens if tokens >= _MIN_BLOCK_TOKENS else overall_damage
            if damage >= _MIN_DAMAGE:
                parts[i] = _apply(parts[i], sorted(joins + glues))
                joined += len(joins)
                split += len(glues)
    return "".join(parts), CleanStats(joined=joined, split=split, dehyphenated=dehyphenated)


def _english_share(text: str) -> float:
    """The share of tokens that are English function words: about 0.3 in English prose, under 0.1 in
    Italian or French, and barely lower in broken English, whose short words rarely break."""
    tokens = [m.group(2).lower() for m in _TOKEN.finditer(text)]
    return sum(t in _FUNCTION_WORDS for t in tokens) / len(tokens) if tokens else 0.0


def _apply(text: str, edits: list[_Edit]) -> str:
    out, pos = [], 0
    for start, end, new in edits:
        out += [text[pos:start], new]
        pos = end
    out.append(text[pos:])
    return "".join(out)


def _dehyphenate(text: str) -> tuple[str, int]:
    done = 0

    def repl(match: re.Match[str]) -> str:
        nonlocal done
        head, tail = match.group(1), match.group(2)
        if _count(head + tail) >= _COMMON and min(_count(head), _count(tail)) < _COMMON:
            done += 1
            return head + tail
        if _count(head) and _count(tail):
            return f"{head}-{tail}"  # a compound that wrapped at its hyphen
        return match.group(0)

    return _HYPHEN.sub(repl, text), done


def _join_edits(text: str) -> list[_Edit]:
    tokens = list(_TOKEN.finditer(text))
    words = [t.group(2) for t in tokens]
    # The nearest token at or after each index that is not a common word: a run must hold one.
    next_weak = [len(words)] * (len(words) + 1)
    for k in range(len(words) - 1, -1, -1):
        next_weak[k] = k if _count(words[k]) < _COMMON else next_weak[k + 1]
    edits: list[_Edit] = []
    i = 0
    while i < len(tokens):
        end = _fragment_run(text, tokens, words, next_weak[i], i)
        if end > i:
            edits.append((tokens[i].start(2), tokens[end].end(2), "".join(words[i : end + 1])))
        i = end + 1
    return edits


def _fragment_run(text: str, tokens: list[re.Match[str]], words: list[str], weak: int, i: int) -> int:
    """The index of the last token of the longest run from ``i`` that joins into a common word, else ``i``;
    ``weak`` is the first token from ``i`` on that is not a common word."""
    first = words[i]
    if weak >= i + _MAX_FRAGMENTS or tokens[i].group(3) or (len(first) == 1 and not first.islower()):
        return i  # closing punctuation ends a word; a lone capital is an initial or a label
    limit = i
    for j in range(i + 1, min(i + _MAX_FRAGMENTS, len(tokens))):
        prev, tok = tokens[j - 1], tokens[j]
        if text[prev.end() : tok.start()] != " " or tok.group(1) or not words[j].islower():
            break
        limit = j
        if tok.group(3):
            break
    for j in range(limit, max(i, weak - 1), -1):
        if _count("".join(words[i : j + 1])) >= _COMMON:
            return j
    return i


_SUFFIXES: Final = tuple(
    sorted(
        "s es ed d ing er ers or ors ly ness ment ments ation ations able ible ism ist ists ity al ize ized "  # noqa: SIM905
        "izes ization izations ive y".split(),
        key=len,
        reverse=True,
    )
)


def _inflected(word: str, depth: int) -> bool:
    """Whether ``word`` is a known common word with up to ``depth`` suffixes added."""
    for suffix in _SUFFIXES:
        stem = word[: -len(suffix)]
        if not word.endswith(suffix) or len(stem) < 3:
            continue
        stems = {stem, stem + "e", stem[:-1] + "y" if stem.endswith("i") else stem}
        if len(stem) > 3 and stem[-1] == stem[-2]:
            stems.add(stem[:-1])  # "formatt" + "er"
        if any(_count(s) >= _COMMON for s in stems) or (depth > 1 and any(_inflected(s, depth - 1) for s in stems)):
            return True
    return False


def _glue_edits(text: str, joins: list[_Edit]) -> list[_Edit]:
    speller = _symspell()
    joined = [(start, end) for start, end, _ in joins]
    edits: list[_Edit] = []
    for match in _TOKEN.finditer(text):
        word = match.group(2)
        if len(word) < _MIN_GLUED or not word.islower() or _count(word):
            continue  # capitalised words are names more often than glued words
        if any(start <= match.start(2) < end for start, end in joined):
            continue
        pieces = speller.word_segmentation(word, max_edit_distance=0).corrected_string.split(" ")
        if not 2 <= len(pieces) <= _MAX_GLUED_PIECES or "".join(pieces) != word:
            continue
        if any((len(p) < 2 and p != "a") or _count(p) < _GLUE_PART for p in pieces):
            continue
        if not any(p in _FUNCTION_WORDS for p in pieces):
            continue  # two content words side by side are a compound ("manpages"), not glue
        if _inflected(word, 2):
            continue  # a form of a known word ("formatters", "grantor"), missing from the list
        edits.append((match.start(2), match.end(2), " ".join(pieces)))
    return edits
