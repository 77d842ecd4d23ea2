"""An embedder that calls an OpenAI-compatible ``/embeddings`` endpoint.

:class:`HttpEmbedder` speaks the request and response shape of OpenAI's
embeddings API, which OpenAI, Azure-style proxies, vLLM, llama.cpp's
``llama-server``, Ollama (``/v1``), LM Studio and text-embeddings-inference
all serve. It is the only part of memvid that uses the network, and only when
a caller builds one: this module imports httpx, ``import memvid`` does not.

Requests go out in batches of ``batch_size`` texts. Connection failures,
timeouts, ``408``, ``429`` and ``5xx`` answers are retried with exponential
backoff and jitter, honouring ``Retry-After``; any other error answer fails at
once with :class:`EmbeddingError`. Every reply is checked (count, order,
dimension, finite numbers) before a vector reaches a capsule. The API key is
never part of an error message or a ``repr``.

>>> from memvid.embed.http import HttpEmbedder
>>> with HttpEmbedder("nomic-embed-text", base_url="http://localhost:11434/v1", dim=768) as emb:
...     (emb.name, emb.dim, emb.normalized)
('nomic-embed-text', 768, True)
"""

from __future__ import annotations

import email.utils
import math
import os
import random
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

import numpy as np
import numpy.typing as npt

from memvid.embed import text_list
from memvid.errors import ClosedError, EmbeddingError, InvalidInputError

try:
    import httpx
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError("memvid's HTTP embedder needs httpx: pip install 'memvid-capsule[http]'") from exc

__all__ = ["MAX_RETRY_DELAY", "EmbeddingError", "HttpEmbedder"]

#: The longest single wait between two attempts, whatever ``Retry-After`` asks for.
MAX_RETRY_DELAY = 60.0

# What a server answers when trying again later may succeed.
_RETRY_STATUS = frozenset({408, 429})
_PROBE_TEXT = "memvid dimension probe"
_SECRET_HEADERS = frozenset({"authorization", "api-key", "x-api-key", "proxy-authorization"})
_MESSAGE_LIMIT = 300


def _sleep(seconds: float) -> None:
    # One seam, so tests can record the waits instead of sitting through them.
    time.sleep(seconds)


class HttpEmbedder:
    """An :class:`~memvid.embed.Embedder` backed by an OpenAI-compatible HTTP server.

    Parameters
    ----------
    model
        The ``model`` field of every request (``"text-embedding-3-small"``,
        or the name a local server serves its weights under).
    base_url
        The API root; requests go to ``{base_url}/embeddings``.
    api_key
        Sent as ``Authorization: Bearer <key>``. When not given, the
        environment variable ``api_key_env`` is read; when neither is set no
        ``Authorization`` header is sent, which local servers accept.
    api_key_env
        The environment variable to read the key from.
    dim
        The vector length. When not given it is learned from the first reply
        (reading :attr:`dim` before any embedding sends one probe request).
        Every reply is checked against it.
    batch_size
        The most texts sent in one request.
    timeout
        Seconds to wait to connect, to send, and between bytes of the reply.
    max_retries
        Attempts after the first one for a failure worth retrying.
    backoff
        The first retry waits between ``backoff / 2`` and ``backoff`` seconds;
        each later one doubles, up to :data:`MAX_RETRY_DELAY`.
    normalize
        Scale every vector to unit length. Then :attr:`normalized` is true.
    query_prefix, document_prefix
        Prepended to queries and to documents, for models trained with
        instructions such as ``"query: "`` and ``"passage: "``.
    headers
        Extra request headers, e.g. ``{"api-key": ...}`` for Azure.
    transport
        An httpx transport to send requests through (``httpx.MockTransport``
        in tests).
    name
        The identity recorded in a capsule. Defaults to ``model``: see
        :attr:`name`.
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str = "https://api.openai.com/v1",
        api_key: str | None = None,
        api_key_env: str | None = "OPENAI_API_KEY",
        dim: int | None = None,
        batch_size: int = 64,
        timeout: float = 30.0,
        max_retries: int = 5,
        backoff: float = 0.5,
        normalize: bool = True,
        query_prefix: str = "",
        document_prefix: str = "",
        headers: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
        name: str | None = None,
    ) -> None:
        if not isinstance(model, str) or not model.strip():
            raise InvalidInputError(f"model must be a non-empty string, not {model!r}")
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise InvalidInputError(f"name must be a non-empty string, not {name!r}")
        if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int) or dim < 1):
            raise InvalidInputError(f"dim must be a positive integer, not {dim!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidInputError(f"batch_size must be a positive integer, not {batch_size!r}")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise InvalidInputError(f"max_retries must be a non-negative integer, not {max_retries!r}")
        if not _is_number(timeout) or timeout <= 0:
            raise InvalidInputError(f"timeout must be a positive number of seconds, not {timeout!r}")
        if not _is_number(backoff) or backoff < 0:
            raise InvalidInputError(f"backoff must be a non-negative number of seconds, not {backoff!r}")
        if not isinstance(query_prefix, str) or not isinstance(document_prefix, str):
            raise InvalidInputError("query_prefix and document_prefix must be strings")
        try:
            url = httpx.URL(base_url.rstrip("/") + "/embeddings")
        except (AttributeError, TypeError, httpx.InvalidURL) as exc:
            raise InvalidInputError(f"base_url is not a valid URL: {exc}") from None
        if url.scheme not in ("http", "https") or not url.host:
            raise InvalidInputError(f"base_url must be an http:// or https:// URL, not {base_url!r}")

        if api_key is not None and not isinstance(api_key, str):
            raise InvalidInputError(f"api_key must be a str, not {type(api_key).__name__}")
        key = api_key if api_key is not None else (os.environ.get(api_key_env) if api_key_env else None)
        key = key.strip() if key else None  # a key pasted or read from a file often ends in a newline
        request_headers: dict[str, str] = {}
        if key:
            request_headers["Authorization"] = f"Bearer {key}"
        request_headers.update(headers or {})
        self._secrets = [v for k, v in request_headers.items() if k.lower() in _SECRET_HEADERS and v]
        if key:
            self._secrets.append(key)
        for secret in self._secrets:
            # httpx would refuse these later, quoting the value in its error; refuse them here, quoting nothing.
            if not isinstance(secret, str) or not all(" " <= c <= "~" for c in secret):
                raise InvalidInputError("the API key or an authorization header holds characters HTTP cannot send")

        self._model = model
        self._name = name if name is not None else model
        self._url = url
        # Where requests go, for messages: no userinfo, no query string.
        self._where = f"{url.scheme}://{url.netloc.decode('ascii')}{url.path}"
        self._dim = dim
        self._dim_lock = threading.Lock()
        self._batch_size = batch_size
        self._max_retries = max_retries
        self._backoff = float(backoff)
        self._normalize = bool(normalize)
        self._query_prefix = query_prefix
        self._document_prefix = document_prefix
        self._closed = False
        self._client = httpx.Client(headers=request_headers, timeout=float(timeout), transport=transport)

    # -- the Embedder shape ------------------------------------------------

    @property
    def name(self) -> str:
        """The model name, or the ``name`` given at construction.

        The server's address is deliberately not part of it: the name is what
        a capsule records, and the same weights reached at another address
        (``localhost`` or ``127.0.0.1``, a proxy, a moved server) must keep
        opening the capsule. When two servers serve different weights under
        one model name, pass ``name=`` to tell them apart.
        """
        return self._name

    @property
    def dim(self) -> int:
        """The vector length; sends one probe request if it is not yet known."""
        if self._dim is None:
            self._embed([_PROBE_TEXT])
        if self._dim is None:  # pragma: no cover - _embed sets it or raises
            raise EmbeddingError(f"{self._who()}: the probe request did not reveal the dimension")
        return self._dim

    @property
    def normalized(self) -> bool:
        return self._normalize

    def embed_documents(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Vectors for ``texts``, shape ``(len(texts), dim)``, in requests of at most ``batch_size`` texts.

        No texts make no request, unless the dimension is still unknown (see :attr:`dim`).
        """
        items = text_list(texts, self._who())
        if not items:
            return np.empty((0, self.dim), dtype=np.float32)
        inputs = [self._document_prefix + text for text in items]
        step = self._batch_size
        return np.concatenate([self._embed(inputs[i : i + step]) for i in range(0, len(inputs), step)])

    def embed_query(self, text: str) -> npt.NDArray[np.float32]:
        """The vector for one query, shape ``(dim,)``, with ``query_prefix`` prepended."""
        if not isinstance(text, str):
            raise InvalidInputError(f"{self._who()}: a query must be a str, not {type(text).__name__}")
        vector: npt.NDArray[np.float32] = self._embed([self._query_prefix + text])[0]
        return vector

    # -- lifetime ----------------------------------------------------------

    def close(self) -> None:
        """Close the connection pool. Calling it again does nothing."""
        self._closed = True
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"HttpEmbedder(model={self._model!r}, url={self._where!r}, dim={self._dim!r})"

    # -- requests ----------------------------------------------------------

    def _who(self) -> str:
        return f"HTTP embedder {self._name!r} at {self._where}"

    def _embed(self, inputs: list[str]) -> npt.NDArray[np.float32]:
        """One request's worth of vectors, checked and (if asked) normalised."""
        payload = self._post(inputs)
        return self._vectors(payload, len(inputs))

    def _post(self, inputs: list[str]) -> Any:
        if self._closed:
            raise ClosedError(f"{self._who()} is closed")
        body = {"model": self._model, "input": inputs}
        attempts = self._max_retries + 1
        for attempt in range(attempts):
            retry_after: float | None = None
            cause: Exception | None = None
            try:
                response = self._client.post(self._url, json=body)
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "connection failed"
                failure = EmbeddingError(self._redact(f"{self._who()}: {kind} ({type(exc).__name__}: {exc})"))
                cause = exc
            except httpx.HTTPError as exc:
                raise EmbeddingError(self._redact(f"{self._who()}: {type(exc).__name__}: {exc}")) from exc
            else:
                if response.is_success:
                    return self._json(response)
                failure = EmbeddingError(
                    self._redact(
                        f"{self._who()}: {response.status_code} {response.reason_phrase}: {_server_message(response)}"
                    ),
                    status_code=response.status_code,
                )
                if response.status_code not in _RETRY_STATUS and response.status_code < 500:
                    raise failure
                retry_after = _retry_after(response)
            if attempt + 1 == attempts:
                raise EmbeddingError(
                    f"{failure} (gave up after {attempts} attempt{'s' if attempts > 1 else ''})",
                    status_code=failure.status_code,
                ) from cause
            if retry_after is None:
                base = self._backoff * 2.0 ** min(attempt, 32)
                delay = base / 2 + random.uniform(0.0, base / 2)
            else:
                delay = retry_after
            _sleep(min(delay, MAX_RETRY_DELAY))
        raise AssertionError("unreachable")  # pragma: no cover

    def _json(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            snippet = _shorten(response.text)
            raise EmbeddingError(self._redact(f"{self._who()}: the reply is not JSON: {snippet!r}")) from None

    def _vectors(self, payload: Any, count: int) -> npt.NDArray[np.float32]:
        """The embeddings in ``payload``, ordered by ``index`` and checked against ``count`` and the dimension."""

        def bad(why: str) -> EmbeddingError:
            return EmbeddingError(f"{self._who()}: unusable reply: {why}")

        data = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(data, list):
            raise bad("no 'data' list")
        if len(data) != count:
            raise bad(f"{len(data)} embeddings for {count} inputs")
        rows: list[list[float] | None] = [None] * count
        for position, item in enumerate(data):
            if not isinstance(item, dict):
                raise bad(f"data[{position}] is not an object")
            index = item.get("index", position)
            if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < count:
                raise bad(f"data[{position}] has index {index!r}, expected 0..{count - 1}")
            if rows[index] is not None:
                raise bad(f"index {index} appears twice")
            embedding = item.get("embedding")
            if not isinstance(embedding, list) or not all(type(x) is float or type(x) is int for x in embedding):
                raise bad(f"data[{position}].embedding is not a list of numbers")
            rows[index] = embedding

        widths = {len(row) for row in rows if row is not None}
        if len(widths) != 1:
            raise bad(f"embeddings of different lengths {sorted(widths)}")
        width = widths.pop()
        if width == 0:
            raise bad("empty embeddings")
        with self._dim_lock:
            if self._dim is None:
                self._dim = width
            expected = self._dim
        if width != expected:
            raise bad(f"{width}-dimensional embeddings, expected {expected}")

        try:
            values = np.array(rows, dtype=np.float64)
        except OverflowError:
            raise bad("an embedding holds a number too large for a float") from None
        if not np.isfinite(values).all():
            raise bad("an embedding holds NaN or infinity")
        scale = np.abs(values).max(axis=1)
        if self._normalize:
            if (scale == 0).any():
                raise bad(f"input {int((scale == 0).argmax())} has an all-zero embedding, which cannot be normalised")
            values = values / scale[:, None]  # keeps the norm from overflowing
            values /= np.linalg.norm(values, axis=1)[:, None]
        elif scale.max() > float(np.finfo(np.float32).max):
            raise bad("an embedding holds a value outside the float32 range")
        return values.astype(np.float32)

    def _redact(self, message: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            message = message.replace(secret, "[redacted]")
        return message


def _server_message(response: httpx.Response) -> str:
    """The error text a server put in its reply, in the common shapes."""
    try:
        body = response.json()
    except ValueError:
        return _shorten(response.text) or "(no message)"
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return _shorten(error["message"])  # OpenAI, vLLM, llama.cpp
        for value in (error, body.get("detail"), body.get("message")):  # Ollama, FastAPI, others
            if isinstance(value, str):
                return _shorten(value)
    return _shorten(response.text)


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds the server asked to wait (``retry-after-ms``, or ``Retry-After`` as seconds or a date)."""
    millis = response.headers.get("retry-after-ms")
    if millis is not None:
        try:
            value = float(millis) / 1000
        except ValueError:
            pass
        else:
            return max(0.0, value) if math.isfinite(value) else None
    header = response.headers.get("retry-after")
    if header is None:
        return None
    try:
        seconds = float(header)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(header)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MESSAGE_LIMIT else text[: _MESSAGE_LIMIT - 1] + "…"


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
