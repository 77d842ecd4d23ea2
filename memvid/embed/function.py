"""An embedder made from a plain Python function.

:class:`FunctionEmbedder` wraps any callable that turns a list of texts into
vectors (a sentence-transformers model's ``encode``, a call into another
library, a test double) and gives it the :class:`~memvid.embed.Embedder`
shape. It checks every output before memvid stores it: a function that
returns the wrong number of vectors, the wrong dimension, or NaN raises
:class:`~memvid.errors.InvalidInputError` naming the embedder, instead of
writing vectors that would make search silently wrong.

>>> from memvid.embed.function import FunctionEmbedder
>>> def letter_counts(texts):
...     return [[t.count("a"), t.count("b"), 1.0] for t in texts]
>>> emb = FunctionEmbedder(letter_counts, dim=3, name="letter-counts")
>>> emb.embed_documents(["ab", "bbb"]).shape
(2, 3)
>>> emb.embed_query("aa").round(3)
array([0.894, 0.   , 0.447], dtype=float32)
>>> emb.normalized
True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from memvid.embed import text_list
from memvid.errors import InvalidInputError

__all__ = ["FunctionEmbedder"]

# How far from 1.0 a vector's length may be when the function says it
# returns unit vectors: float32 rounding, not a different normalisation.
_UNIT_TOLERANCE = 1e-3
_FLOAT32_MAX = float(np.finfo(np.float32).max)


class FunctionEmbedder:
    """An :class:`~memvid.embed.Embedder` backed by ``fn(list[str]) -> vectors``.

    Parameters
    ----------
    fn
        Called with a list of texts; returns one vector per text, as a
        ``(n, dim)`` array-like or a list of vectors. Exceptions it raises
        propagate unchanged.
    dim
        The vector length ``fn`` returns.
    name
        What the capsule records as the embedder's identity. Name the model
        and anything that changes its vectors (``"bge-small-en-v1.5-q8"``).
    normalized
        Whether ``fn`` already returns unit-length vectors. With
        ``normalize=False`` this claim is checked on every output.
    query_fn
        Called with one query text; returns one vector. Use it when the
        model embeds queries differently from documents (an instruction
        prefix, a separate encoder). Defaults to ``fn([query])[0]``.
    normalize
        Scale every vector to unit length. Then :attr:`normalized` is true.
    """

    def __init__(
        self,
        fn: Callable[[list[str]], Any],
        *,
        dim: int,
        name: str,
        normalized: bool = False,
        query_fn: Callable[[str], Any] | None = None,
        normalize: bool = True,
    ) -> None:
        if not callable(fn):
            raise InvalidInputError(f"fn must be callable, not {type(fn).__name__}")
        if query_fn is not None and not callable(query_fn):
            raise InvalidInputError(f"query_fn must be callable, not {type(query_fn).__name__}")
        if not isinstance(name, str) or not name.strip():
            raise InvalidInputError(f"name must be a non-empty string, not {name!r}")
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise InvalidInputError(f"embedder {name!r}: dim must be a positive integer, not {dim!r}")
        self._fn = fn
        self._query_fn = query_fn
        self._dim = dim
        self._name = name
        self._normalize = bool(normalize)
        self._declared_unit = bool(normalized)

    @property
    def name(self) -> str:
        return self._name

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def normalized(self) -> bool:
        return self._normalize or self._declared_unit

    def __repr__(self) -> str:
        return f"FunctionEmbedder(name={self._name!r}, dim={self._dim}, normalized={self.normalized})"

    def embed_documents(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Vectors for ``texts``, shape ``(len(texts), dim)``; ``fn`` is not called for no texts."""
        items = text_list(texts, f"embedder {self._name!r}")
        if not items:
            return np.empty((0, self._dim), dtype=np.float32)
        return self._checked(self._fn(items), rows=len(items), source="fn")

    def embed_query(self, text: str) -> npt.NDArray[np.float32]:
        """The vector for one query, shape ``(dim,)``."""
        if not isinstance(text, str):
            raise InvalidInputError(f"embedder {self._name!r}: a query must be a str, not {type(text).__name__}")
        if self._query_fn is None:
            matrix = self.embed_documents([text])
        else:
            values = _numeric(self._query_fn(text), self._name, "query_fn")
            if values.ndim == 1:
                values = values.reshape(1, -1)
            matrix = self._checked(values, rows=1, source="query_fn")
        vector: npt.NDArray[np.float32] = matrix[0]
        return vector

    def _checked(self, output: Any, *, rows: int, source: str) -> npt.NDArray[np.float32]:
        who = f"embedder {self._name!r}: {source}"
        values = _numeric(output, self._name, source)
        if values.shape != (rows, self._dim):
            raise InvalidInputError(f"{who} returned shape {values.shape}, expected ({rows}, {self._dim})")
        bad = ~np.isfinite(values).all(axis=1)
        if bad.any():
            raise InvalidInputError(f"{who} returned a non-finite value (NaN or infinity) in row {int(bad.argmax())}")
        # Dividing by each row's largest magnitude first keeps the norm from overflowing.
        scale = np.abs(values).max(axis=1)
        if self._normalize:
            zero = scale == 0
            if zero.any():
                raise InvalidInputError(f"{who} returned an all-zero vector in row {int(zero.argmax())}")
            values = values / scale[:, None]
            values /= np.linalg.norm(values, axis=1)[:, None]
        elif self._declared_unit:
            safe = np.where(scale == 0, 1.0, scale)
            with np.errstate(over="ignore"):  # a norm past float64's range is just "not 1"
                norms = np.linalg.norm(values / safe[:, None], axis=1) * scale
            off = np.abs(norms - 1.0) > _UNIT_TOLERANCE
            if off.any():
                row = int(off.argmax())
                raise InvalidInputError(
                    f"{who} was declared normalized but row {row} has length {norms[row]:.4g}; "
                    "pass normalize=True to have memvid normalise it"
                )
        elif scale.max() > _FLOAT32_MAX:
            raise InvalidInputError(f"{who} returned a value outside the float32 range")
        return values.astype(np.float32)


def _numeric(output: Any, name: str, source: str) -> npt.NDArray[np.float64]:
    """``output`` as a float64 array, or an error naming the embedder."""
    who = f"embedder {name!r}: {source}"
    try:
        values = np.asarray(output)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{who} returned something that is not an array of vectors ({exc})") from None
    if values.dtype.kind not in "fiu":
        raise InvalidInputError(f"{who} returned {values.dtype} values, not numbers")
    return values.astype(np.float64)
