"""``memvid find`` and ``memvid reindex``, in human and ``--json`` output."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from click.testing import CliRunner, Result

import memvid.cli
from memvid import Memvid, PutOptions
from memvid.cli import main

Invoke = Callable[..., Result]


def _json(result: Result) -> Any:
    return json.loads(result.stdout)


def _ids(invoke: Invoke, capsule: Path, *args: str) -> list[int]:
    result = invoke(["find", capsule, *args, "--json"])
    assert result.exit_code == 0, result.output
    return [hit["frame_id"] for hit in _json(result)["hits"]]


def _without_timing(data: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in data.items() if key != "took_ms"}


@pytest.fixture
def words(capsule: Path) -> Path:
    """The conftest capsule plus frames 3 and 4, which share the word "tea" with frame 0."""
    with Memvid.open(capsule) as mem:
        mem.put("Tea time: green tea and\nblack tea, at four", title="Tea", kind="note")
        mem.put("The train was late, so no tea", uri="mv2://travel/late", tags={"person": "bob"})
        mem.commit("more tea")
    return capsule


# -- human output -----------------------------------------------------------------------


def test_find_prints_one_block_per_hit(invoke: Invoke, words: Path) -> None:
    with Memvid.open(words, read_only=True) as mem:
        hits = list(mem.search("tea"))
    assert len(hits) == 3
    result = invoke(["find", words, "tea"])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert len(lines) == 6
    for rank, hit in enumerate(hits, start=1):
        header, snippet = lines[2 * rank - 2], lines[2 * rank - 1]
        name = hit.uri or hit.title or "-"
        assert header == f"{rank}  score {hit.score:.4g}  frame {hit.frame_id}  lex #{rank}  {name}"
        assert snippet.startswith("   ")
    by_id = {hit.frame_id: lines[2 * i + 1] for i, hit in enumerate(hits)}
    assert by_id[0] == "   Alice prefers [tea]"
    # Whitespace, newlines included, is collapsed so a snippet is one line; every match is marked.
    assert by_id[3] == "   [Tea] time: green [tea] and black [tea], at four"
    assert by_id[4] == "   The train was late, so no [tea]"


def test_find_score_has_four_significant_digits(invoke: Invoke, capsule: Path) -> None:
    with Memvid.open(capsule, read_only=True) as mem:
        [hit] = mem.search("train")
    header = invoke(["find", capsule, "train"]).stdout.splitlines()[0]
    assert header == f"1  score {hit.score:.4g}  frame 1  lex #1  Bob"
    shown = header.split()[2]
    assert float(shown) == pytest.approx(hit.score, rel=5e-4)
    assert len(shown.lstrip("0.").replace(".", "")) <= 4


def test_find_shows_uri_before_title(invoke: Invoke, capsule: Path) -> None:
    with Memvid.open(capsule) as mem:
        mem.put("untitled and unnamed standup notes")
        mem.put("standup notes", title="Notes", uri="mv2://notes/1")
        mem.commit()
    lines = invoke(["find", capsule, "standup"]).stdout.splitlines()
    names = {line.split("  ")[2]: line.split("  ", 4)[4] for line in lines if not line.startswith(" ")}
    assert names == {"frame 2": "mv2://meetings/standup", "frame 3": "-", "frame 4": "mv2://notes/1"}


def test_find_marks_words_in_bold_on_a_terminal(capsule: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memvid.cli, "_stdout_is_a_terminal", lambda: True)
    result = CliRunner().invoke(main, ["find", str(capsule), "tea"], color=True)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1] == "   Alice prefers \x1b[1mtea\x1b[0m"


def test_find_snippet_chars(invoke: Invoke, capsule: Path) -> None:
    with Memvid.open(capsule) as mem:
        mem.put("filler words " * 30 + "the needle is here " + "more filler " * 30)
        mem.commit()
    lines = invoke(["find", capsule, "needle", "--snippet-chars", "40"]).stdout.splitlines()
    assert len(lines) == 2
    snippet = lines[1].strip()
    assert snippet.startswith("…") and snippet.endswith("…")
    assert "[needle]" in snippet
    assert len(snippet) <= 40 + 2 + 2  # the two ellipses and the brackets
    # No snippet at all: one line per hit.
    lines = invoke(["find", capsule, "needle", "--snippet-chars", "0"]).stdout.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("1  score ")


def test_find_payload_frame_has_no_snippet_line(invoke: Invoke, capsule: Path) -> None:
    with Memvid.open(capsule) as mem:
        mem.put_bytes(b"\xff\x00", PutOptions(title="binary blob"))
        mem.commit()
    result = invoke(["find", capsule, "blob"])
    assert result.exit_code == 0
    assert len(result.stdout.splitlines()) == 1
    assert result.stdout.endswith("  frame 3  lex #1  binary blob\n")


def test_find_no_results(invoke: Invoke, capsule: Path) -> None:
    result = invoke(["find", capsule, "zebra"])
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr == "no results\n"


def test_find_query_syntax(invoke: Invoke, words: Path) -> None:
    assert _ids(invoke, words, '"green tea"') == [3]
    assert sorted(_ids(invoke, words, "tea AND train")) == [4]
    assert sorted(_ids(invoke, words, "tea NOT train")) == [0, 3]
    assert _ids(invoke, words, "title:tea") == [3]


# -- JSON -------------------------------------------------------------------------------


def test_find_json_is_results_to_dict(invoke: Invoke, words: Path) -> None:
    result = invoke(["find", words, "tea", "--json"])
    assert result.exit_code == 0
    assert result.stderr == ""
    data = _json(result)
    assert list(data) == ["mode", "took_ms", "hits"]
    assert data["mode"] == "lex"  # auto, with no query embedder
    assert isinstance(data["took_ms"], float)
    with Memvid.open(words, read_only=True) as mem:
        expected = mem.search("tea").to_dict()
    assert _without_timing(data) == _without_timing(expected)
    assert data["hits"][0]["retrievers"] == {"lex": 1}


def test_find_json_no_results(invoke: Invoke, capsule: Path) -> None:
    result = invoke(["find", capsule, "zebra", "--json"])
    assert result.exit_code == 0
    assert result.stderr == ""
    data = _json(result)
    assert data["hits"] == []
    assert data["mode"] == "lex"


def test_find_lex_mode_and_options_reach_the_library(invoke: Invoke, words: Path) -> None:
    args = ["tea", "--mode", "lex", "--fusion", "weighted", "--alpha", "0.3", "--snippet-chars", "10"]
    data = _json(invoke(["find", words, *args, "--json"]))
    with Memvid.open(words, read_only=True) as mem:
        expected = mem.search("tea", mode="lex", fusion="weighted", alpha=0.3, snippet_chars=10).to_dict()
    assert _without_timing(data) == _without_timing(expected)
    assert all(len(hit["snippet"]) <= 12 for hit in data["hits"])


# -- filters, limit, threshold, --as-of -------------------------------------------------


def test_find_filters(invoke: Invoke, words: Path) -> None:
    assert sorted(_ids(invoke, words, "tea")) == [0, 3, 4]
    assert sorted(_ids(invoke, words, "tea", "--kind", "note")) == [0, 3]
    assert _ids(invoke, words, "tea", "--tag", "person=bob") == [4]
    assert _ids(invoke, words, "tea", "--tag", "person=bob", "--kind", "note") == []
    assert _ids(invoke, words, "tea", "--uri-prefix", "mv2://people/") == [0]
    assert _ids(invoke, words, "train", "--until", "2025-01-01") == [1]
    assert _ids(invoke, words, "train", "--since", "2025-01-01") == [4]
    # created_at is when the frame was put, whatever its timestamp: both trains were put recently.
    assert sorted(_ids(invoke, words, "train", "--created-since", "2025-01-01")) == [1, 4]
    assert _ids(invoke, words, "train", "--created-until", "2025-01-01") == []


def test_find_created_bounds_split_the_history(invoke: Invoke, words: Path) -> None:
    with Memvid.open(words, read_only=True) as mem:
        split = mem.get(3).created_at.isoformat()
    assert sorted(_ids(invoke, words, "tea", "--created-since", split)) == [3, 4]
    assert _ids(invoke, words, "tea", "--created-until", split) == [0]


def test_find_limit(invoke: Invoke, words: Path) -> None:
    everything = _ids(invoke, words, "tea")
    assert _ids(invoke, words, "tea", "--limit", "2") == everything[:2]
    assert _ids(invoke, words, "tea", "--limit", "1") == everything[:1]
    lines = invoke(["find", words, "tea", "--limit", "1"]).stdout.splitlines()
    assert len(lines) == 2


def test_find_threshold(invoke: Invoke, words: Path) -> None:
    data = _json(invoke(["find", words, "tea", "--json"]))
    scores = [hit["score"] for hit in data["hits"]]
    assert scores == sorted(scores, reverse=True) and len(set(scores)) == 3
    middle = str(scores[1])
    assert _ids(invoke, words, "tea", "--threshold", middle) == [h["frame_id"] for h in data["hits"][:2]]
    assert _ids(invoke, words, "tea", "--threshold", "0") == [h["frame_id"] for h in data["hits"]]
    result = invoke(["find", words, "tea", "--threshold", "1000"])
    assert result.exit_code == 0
    assert (result.stdout, result.stderr) == ("", "no results\n")


def test_find_as_of_sees_old_results(invoke: Invoke, capsule: Path) -> None:
    with Memvid.open(capsule) as mem:
        mem.update(0, "Alice prefers coffee")
        mem.commit()
    assert _ids(invoke, capsule, "tea") == []
    assert _ids(invoke, capsule, "coffee") == [3]
    assert _ids(invoke, capsule, "tea", "--as-of", "3") == [0]
    assert _ids(invoke, capsule, "tea", "--as-of", "-2") == [0]
    assert _ids(invoke, capsule, "coffee", "--as-of", "-2") == []
    assert _ids(invoke, capsule, "tea", "--as-of", "0") == []
    with Memvid.open(capsule, read_only=True) as mem:
        first = mem.timeline()[1].id
    assert _ids(invoke, capsule, "tea", "--as-of", first[:8].upper()) == [0]
    old = invoke(["find", capsule, "tea", "--as-of", "1"])
    assert old.stdout.splitlines()[1] == "   Alice prefers [tea]"


def test_as_of_digits_are_a_seq_number_first_then_an_id_prefix(invoke: Invoke, tmp_path: Path) -> None:
    """A commit id may start with digits only ("12801274..."): such an argument names the
    commit with that seq number when there is one, and otherwise the commit with that id
    prefix (it used to be refused as a seq number past the newest)."""
    path = tmp_path / "digits.mv2"
    found = None
    with Memvid.create(path) as mem:
        for n in range(400):  # about one commit id in seven starts with four digits
            mem.put(f"note {n}")
            head = mem.commit()
            digits = len(head.id) - len(head.id.lstrip("0123456789"))
            if head.seq >= 3 and digits >= 4 and int(head.id[:digits]) > 400:
                found = (head.seq, head.id[:digits])
                break
    assert found is not None
    seq, prefix = found
    result = invoke(["frames", path, "--as-of", prefix, "--json"])
    assert result.exit_code == 0, result.output
    assert [f["text"] for f in _json(result)][-1] == f"note {seq - 1}"
    result = invoke(["frames", path, "--as-of", "0003", "--json"])  # a seq number that exists wins
    assert [f["text"] for f in _json(result)] == ["note 0", "note 1", "note 2"]
    missing = invoke(["frames", path, "--as-of", "99999999"])
    assert missing.exit_code == 3 and "no commit with id '99999999'" in missing.stderr


# -- the query from stdin ---------------------------------------------------------------


def test_find_reads_the_query_from_stdin(invoke: Invoke, words: Path) -> None:
    result = invoke(["find", words, "-", "--json"], input="green tea\n")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    with Memvid.open(words, read_only=True) as mem:
        expected = mem.search("green tea").to_dict()
    assert _without_timing(_json(result)) == _without_timing(expected)
    assert _json(result)["hits"][0]["frame_id"] == 3


def test_find_empty_query_is_an_error(invoke: Invoke, capsule: Path) -> None:
    for args, stdin in ((["   "], None), (["-"], "\n")):
        result = invoke(["find", capsule, *args], input=stdin)
        assert result.exit_code == 1
        assert result.stdout == ""
        assert result.stderr == "error: lex search needs a non-empty query string\n"


# -- errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--mode", "fuzzy"], "Invalid value for '--mode': 'fuzzy' is not one of 'lex', 'vec', 'hybrid', 'auto'."),
        (["--mode", "LEX"], "Invalid value for '--mode': 'LEX' is not one of"),
        (["--limit", "0"], "Invalid value for '--limit': 0 is not in the range x>=1."),
        (["--threshold", "high"], "Invalid value for '--threshold': 'high' is not a valid float."),
        (["--fusion", "max"], "Invalid value for '--fusion': 'max' is not one of 'rrf', 'weighted', 'adaptive'."),
        (["--alpha", "1.5"], "Invalid value for '--alpha': 1.5 is not in the range 0<=x<=1."),
        (["--snippet-chars", "-1"], "Invalid value for '--snippet-chars': -1 is not in the range x>=0."),
        (["--tag", "person"], "Invalid value for '--tag': 'person' is not KEY=VALUE"),
        (["--since", "soon"], "Invalid value for '--since': 'soon' is not an ISO 8601 time"),
        (["--created-until", "later"], "Invalid value for '--created-until': 'later' is not an ISO 8601 time"),
        (["--as-of", "head"], "'head' is neither a commit seq number nor a commit id prefix"),
    ],
)
def test_find_usage_errors(invoke: Invoke, capsule: Path, args: list[str], message: str) -> None:
    result = invoke(["find", capsule, "tea", *args])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert message in result.stderr


def test_find_without_query_is_a_usage_error(invoke: Invoke, capsule: Path) -> None:
    result = invoke(["find", capsule])
    assert result.exit_code == 2
    assert "Missing argument 'QUERY'" in result.stderr


@pytest.mark.parametrize("mode", ["vec", "hybrid"])
def test_find_vector_modes_need_an_embedder(invoke: Invoke, capsule: Path, mode: str) -> None:
    result = invoke(["find", capsule, "tea", "--mode", mode])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"error: {mode} search needs a query embedder: this capsule records no embedder "
        "(pass --embedder default for the local one)\n"
    )


NOT_A_CAPSULE = "error: not a memvid capsule: the file does not start with the .mv2 magic bytes\n"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["find", "{missing}", "tea"], 3, "error: no capsule at {missing}\n"),
        (["find", "{missing}", "tea", "--mode", "vec"], 3, "error: no capsule at {missing}\n"),
        (["find", "{capsule}", "tea", "--as-of", "9"], 3, "error: no commit 9: this capsule has commits 0..3\n"),
        (["reindex", "{missing}"], 3, "error: no capsule at {missing}\n"),
        (["find", "{junk}", "tea"], 4, NOT_A_CAPSULE),
        (["reindex", "{junk}"], 4, NOT_A_CAPSULE),
    ],
)
def test_find_and_reindex_errors(invoke: Invoke, capsule: Path, args: list[str], code: int, message: str) -> None:
    junk = capsule.parent / "junk.mv2"
    junk.write_bytes(b"not a capsule")
    names = {"capsule": capsule, "missing": capsule.parent / "missing.mv2", "junk": junk}
    result = invoke([a.format(**names) for a in args])
    assert result.exit_code == code
    assert result.stdout == ""
    assert result.stderr == message.format(**names)


# -- with a query embedder: what the hook gives once the CLI can configure one ------------


class _LetterEmbedder:
    """A toy embedder: letter counts, normalised. Enough to rank frames by vectors."""

    name = "test-letters"
    dim = 26
    normalized = True

    def embed_documents(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        return np.stack([self.embed_query(text) for text in texts])

    def embed_query(self, text: str) -> npt.NDArray[np.float32]:
        vector = np.zeros(self.dim, dtype=np.float32)
        for char in text.lower():
            if "a" <= char <= "z":
                vector[ord(char) - ord("a")] += 1
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm else vector + 1 / np.sqrt(self.dim, dtype=np.float32)


@pytest.fixture
def embedded(tmp_path: Path) -> Path:
    path = tmp_path / "vectors.mv2"
    with Memvid.create(path, embedder=_LetterEmbedder()) as mem:
        mem.put("Alice prefers tea", uri="mv2://people/alice")
        mem.put("Bob takes the train", title="Bob")
        mem.put("zzz quiet", title="Z")
        mem.commit()
    return path


def test_find_vector_modes_need_an_embedder_the_cli_can_load(invoke: Invoke, embedded: Path) -> None:
    result = invoke(["find", embedded, "tea", "--mode", "vec"])
    assert result.exit_code == 1
    assert result.stderr == (
        "error: vec search needs a query embedder: this capsule's vectors come from 'test-letters', "
        "which the memvid command cannot load\n"
    )
    # auto falls back to lex when no query vector can be had.
    assert _json(invoke(["find", embedded, "tea", "--json"]))["mode"] == "lex"
    none = invoke(["find", embedded, "tea", "--mode", "hybrid", "--embedder", "none"])
    assert (none.exit_code, none.stderr) == (1, "error: hybrid search needs a query embedder: --embedder none\n")


def test_find_with_a_query_embedder(invoke: Invoke, embedded: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(memvid.cli.KNOWN_EMBEDDERS, "test-letters", _LetterEmbedder)
    data = _json(invoke(["find", embedded, "tea", "--json"]))
    assert data["mode"] == "hybrid"
    assert data["hits"][0]["frame_id"] == 0
    assert data["hits"][0]["retrievers"] == {"lex": 1, "vec": 1}
    header = invoke(["find", embedded, "tea"]).stdout.splitlines()[0]
    assert header.startswith("1  score ")
    assert header.endswith("  frame 0  lex #1, vec #1  mv2://people/alice")
    vec = _json(invoke(["find", embedded, "alice prefers tea", "--mode", "vec", "--json"]))
    assert vec["mode"] == "vec"
    assert vec["hits"][0]["frame_id"] == 0
    assert all(set(hit["retrievers"]) == {"vec"} for hit in vec["hits"])
    weighted = _json(invoke(["find", embedded, "tea", "--mode", "hybrid", "--fusion", "weighted", "--json"]))
    assert weighted["mode"] == "hybrid"
    assert weighted["hits"][0]["score"] == pytest.approx(1.0)


def test_put_embeds_with_the_capsules_embedder(invoke: Invoke, embedded: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert invoke(["put", embedded, "plain words"]).exit_code == 0  # the CLI cannot load it: no vector
    monkeypatch.setitem(memvid.cli.KNOWN_EMBEDDERS, "test-letters", _LetterEmbedder)
    assert invoke(["put", embedded, "jjj kkk"]).exit_code == 0
    with Memvid.open(embedded, read_only=True) as mem:
        plain, letters = mem.get(3), mem.get(4)
    assert plain.embedding is None
    assert letters.embedding is not None
    assert float(letters.embedding @ _LetterEmbedder().embed_query("jjj kkk")) == pytest.approx(1.0)


def test_put_refuses_when_the_capsules_embedder_is_not_installed(
    invoke: Invoke, embedded: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def missing() -> _LetterEmbedder:
        raise memvid.MissingDependencyError("the letters embedder needs letters: pip install letters")

    monkeypatch.setitem(memvid.cli.KNOWN_EMBEDDERS, "test-letters", missing)
    result = invoke(["put", embedded, "words"])
    assert result.exit_code == 1
    assert result.stderr == (
        "error: the letters embedder needs letters: pip install letters; "
        "or pass --embedder none to add the frame without a vector\n"
    )
    assert invoke(["put", embedded, "words", "--embedder", "none"]).exit_code == 0


# -- reindex ----------------------------------------------------------------------------


def test_reindex_commits_and_keeps_the_frames(invoke: Invoke, words: Path) -> None:
    before = _json(invoke(["find", words, "tea", "--json"]))
    with Memvid.open(words, read_only=True) as mem:
        frames = [frame.to_dict() for frame in mem.frames()]
    result = invoke(["reindex", words])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    with Memvid.open(words, read_only=True) as mem:
        head = mem.timeline()[-1]
        assert [frame.to_dict() for frame in mem.frames()] == frames
    assert result.stdout == f"reindexed in commit 5 ({head.id[:12]})\n"
    assert (head.seq, head.message, head.added, head.removed, head.frames) == (5, "reindex", 0, 0, 5)
    after = _json(invoke(["find", words, "tea", "--json"]))
    assert _without_timing(after) == _without_timing(before)


def test_reindex_json(invoke: Invoke, capsule: Path) -> None:
    result = invoke(["reindex", capsule, "--json"])
    assert result.exit_code == 0
    with Memvid.open(capsule, read_only=True) as mem:
        head = mem.timeline()[-1]
    assert _json(result) == {"commit_seq": 4, "commit_id": head.id, "commit_time": head.time.isoformat()}


def test_reindex_an_empty_capsule(invoke: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "empty.mv2"
    assert invoke(["init", path]).exit_code == 0
    assert invoke(["reindex", path]).stdout.startswith("reindexed in commit 1 (")
    result = invoke(["find", path, "anything"])
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "no results\n")


def test_reindex_keeps_vectors_searchable(invoke: Invoke, embedded: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(memvid.cli.KNOWN_EMBEDDERS, "test-letters", _LetterEmbedder)
    before = _json(invoke(["find", embedded, "train", "--mode", "vec", "--json"]))
    assert invoke(["reindex", embedded]).exit_code == 0
    after = _json(invoke(["find", embedded, "train", "--mode", "vec", "--json"]))
    assert _without_timing(after) == _without_timing(before)
    assert before["hits"]


def test_reindex_while_another_writer_holds_the_lock(invoke: Invoke, capsule: Path) -> None:
    with Memvid.open(capsule):
        result = invoke(["reindex", capsule])
        assert result.exit_code == 5
        assert result.stdout == ""
        assert result.stderr.startswith("error: ")
        # find only reads, so it runs beside the writer.
        assert _ids(invoke, capsule, "tea") == [0]
    with Memvid.open(capsule, read_only=True) as mem:
        assert mem.timeline()[-1].seq == 3


def test_find_fuses_adaptively_by_default(invoke: Invoke, embedded: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(memvid.cli.KNOWN_EMBEDDERS, "test-letters", _LetterEmbedder)
    data = _json(invoke(["find", embedded, "alice tea", "--mode", "hybrid", "--json"]))
    with Memvid.open(embedded, read_only=True, embedder=_LetterEmbedder()) as mem:
        adaptive = mem.search("alice tea", mode="hybrid", fusion="adaptive").to_dict()
        rrf = mem.search("alice tea", mode="hybrid", fusion="rrf").to_dict()
    assert _without_timing(data) == _without_timing(adaptive)
    assert [h["score"] for h in data["hits"]] != [h["score"] for h in rrf["hits"]]
    assert data["hits"][0]["score"] == pytest.approx(1.0)  # both retrievers rank it first (RRF: 2 / 61)
    chosen = _json(invoke(["find", embedded, "alice tea", "--mode", "hybrid", "--fusion", "rrf", "--json"]))
    assert _without_timing(chosen) == _without_timing(rrf)
