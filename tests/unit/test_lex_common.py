"""Plain words are searched without the words most documents hold, while the rarer ones suffice.

A word found in more than half of the indexed documents (``COMMON_SHARE``) is left out of a
plain-words query that has a rarer word; when the rarer words find fewer hits than were asked
for, the whole query runs. Anything that is not plain words (a phrase, a field, a required
or excluded word) runs as written."""

from __future__ import annotations

from pathlib import Path

import pytest

from memvid import Memvid
from memvid.index.lex import COMMON_SHARE, LexIndex

pytestmark = pytest.mark.usefixtures("private_cache")  # the fixtures are in tests/unit/conftest.py


def _full(index: LexIndex, query: str, limit: int) -> list[tuple[int, float]]:
    """The query as tantivy's parser reads it, every word scored."""
    hits = index.searcher.search(index.parse(query), limit, count=False).hits
    ids = index.searcher.fast_field_values("frame_id", [address for _, address in hits])
    return [(int(fid or 0), float(score)) for (score, _), fid in zip(hits, ids, strict=True)]


@pytest.fixture
def capsule(path: Path) -> dict[str, list[int]]:
    """40 frames that all say "the", 30 of them "of"; "zebra" in 6, "café" in 4, "okapi" in none;
    frames 1 and 2 of kind "special"."""
    groups: dict[str, list[int]] = {"zebra": [], "café": [], "special": []}
    with Memvid.create(path) as mem:
        for i in range(40):
            words = ["the", "report", str(i)] + (["of", "the", "day"] if i < 30 else [])
            group = "zebra" if i % 7 == 0 else "café" if i % 10 == 3 else None
            if group == "zebra":
                words += ["zebra"] * (1 + i % 3)
            elif group == "café":
                words += ["café"]
            fid = mem.put(" ".join(words), title=f"note {i}", kind="special" if i in (1, 2) else None)
            if group:
                groups[group].append(fid)
            if i in (1, 2):
                groups["special"].append(fid)
        mem.commit()
    return groups


def test_common_words_are_left_out_while_the_rarer_find_enough(path: Path, capsule: dict[str, list[int]]) -> None:
    with Memvid.open(path, read_only=True) as mem:
        index = mem._lex_for(mem._state())
        assert index is not None and index.docs == 40
        assert index._doc_freq("the") == 40 > index.docs * COMMON_SHARE
        assert index._doc_freq("of") == 30 > index.docs * COMMON_SHARE
        assert index._doc_freq("zebra") == len(capsule["zebra"]) == 6
        for query, rare in (("the zebra of", "zebra"), ("Zebras of the", "zebra"), ("the café", "café")):
            found = index.search(query, 3)
            # exactly what the rare word alone scores: the common words add nothing
            assert found == _full(index, rare, 3), query
            assert {fid for fid, _ in found} <= set(capsule[rare])
            # the whole query takes the same frames, each a little higher (the common words' share),
            # in an order those shares may change
            whole = dict(_full(index, query, 3))
            assert set(whole) == {fid for fid, _ in found}
            assert all(0 < whole[fid] - score < 1.6 for fid, score in found)
            # through the public search too
            assert [h.frame_id for h in mem.search(query, mode="lex", limit=3)] == [fid for fid, _ in found]


def test_too_few_rare_hits_run_the_whole_query(path: Path, capsule: dict[str, list[int]]) -> None:
    with Memvid.open(path, read_only=True) as mem:
        index = mem._lex_for(mem._state())
        assert index is not None
        for query, limit in (("the zebra", 7), ("the zebra", 40), ("the okapi", 5), ("the café of", 10)):
            assert index.search(query, limit) == _full(index, query, limit), (query, limit)
        # "the okapi": no frame says okapi, and every frame says "the"
        assert len(index.search("the okapi", 50)) == 40


@pytest.mark.parametrize(
    "query",
    [
        "the of",  # every word common: nothing rarer to search by
        '"the zebra"',  # a phrase
        "+the zebra",  # a required word
        "zebra -the",  # an excluded word
        "title:note zebra",  # another field
        "the AND zebra",
        "zebra",
    ],
)
def test_queries_that_are_not_plain_rare_and_common_words_run_as_written(
    path: Path, capsule: dict[str, list[int]], query: str
) -> None:
    with Memvid.open(path, read_only=True) as mem:
        index = mem._lex_for(mem._state())
        assert index is not None
        assert index._without_common_words(index.parse(query)) is None
        for limit in (1, 5, 40):
            assert index.search(query, limit) == _full(index, query, limit)


def test_filters_and_removed_frames_apply_to_the_narrowed_query(path: Path, capsule: dict[str, list[int]]) -> None:
    zebras = capsule["zebra"]
    with Memvid.open(path) as mem:
        mem.delete(zebras[0])
        mem.commit()
        hits = mem.search("the zebra", mode="lex", limit=3)
        assert [h.frame_id for h in hits] and {h.frame_id for h in hits} <= set(zebras[1:])
        # 5 zebras left: asking for 5 takes them; asking for 6 runs the whole query (every frame says "the")
        assert {h.frame_id for h in mem.search("the zebra", mode="lex", limit=5)} == set(zebras[1:])
        six = [h.frame_id for h in mem.search("the zebra", mode="lex", limit=6)]
        assert set(six[:5]) == set(zebras[1:]) and six[5] not in zebras
        # a filter the rarer words cannot fill: the whole query, filtered
        special = mem.search("the zebra", mode="lex", limit=3, kind="special")
        assert sorted(h.frame_id for h in special) == sorted(capsule["special"])


def test_an_index_that_reads_words_otherwise_still_finds_what_whole_queries_find(tmp_path: Path) -> None:
    # A forged capsule may give its ``text`` field another tokenizer (here: each word whole). The
    # narrowed query then finds too little and the whole query runs; an index whose parse does not
    # show the probe as two words (``_text_field`` None) is never narrowed.
    import tantivy

    sb = tantivy.SchemaBuilder()
    sb.add_unsigned_field("frame_id", stored=False, indexed=True, fast=True)
    sb.add_text_field("text", stored=False, tokenizer_name="raw")
    index = tantivy.Index(sb.build(), path=str(tmp_path))
    writer = index.writer(heap_size=15_000_000, num_threads=1)
    for i, text in enumerate(["the", "the", "the zebra"]):
        doc = tantivy.Document()
        doc.add_unsigned("frame_id", i)
        doc.add_text("text", text)
        writer.add_document(doc)
    writer.commit()
    index.reload()
    lex = LexIndex(index)
    for query in ("the zebra", "the", "zebra"):
        assert lex.search(query, 5) == _full(lex, query, 5), query
    assert len(lex.search("the zebra", 5)) == 2
    lex._text_field = None
    assert lex._without_common_words(lex.parse("the zebra")) is None
    assert lex.search("the zebra", 5) == _full(lex, "the zebra", 5)
