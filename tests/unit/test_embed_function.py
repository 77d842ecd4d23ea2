"""FunctionEmbedder: a plain function, given the Embedder shape and checked on every call."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from memvid.embed import Embedder, identity_of
from memvid.embed.function import FunctionEmbedder
from memvid.errors import InvalidInputError, MemvidError


def counts(texts: list[str]) -> list[list[float]]:
    """A 3-d toy model: how many a's, how many b's, and a bias."""
    return [[t.count("a"), t.count("b"), 1.0] for t in texts]


class Recorder:
    def __init__(self, output: Any = None) -> None:
        self.calls: list[list[str]] = []
        self.output = output

    def __call__(self, texts: list[str]) -> Any:
        self.calls.append(texts)
        return counts(texts) if self.output is None else self.output


def test_it_is_an_embedder_with_an_identity() -> None:
    emb = FunctionEmbedder(counts, dim=3, name="counts")
    assert isinstance(emb, Embedder)
    identity = identity_of(emb)
    assert (identity.name, identity.dim, identity.normalized) == ("counts", 3, True)
    assert "counts" in repr(emb)


def test_documents_come_back_normalised_float32_in_order() -> None:
    emb = FunctionEmbedder(counts, dim=3, name="counts")
    out = emb.embed_documents(["aa", "b", ""])
    assert out.dtype == np.float32
    assert out.shape == (3, 3)
    expected = np.array([[2, 0, 1], [0, 1, 1], [0, 0, 1]], dtype=np.float64)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-6)


def test_without_normalize_vectors_pass_through() -> None:
    emb = FunctionEmbedder(counts, dim=3, name="counts", normalize=False)
    assert emb.normalized is False
    np.testing.assert_array_equal(emb.embed_documents(["aab"]), [[2, 1, 1]])


def test_accepts_arrays_and_lists_of_vectors_of_any_numeric_dtype() -> None:
    outputs: list[Any] = [np.ones((2, 3), dtype=np.float64), np.ones((2, 3), dtype=np.int64), [np.ones(3)] * 2]
    for output in outputs:
        out = FunctionEmbedder(Recorder(output), dim=3, name="ones").embed_documents(["x", "y"])
        assert out.dtype == np.float32
        np.testing.assert_allclose(out, np.full((2, 3), 1 / np.sqrt(3)), rtol=1e-6)


def test_fn_gets_a_fresh_list_and_no_call_for_no_texts() -> None:
    fn = Recorder()
    emb = FunctionEmbedder(fn, dim=3, name="counts")
    empty = emb.embed_documents([])
    assert empty.shape == (0, 3) and empty.dtype == np.float32
    assert fn.calls == []
    emb.embed_documents(("a", "b"))
    assert fn.calls == [["a", "b"]]
    assert type(fn.calls[0]) is list


def test_query_defaults_to_fn_of_one_text() -> None:
    fn = Recorder()
    emb = FunctionEmbedder(fn, dim=3, name="counts")
    query = emb.embed_query("ab")
    assert query.shape == (3,) and query.dtype == np.float32
    assert fn.calls == [["ab"]]
    np.testing.assert_allclose(query, emb.embed_documents(["ab"])[0])


def test_query_fn_is_used_for_queries_only() -> None:
    fn = Recorder()
    queries: list[str] = []

    def query_fn(text: str) -> list[float]:
        queries.append(text)
        return [0.0, 3.0, 4.0]

    emb = FunctionEmbedder(fn, dim=3, name="asym", query_fn=query_fn)
    np.testing.assert_allclose(emb.embed_query("q"), [0.0, 0.6, 0.8], rtol=1e-6)
    assert queries == ["q"] and fn.calls == []
    emb.embed_documents(["d"])
    assert queries == ["q"] and fn.calls == [["d"]]


def test_query_fn_may_return_a_one_row_matrix() -> None:
    emb = FunctionEmbedder(counts, dim=3, name="c", query_fn=lambda q: np.array([[0.0, 0.0, 2.0]]))
    np.testing.assert_array_equal(emb.embed_query("q"), [0.0, 0.0, 1.0])


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ([[1.0, 2.0, 3.0]], r"shape \(1, 3\), expected \(2, 3\)"),  # too few rows
        ([[1.0, 2.0], [3.0, 4.0]], r"shape \(2, 2\), expected \(2, 3\)"),  # wrong dim
        ([1.0, 2.0, 3.0], r"shape \(3,\), expected \(2, 3\)"),  # a single vector
        ([[1.0, 2.0, 3.0], [1.0, 2.0]], "not an array of vectors"),  # ragged
        ([["a", "b", "c"], ["d", "e", "f"]], "not numbers"),
        (None, "not numbers"),
        ([[1.0, float("nan"), 3.0], [1.0, 2.0, 3.0]], "non-finite value .* row 0"),
        ([[1.0, 2.0, 3.0], [1.0, float("inf"), 3.0]], "non-finite value .* row 1"),
        ([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]], "all-zero vector in row 1"),
        (np.ones((2, 3), dtype=np.complex128), "not numbers"),
    ],
)
def test_bad_output_is_an_error_naming_the_embedder(output: Any, message: str) -> None:
    emb = FunctionEmbedder(lambda texts: output, dim=3, name="my-model")
    with pytest.raises(InvalidInputError, match=message) as info:
        emb.embed_documents(["x", "y"])
    assert "'my-model'" in str(info.value)
    assert isinstance(info.value, MemvidError)


def test_bad_query_fn_output_is_an_error() -> None:
    emb = FunctionEmbedder(counts, dim=3, name="q", query_fn=lambda q: [1.0, 2.0])
    with pytest.raises(InvalidInputError, match=r"'q': query_fn returned shape \(1, 2\), expected \(1, 3\)"):
        emb.embed_query("x")
    emb = FunctionEmbedder(counts, dim=3, name="q", query_fn=lambda q: np.ones((2, 3)))
    with pytest.raises(InvalidInputError, match="query_fn returned shape"):
        emb.embed_query("x")


def test_declared_normalized_is_checked_when_not_normalising() -> None:
    unit = FunctionEmbedder(lambda t: [[0.6, 0.8, 0.0]] * len(t), dim=3, name="u", normalized=True, normalize=False)
    assert unit.normalized is True
    np.testing.assert_allclose(unit.embed_documents(["a"]), [[0.6, 0.8, 0.0]], rtol=1e-6)
    liar = FunctionEmbedder(counts, dim=3, name="liar", normalized=True, normalize=False)
    with pytest.raises(InvalidInputError, match="declared normalized but row 0 has length"):
        liar.embed_documents(["aa"])
    zero = FunctionEmbedder(lambda t: [[0.0, 0.0, 0.0]], dim=3, name="z", normalized=True, normalize=False)
    with pytest.raises(InvalidInputError, match="declared normalized"):
        zero.embed_documents(["a"])


def test_huge_values() -> None:
    huge = [[1e300, 1e300, 0.0]]
    np.testing.assert_allclose(
        FunctionEmbedder(lambda t: huge, dim=3, name="h").embed_documents(["a"]), [[2**-0.5, 2**-0.5, 0.0]], rtol=1e-6
    )
    with pytest.raises(InvalidInputError, match="outside the float32 range"):
        FunctionEmbedder(lambda t: huge, dim=3, name="h", normalize=False).embed_documents(["a"])
    with pytest.raises(InvalidInputError, match="declared normalized"):
        FunctionEmbedder(lambda t: huge, dim=3, name="h", normalize=False, normalized=True).embed_documents(["a"])


def test_errors_raised_by_fn_propagate_unchanged() -> None:
    def broken(texts: list[str]) -> Any:
        raise RuntimeError("model not loaded")

    with pytest.raises(RuntimeError, match="model not loaded"):
        FunctionEmbedder(broken, dim=3, name="b").embed_documents(["x"])


@pytest.mark.parametrize(
    ("texts", "message"),
    [("just one string", "not one str"), (["ok", 3], "text 1 is a int"), ([b"bytes"], "text 0 is a bytes")],
)
def test_texts_must_be_strings(texts: Any, message: str) -> None:
    fn = Recorder()
    with pytest.raises(InvalidInputError, match=message):
        FunctionEmbedder(fn, dim=3, name="c").embed_documents(texts)
    assert fn.calls == []


def test_query_must_be_a_string() -> None:
    with pytest.raises(InvalidInputError, match="a query must be a str"):
        FunctionEmbedder(counts, dim=3, name="c").embed_query(["not", "a", "str"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fn": "not callable"}, "fn must be callable"),
        ({"query_fn": 42}, "query_fn must be callable"),
        ({"dim": 0}, "dim must be a positive integer"),
        ({"dim": 3.0}, "dim must be a positive integer"),
        ({"dim": True}, "dim must be a positive integer"),
        ({"name": ""}, "name must be a non-empty string"),
        ({"name": None}, "name must be a non-empty string"),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {"fn": counts, "dim": 3, "name": "c", **kwargs}
    fn = args.pop("fn")
    with pytest.raises(InvalidInputError, match=message):
        FunctionEmbedder(fn, **args)
