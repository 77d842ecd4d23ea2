"""HttpEmbedder against a real OpenAI-shaped server on 127.0.0.1, plus MockTransport checks of reply parsing."""

from __future__ import annotations

import email.utils
import hashlib
import json
import socket
import struct
import subprocess
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import numpy as np
import pytest

import memvid.embed.http as http_module
from memvid.embed import Embedder, identity_of
from memvid.embed.http import MAX_RETRY_DELAY, EmbeddingError, HttpEmbedder
from memvid.errors import ClosedError, InvalidInputError, MemvidError

MODEL = "toy-embed"
DIM = 8
KEY = "sk-test-Zq7SECRETkey91"


def toy_vector(model: str, text: str, dim: int = DIM) -> list[float]:
    """The server's deterministic embedding of ``text``: normal noise seeded by a hash."""
    seed = int.from_bytes(hashlib.sha256(f"{model}\0{text}".encode()).digest()[:8], "little")
    return [float(x) for x in np.random.default_rng(seed).standard_normal(dim)]


def expected(texts: list[str], *, normalize: bool = True) -> np.ndarray:
    values = np.array([toy_vector(MODEL, t) for t in texts], dtype=np.float64)
    if normalize:
        values /= np.linalg.norm(values, axis=1, keepdims=True)
    return values.astype(np.float32)


# -- the server ----------------------------------------------------------------


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Failure:
    """What the server does instead of answering normally, once.

    ``kind`` is ``"status"`` (answer ``status`` with ``body`` and ``headers``), ``"hang"`` (say nothing
    until the test ends), ``"reset"`` (drop the connection with a TCP RST), ``"bad_json"``, ``"wrong_dim"``
    or ``"echo_key"`` (a 401 whose message quotes the Authorization header back).
    """

    kind: str
    status: int = 0
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def status(code: int, message: str = "try again", **headers: str) -> Failure:
    return Failure(
        "status",
        code,
        {"error": {"message": message, "type": "test"}},
        {k.replace("_", "-"): v for k, v in headers.items()},
    )


class EmbeddingServer:
    """An OpenAI-compatible embeddings endpoint at ``/v1/embeddings`` that fails on request."""

    def __init__(self) -> None:
        self.dim = DIM
        self.shuffle = False
        self.plan: deque[Failure] = deque()
        self.seen: list[Seen] = []
        self.release = threading.Event()
        self._lock = threading.Lock()
        state = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                with state._lock:
                    state.seen.append(Seen(self.path, headers, json.loads(raw)))
                    failure = state.plan.popleft() if state.plan else None
                    dim = state.dim
                if self.path != "/v1/embeddings":
                    return self._send(404, {"detail": "Not Found"})
                body = json.loads(raw)
                if failure is None:
                    return self._send(200, state.reply(body["model"], body["input"], dim))
                if failure.kind == "status":
                    return self._send(failure.status, failure.body, failure.headers)
                if failure.kind == "hang":
                    state.release.wait(10)
                    self.close_connection = True
                    return None
                if failure.kind == "reset":
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.connection.close()
                    self.close_connection = True
                    return None
                if failure.kind == "bad_json":
                    return self._send(200, b'{"data": [oops')
                if failure.kind == "wrong_dim":
                    return self._send(200, state.reply(body["model"], body["input"], dim + 1))
                if failure.kind == "echo_key":
                    message = f"Incorrect API key provided: {headers.get('authorization')}"
                    return self._send(401, {"error": {"message": message, "type": "invalid_request_error"}})
                raise AssertionError(failure.kind)

            def _send(self, code: int, body: Any, headers: dict[str, str] | None = None) -> None:
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that gave up on a hanging request is expected here

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)

    def reply(self, model: str, inputs: list[str], dim: int) -> dict[str, Any]:
        data = [
            {"object": "embedding", "index": i, "embedding": toy_vector(model, t, dim)} for i, t in enumerate(inputs)
        ]
        if self.shuffle:
            data.reverse()
        return {"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": 1, "total_tokens": 1}}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def fail(self, *failures: Failure) -> None:
        with self._lock:
            self.plan.extend(failures)

    @property
    def inputs(self) -> list[list[str]]:
        return [s.body["input"] for s in self.seen]

    def stop(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def server() -> Iterator[EmbeddingServer]:
    srv = EmbeddingServer()
    srv.thread.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def make(server: EmbeddingServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., HttpEmbedder]]:
    """Builds embedders pointed at the test server, with short waits; closes them afterwards."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    made: list[HttpEmbedder] = []

    def build(**kwargs: Any) -> HttpEmbedder:
        kwargs.setdefault("base_url", server.url)
        kwargs.setdefault("backoff", 0.001)
        kwargs.setdefault("timeout", 5.0)
        # A plain-HTTP transport: skips loading the CA bundle (60 ms an embedder) and any proxy in the environment.
        kwargs.setdefault("transport", httpx.HTTPTransport(verify=False))
        embedder = HttpEmbedder(kwargs.pop("model", MODEL), **kwargs)
        made.append(embedder)
        return embedder

    yield build
    for embedder in made:
        embedder.close()


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The delays the embedder asks to sleep, recorded instead of slept."""
    recorded: list[float] = []
    monkeypatch.setattr(http_module, "_sleep", recorded.append)
    return recorded


# -- talking to the server -------------------------------------------------------


def test_documents_and_query_match_the_server(server: EmbeddingServer, make: Callable[..., HttpEmbedder]) -> None:
    emb = make(dim=DIM)
    texts = ["alpha", "beta", "gamma"]
    docs = emb.embed_documents(texts)
    assert docs.dtype == np.float32 and docs.shape == (3, DIM)
    np.testing.assert_allclose(docs, expected(texts), rtol=1e-6)
    query = emb.embed_query("alpha")
    assert query.dtype == np.float32 and query.shape == (DIM,)
    np.testing.assert_allclose(query, docs[0], rtol=1e-6)
    assert [s.path for s in server.seen] == ["/v1/embeddings"] * 2
    assert server.seen[0].body == {"model": MODEL, "input": texts}
    assert server.seen[0].headers["content-type"] == "application/json"


def test_it_is_an_embedder_with_an_identity(make: Callable[..., HttpEmbedder]) -> None:
    emb = make(dim=DIM)
    assert isinstance(emb, Embedder)
    identity = identity_of(emb)
    assert (identity.name, identity.dim, identity.normalized) == (MODEL, DIM, True)


def test_name_is_the_model_unless_given(server: EmbeddingServer, make: Callable[..., HttpEmbedder]) -> None:
    assert make(dim=DIM).name == MODEL
    assert "127.0.0.1" not in make(dim=DIM).name
    named = make(dim=DIM, name="gpu-box/toy-embed-q8")
    assert named.name == "gpu-box/toy-embed-q8"
    named.embed_query("x")
    assert server.seen[-1].body["model"] == MODEL


def test_batches_of_batch_size(server: EmbeddingServer, make: Callable[..., HttpEmbedder]) -> None:
    emb = make(dim=DIM, batch_size=4)
    texts = [f"text {i}" for i in range(10)]
    np.testing.assert_allclose(emb.embed_documents(texts), expected(texts), rtol=1e-6)
    assert server.inputs == [texts[0:4], texts[4:8], texts[8:10]]


def test_out_of_order_replies_are_put_back_in_order(server: EmbeddingServer, make: Callable[..., HttpEmbedder]) -> None:
    server.shuffle = True
    texts = ["one", "two", "three", "four"]
    np.testing.assert_allclose(make(dim=DIM).embed_documents(texts), expected(texts), rtol=1e-6)


def test_prefixes_go_on_documents_and_queries(server: EmbeddingServer, make: Callable[..., HttpEmbedder]) -> None:
    emb = make(dim=DIM, query_prefix="query: ", document_prefix="passage: ")
    docs = emb.embed_documents(["cats"])
    query = emb.embed_query("cats")
    assert server.inputs == [["passage: cats"], ["query: cats"]]
    np.testing.assert_allclose(docs, expected(["passage: cats"]), rtol=1e-6)
    np.testing.assert_allclose(query, expected(["query: cats"])[0], rtol=1e-6)


def test_without_normalize_the_server_vectors_pass_through(make: Callable[..., HttpEmbedder]) -> None:
    emb = make(dim=DIM, normalize=False)
    assert emb.normalized is False
    np.testing.assert_allclose(emb.embed_documents(["raw"]), expected(["raw"], normalize=False), rtol=1e-6)


def test_no_texts_make_no_request_when_dim_is_known(server: EmbeddingServer, make: Callable[..., HttpEmbedder]) -> None:
    empty = make(dim=DIM).embed_documents([])
    assert empty.shape == (0, DIM) and empty.dtype == np.float32
    assert server.seen == []


def test_concurrent_callers_share_one_embedder(make: Callable[..., HttpEmbedder]) -> None:
    emb = make(batch_size=3)
    batches = [[f"t{i}-{j}" for j in range(7)] for i in range(8)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(emb.embed_documents, batches))
    for texts, result in zip(batches, results, strict=True):
        np.testing.assert_allclose(result, expected(texts), rtol=1e-6)
    assert emb.dim == DIM


# -- the dimension ----------------------------------------------------------------


def test_dim_is_discovered_with_one_probe(server: EmbeddingServer, make: Callable[..., HttpEmbedder]) -> None:
    emb = make()
    assert server.seen == []  # construction sends nothing
    assert emb.dim == DIM
    assert emb.dim == DIM
    assert len(server.seen) == 1
    assert "probe" in server.inputs[0][0]


def test_dim_is_learned_from_the_first_embedding(server: EmbeddingServer, make: Callable[..., HttpEmbedder]) -> None:
    emb = make()
    emb.embed_documents(["first"])
    assert emb.dim == DIM
    assert len(server.seen) == 1


def test_no_texts_with_unknown_dim_probe_once(server: EmbeddingServer, make: Callable[..., HttpEmbedder]) -> None:
    assert make().embed_documents([]).shape == (0, DIM)
    assert len(server.seen) == 1


def test_a_given_dim_is_checked(make: Callable[..., HttpEmbedder]) -> None:
    with pytest.raises(EmbeddingError, match=f"{DIM}-dimensional embeddings, expected 5"):
        make(dim=5).embed_documents(["x"])


def test_a_discovered_dim_is_checked_on_every_reply(server: EmbeddingServer, make: Callable[..., HttpEmbedder]) -> None:
    emb = make()
    assert emb.dim == DIM
    server.fail(Failure("wrong_dim"))
    with pytest.raises(EmbeddingError, match=f"{DIM + 1}-dimensional embeddings, expected {DIM}") as info:
        emb.embed_documents(["x"])
    assert info.value.status_code is None
    assert len(server.seen) == 2  # a wrong reply is not retried
    server.dim = DIM + 4
    with pytest.raises(EmbeddingError, match="dimensional embeddings"):
        emb.embed_query("y")


# -- retries ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [status(429), status(503), status(500), status(502), status(408), Failure("hang"), Failure("reset")],
    ids=["429", "503", "500", "502", "408", "timeout", "reset"],
)
def test_transient_failures_are_retried(
    server: EmbeddingServer, make: Callable[..., HttpEmbedder], failure: Failure
) -> None:
    server.fail(failure, failure)
    emb = make(dim=DIM, timeout=0.3, max_retries=2)
    np.testing.assert_allclose(emb.embed_documents(["retry me"]), expected(["retry me"]), rtol=1e-6)
    assert len(server.seen) == 3


def test_retries_stop_at_max_retries(server: EmbeddingServer, make: Callable[..., HttpEmbedder]) -> None:
    server.fail(*[status(503, "overloaded")] * 10)
    with pytest.raises(EmbeddingError, match=r"503 Service Unavailable: overloaded .*gave up after 3 attempts") as info:
        make(dim=DIM, max_retries=2).embed_documents(["x"])
    assert info.value.status_code == 503
    assert len(server.seen) == 3


def test_max_retries_zero_tries_once(server: EmbeddingServer, make: Callable[..., HttpEmbedder]) -> None:
    server.fail(status(429))
    with pytest.raises(EmbeddingError, match=r"gave up after 1 attempt\)"):
        make(dim=DIM, max_retries=0).embed_documents(["x"])
    assert len(server.seen) == 1


def test_timeouts_give_up_quickly(server: EmbeddingServer, make: Callable[..., HttpEmbedder]) -> None:
    server.fail(*[Failure("hang")] * 5)
    start = time.monotonic()
    with pytest.raises(EmbeddingError, match=r"timed out .*gave up after 2 attempts") as info:
        make(dim=DIM, timeout=0.2, max_retries=1).embed_documents(["x"])
    assert time.monotonic() - start < 3
    assert isinstance(info.value.__cause__, httpx.TimeoutException)
    assert len(server.seen) == 2


def test_connection_refused_is_retried_then_fails(make: Callable[..., HttpEmbedder], waits: list[float]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    emb = make(dim=DIM, base_url=f"http://127.0.0.1:{port}/v1", max_retries=2)
    with pytest.raises(EmbeddingError, match=r"connection failed .*gave up after 3 attempts"):
        emb.embed_documents(["x"])
    assert len(waits) == 2


def test_backoff_doubles_with_jitter(
    server: EmbeddingServer, make: Callable[..., HttpEmbedder], waits: list[float]
) -> None:
    server.fail(*[status(503)] * 4)
    make(dim=DIM, backoff=0.5, max_retries=5).embed_documents(["x"])
    assert len(waits) == 4
    for attempt, wait in enumerate(waits):
        assert 0.25 * 2**attempt <= wait <= 0.5 * 2**attempt


def test_backoff_is_capped(server: EmbeddingServer, make: Callable[..., HttpEmbedder], waits: list[float]) -> None:
    server.fail(*[status(503)] * 3)
    make(dim=DIM, backoff=1000.0).embed_documents(["x"])
    assert waits == [MAX_RETRY_DELAY] * 3


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({"Retry-After": "2"}, 2.0),
        ({"Retry-After": "0.25"}, 0.25),
        ({"Retry-After": "86400"}, MAX_RETRY_DELAY),
        ({"Retry-After": "-5"}, 0.0),
        ({"retry-after-ms": "750", "Retry-After": "9"}, 0.75),
    ],
)
def test_retry_after_is_honoured_and_capped(
    server: EmbeddingServer,
    make: Callable[..., HttpEmbedder],
    waits: list[float],
    headers: dict[str, str],
    wait: float,
) -> None:
    server.fail(Failure("status", 429, {"error": {"message": "slow down"}}, headers))
    make(dim=DIM, backoff=100.0).embed_documents(["x"])
    assert waits == [wait]


def test_retry_after_as_a_date(server: EmbeddingServer, make: Callable[..., HttpEmbedder], waits: list[float]) -> None:
    when = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=10), usegmt=True)
    server.fail(status(503, Retry_After=when))
    make(dim=DIM).embed_documents(["x"])
    assert len(waits) == 1 and 8.0 <= waits[0] <= 10.5


def test_unreadable_retry_after_falls_back_to_backoff(
    server: EmbeddingServer, make: Callable[..., HttpEmbedder], waits: list[float]
) -> None:
    server.fail(status(429, Retry_After="soon"))
    make(dim=DIM, backoff=0.5).embed_documents(["x"])
    assert len(waits) == 1 and 0.25 <= waits[0] <= 0.5


def test_retry_after_really_waits(server: EmbeddingServer, make: Callable[..., HttpEmbedder]) -> None:
    server.fail(status(429, Retry_After="0.3"))
    start = time.monotonic()
    make(dim=DIM).embed_documents(["x"])
    assert time.monotonic() - start >= 0.3
    assert len(server.seen) == 2


@pytest.mark.parametrize("code", [400, 401, 403, 404, 413, 422])
def test_other_client_errors_fail_at_once_with_the_server_message(
    server: EmbeddingServer, make: Callable[..., HttpEmbedder], code: int
) -> None:
    server.fail(status(code, f"the server says no ({code})"))
    with pytest.raises(EmbeddingError, match=rf"{code} .*: the server says no \({code}\)$") as info:
        make(dim=DIM).embed_documents(["x"])
    assert info.value.status_code == code
    assert isinstance(info.value, MemvidError)
    assert len(server.seen) == 1


def test_a_wrong_path_is_a_404_naming_the_url(make: Callable[..., HttpEmbedder], server: EmbeddingServer) -> None:
    with pytest.raises(EmbeddingError, match=r"at http://127\.0\.0\.1:\d+/nope/embeddings: 404 Not Found: Not Found"):
        make(dim=DIM, base_url=server.url.replace("/v1", "/nope")).embed_documents(["x"])


def test_bad_json_is_not_retried(server: EmbeddingServer, make: Callable[..., HttpEmbedder]) -> None:
    server.fail(Failure("bad_json"))
    with pytest.raises(EmbeddingError, match="the reply is not JSON"):
        make(dim=DIM).embed_documents(["x"])
    assert len(server.seen) == 1


# -- the API key ------------------------------------------------------------------------


def test_no_key_means_no_authorization_header(server: EmbeddingServer, make: Callable[..., HttpEmbedder]) -> None:
    make(dim=DIM).embed_query("x")
    assert "authorization" not in server.seen[0].headers


def test_key_argument_is_sent_as_bearer(server: EmbeddingServer, make: Callable[..., HttpEmbedder]) -> None:
    make(dim=DIM, api_key=KEY).embed_query("x")
    assert server.seen[0].headers["authorization"] == f"Bearer {KEY}"


def test_key_from_the_environment(
    server: EmbeddingServer, make: Callable[..., HttpEmbedder], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "from-env")
    monkeypatch.setenv("MY_EMBED_KEY", "from-my-env")
    make(dim=DIM).embed_query("x")
    make(dim=DIM, api_key="from-arg").embed_query("x")
    make(dim=DIM, api_key_env="MY_EMBED_KEY").embed_query("x")
    make(dim=DIM, api_key_env=None).embed_query("x")
    monkeypatch.setenv("OPENAI_API_KEY", "")
    make(dim=DIM).embed_query("x")
    sent = [s.headers.get("authorization") for s in server.seen]
    assert sent == ["Bearer from-env", "Bearer from-arg", "Bearer from-my-env", None, None]


def test_a_key_is_stripped_of_surrounding_whitespace(
    server: EmbeddingServer, make: Callable[..., HttpEmbedder], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", f"  {KEY}\n")
    make(dim=DIM).embed_query("x")
    assert server.seen[0].headers["authorization"] == f"Bearer {KEY}"


@pytest.mark.parametrize(
    ("kwargs", "secret"),
    [
        ({"api_key": f"{KEY}\nX-Injected: 1"}, KEY),
        ({"api_key": f"{KEY}é"}, KEY),
        ({"headers": {"Api-Key": "azure\x00secret"}}, "azure"),
    ],
)
def test_keys_http_cannot_send_are_refused_without_quoting_them(kwargs: dict[str, Any], secret: str) -> None:
    with pytest.raises(InvalidInputError, match="characters HTTP cannot send") as info:
        HttpEmbedder(MODEL, **kwargs)
    assert secret not in repr(info.value)
    assert info.value.__context__ is None or secret not in repr(info.value.__context__)


def test_extra_headers_are_sent(server: EmbeddingServer, make: Callable[..., HttpEmbedder]) -> None:
    make(dim=DIM, headers={"api-key": "azure-style", "X-Trace": "t1"}).embed_query("x")
    assert server.seen[0].headers["api-key"] == "azure-style"
    assert server.seen[0].headers["x-trace"] == "t1"


def test_the_key_never_appears_in_errors(server: EmbeddingServer, make: Callable[..., HttpEmbedder]) -> None:
    emb = make(dim=DIM, api_key=KEY, max_retries=1)
    assert KEY not in repr(emb)
    server.fail(Failure("echo_key"))
    with pytest.raises(EmbeddingError, match=r"401 Unauthorized: Incorrect API key provided: \[redacted\]$") as info:
        emb.embed_query("x")
    assert len(server.seen) == 1
    server.fail(*[Failure("status", 500, f"internal error, key={KEY}".encode(), {})] * 2)
    with pytest.raises(EmbeddingError, match="500 Internal Server Error: internal error") as retried:
        emb.embed_query("x")
    server.fail(Failure("status", 200, f"<html>{KEY}</html>".encode(), {}))
    with pytest.raises(EmbeddingError, match="not JSON") as not_json:
        emb.embed_query("x")
    for exc in (info.value, retried.value, not_json.value):
        assert KEY not in "".join(traceback.format_exception(exc))
        assert KEY not in repr(exc)


def test_secret_headers_are_redacted_too(server: EmbeddingServer, make: Callable[..., HttpEmbedder]) -> None:
    server.fail(Failure("status", 403, {"error": "bad api-key azure-secret-123"}, {}))
    with pytest.raises(EmbeddingError, match=r"bad api-key \[redacted\]$"):
        make(dim=DIM, headers={"api-key": "azure-secret-123"}).embed_query("x")


# -- lifetime and arguments -----------------------------------------------------------------


def test_closed_embedder_refuses_work(server: EmbeddingServer, monkeypatch: pytest.MonkeyPatch) -> None:
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(proxy, raising=False)
    with HttpEmbedder(MODEL, base_url=server.url, dim=DIM) as emb:
        emb.embed_query("x")
    with pytest.raises(ClosedError, match="is closed"):
        emb.embed_query("x")
    emb.close()  # again: nothing happens
    assert len(server.seen) == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model": ""}, "model must be a non-empty string"),
        ({"dim": 0}, "dim must be a positive integer"),
        ({"dim": True}, "dim must be a positive integer"),
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"max_retries": -1}, "max_retries must be a non-negative integer"),
        ({"timeout": 0}, "timeout must be a positive number"),
        ({"timeout": float("inf")}, "timeout must be a positive number"),
        ({"backoff": -0.1}, "backoff must be a non-negative number"),
        ({"base_url": "ftp://example.com/v1"}, "base_url must be an http:// or https:// URL"),
        ({"base_url": "not a url"}, "base_url must be an http"),
        ({"base_url": "http://[::1"}, "base_url is not a valid URL"),
        ({"name": ""}, "name must be a non-empty string"),
        ({"query_prefix": None}, "prefix must be strings"),
        ({"api_key": 12345}, "api_key must be a str, not int"),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {"model": MODEL, **kwargs}
    with pytest.raises(InvalidInputError, match=message):
        HttpEmbedder(args.pop("model"), **args)


@pytest.mark.parametrize(("texts", "message"), [("one str", "not one str"), (["ok", None], "text 1 is a NoneType")])
def test_texts_must_be_strings(texts: Any, message: str, make: Callable[..., HttpEmbedder]) -> None:
    with pytest.raises(InvalidInputError, match=message):
        make(dim=DIM).embed_documents(texts)
    with pytest.raises(InvalidInputError, match="a query must be a str"):
        make(dim=DIM).embed_query(3)  # type: ignore[arg-type]


# -- reply parsing, through a MockTransport ---------------------------------------------------


def mocked(reply: Callable[[httpx.Request], httpx.Response], **kwargs: Any) -> HttpEmbedder:
    kwargs.setdefault("api_key_env", None)
    kwargs.setdefault("base_url", "https://embed.example/v1")
    return HttpEmbedder(MODEL, transport=httpx.MockTransport(reply), **kwargs)


def replying(payload: Any) -> Callable[[httpx.Request], httpx.Response]:
    def reply(request: httpx.Request) -> httpx.Response:
        if isinstance(payload, bytes):
            return httpx.Response(200, content=payload, headers={"Content-Type": "application/json"})
        return httpx.Response(200, json=payload)

    return reply


def rows(*embeddings: Any) -> dict[str, Any]:
    return {"data": [{"index": i, "embedding": e} for i, e in enumerate(embeddings)]}


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([], "no 'data' list"),
        ({"object": "list"}, "no 'data' list"),
        ({"data": {"0": [1.0, 2.0]}}, "no 'data' list"),
        (rows([1.0, 2.0]), "1 embeddings for 2 inputs"),
        (rows([1.0, 2.0], [1.0, 2.0], [1.0, 2.0]), "3 embeddings for 2 inputs"),
        ({"data": [{"index": 0, "embedding": [1.0, 2.0]}] * 2}, "index 0 appears twice"),
        ({"data": [{"index": 0, "embedding": [1.0]}, {"index": 2, "embedding": [1.0]}]}, "has index 2, expected 0..1"),
        ({"data": [{"index": "0", "embedding": [1.0]}, {"index": 1, "embedding": [1.0]}]}, "has index '0'"),
        ({"data": [["not", "an", "object"], {"index": 1, "embedding": [1.0]}]}, r"data\[0\] is not an object"),
        (rows([1.0, 2.0], "AAAAPwAAgD8="), r"data\[1\].embedding is not a list of numbers"),
        (rows([1.0, 2.0], [1.0, "2"]), "not a list of numbers"),
        (rows([1.0, 2.0], [True, 2.0]), "not a list of numbers"),
        (rows([1.0, 2.0], None), "not a list of numbers"),
        (rows([1.0, 2.0], [1.0, 2.0, 3.0]), r"different lengths \[2, 3\]"),
        (rows([], []), "empty embeddings"),
        (rows([0.0, 0.0], [1.0, 2.0]), "input 0 has an all-zero embedding"),
        (b'{"data": [{"index": 0, "embedding": [NaN, 1]}, {"index": 1, "embedding": [1, 1]}]}', "NaN or infinity"),
        (b'{"data": [{"index": 0, "embedding": [1e400, 1]}, {"index": 1, "embedding": [1, 1]}]}', "NaN or infinity"),
        (
            b'{"data": [{"index": 0, "embedding": [1' + b"0" * 400 + b', 1]}, {"index": 1, "embedding": [1, 1]}]}',
            "too large",
        ),
    ],
)
def test_unusable_replies(payload: Any, message: str) -> None:
    with mocked(replying(payload)) as emb, pytest.raises(EmbeddingError, match=message) as info:
        emb.embed_documents(["a", "b"])
    assert "'toy-embed' at https://embed.example/v1/embeddings: unusable reply" in str(info.value)


def test_float32_range_is_checked_without_normalize() -> None:
    with mocked(replying(rows([1e39, 1.0])), normalize=False) as emb, pytest.raises(EmbeddingError, match="float32"):
        emb.embed_documents(["a"])
    with mocked(replying(rows([1e39, 1e39]))) as emb:
        np.testing.assert_allclose(emb.embed_documents(["a"]), [[2**-0.5, 2**-0.5]], rtol=1e-6)


def test_a_missing_index_means_reply_order() -> None:
    payload = {"data": [{"embedding": [1.0, 0.0]}, {"embedding": [0.0, 2.0]}]}
    with mocked(replying(payload)) as emb:
        np.testing.assert_array_equal(emb.embed_documents(["a", "b"]), [[1.0, 0.0], [0.0, 1.0]])


def test_integer_embeddings_are_accepted() -> None:
    with mocked(replying(rows([3, 4])), normalize=False) as emb:
        np.testing.assert_array_equal(emb.embed_query("a"), [3.0, 4.0])


def test_the_request_shape_and_url() -> None:
    requests: list[httpx.Request] = []

    def reply(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, json=rows(*[[1.0, 0.0]] * len(json.loads(request.content)["input"])))

    with mocked(reply, base_url="https://embed.example/api/v1/", api_key="k") as emb:
        emb.embed_documents(["a", "b"])
    (request,) = requests
    assert request.method == "POST"
    assert str(request.url) == "https://embed.example/api/v1/embeddings"
    assert json.loads(request.content) == {"model": MODEL, "input": ["a", "b"]}
    assert request.headers["authorization"] == "Bearer k"


def test_error_messages_carry_no_userinfo_or_query() -> None:
    def reply(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"detail": "bad"})

    emb = HttpEmbedder(
        MODEL, base_url="https://user:hunter2@embed.example/v1", transport=httpx.MockTransport(reply), api_key_env=None
    )
    with emb, pytest.raises(EmbeddingError) as info:
        emb.embed_query("x")
    assert "hunter2" not in str(info.value) and "hunter2" not in repr(emb)
    assert str(info.value).endswith("at https://embed.example/v1/embeddings: 400 Bad Request: bad")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"error": {"message": "openai style", "type": "x"}}, "openai style"),
        ({"error": "ollama style"}, "ollama style"),
        ({"detail": "fastapi style"}, "fastapi style"),
        ({"message": "plain style"}, "plain style"),
        ({"something": "else"}, '{"something":"else"}'),
        (b"   plain\n  text  ", "plain text"),
        (b"", "(no message)"),
        (b"x" * 1000, "x" * 299 + "…"),
    ],
)
def test_server_messages_in_their_common_shapes(body: Any, message: str) -> None:
    def reply(request: httpx.Request) -> httpx.Response:
        return httpx.Response(422, content=body) if isinstance(body, bytes) else httpx.Response(422, json=body)

    with mocked(reply) as emb, pytest.raises(EmbeddingError) as info:
        emb.embed_query("x")
    assert str(info.value).endswith(f": 422 Unprocessable Entity: {message}")


# -- imports ---------------------------------------------------------------------------------------


def test_import_memvid_does_not_import_httpx() -> None:
    code = "import sys, memvid, memvid.embed, memvid.embed.function; print('httpx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_without_httpx_the_import_error_says_what_to_install() -> None:
    code = "import sys; sys.modules['httpx'] = None; import memvid.embed.http"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode != 0
    assert "ImportError: memvid's HTTP embedder needs httpx: pip install 'memvid-capsule[http]'" in result.stderr
