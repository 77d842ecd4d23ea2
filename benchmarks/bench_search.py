#!/usr/bin/env python
"""The search benchmark: memvid's lex / vec / hybrid search side by side with its peers, in one run, same vectors.

    MEMVID_TELEMETRY=0 .venv/bin/python benchmarks/bench_search.py               # 5k real sets + 100k (~6 min here)
    MEMVID_TELEMETRY=0 .venv/bin/python benchmarks/bench_search.py --quick       # smoke run (5k + 20k, fewer queries)
    MEMVID_TELEMETRY=0 .venv/bin/python benchmarks/bench_search.py --sizes 5k 100k 1M --json /tmp/search.json

It measures

1. quality (nDCG@10, Recall@100) of lex, vec and hybrid (fusion rrf, weighted and adaptive) on the three
   BEIR-layout sets in ``/work/shared/data`` (SciFact, MS MARCO TREC-DL 5k, DBpedia-Entity 5k) for memvid, raw
   tantivy, exact numpy, LanceDB (vector, FTS, hybrid) and Chroma (vector), all with the same all-MiniLM-L6-v2
   vectors (memvid's default embedder; cached on disk, built with ``memvid.embed.default_embedder()`` when
   missing), and the time adaptive fusion's calibration takes;
2. ingest of each set "with both indexes built and vectors supplied" for memvid, LanceDB and Chroma;
3. search latency p50/p99 per mode on SciFact (5k, real), every system interleaved query by query, limit 10;
   memvid-sdk in a child process on a subset (its ``put_many`` ingests 5-25 docs/s here), memvid beside it on the
   same subset;
4. at the synthetic sizes (default 100k; 1M with ``--sizes``): build time of the capsule (``put_many`` +
   ``commit``: tantivy + HNSW) against FAISS ``IndexHNSWFlat`` and usearch alone with memvid's settings, search
   latency per mode, and vector recall@10 against exact search.

Scale vectors (``--scale-vectors``): ``perturbed`` (default) takes the 15,183 real document vectors of the three
sets and adds Gaussian noise (cosine ~0.8 to the source, re-normalised) to make as many as needed, each frame
carrying its source document's text, and queries with the 383 real queries: realistic neighbourhoods for the
recall target. ``random`` uses uniformly random unit vectors and short synthetic texts, as the issue's reference
timings did (the hardest case for an HNSW build). Results go to stdout as markdown tables, progress to stderr.
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ["MEMVID_TELEMETRY"] = "0"  # before memvid_sdk is ever imported (it is, in a child process)
os.environ.setdefault("LANCEDB_LOG", "error")  # else LanceDB warns on every query that does not select `_distance`
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE / "embedders"))

import evalkit  # noqa: E402
import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
from bench_engine import (  # noqa: E402
    human_count,
    log,
    machine_info,
    md_table,
    parse_size,
    short_error,
    synthetic_texts,
)
from threadpoolctl import threadpool_limits  # noqa: E402

from memvid import Memvid  # noqa: E402
from memvid.fusion import calibrate, calibration  # noqa: E402
from memvid.index import vec_segments  # noqa: E402
from memvid.index.vec import CONNECTIVITY, EXPANSION_ADD, EXPANSION_SEARCH, build_hnsw, metric_for  # noqa: E402

DIM = 384
DEFAULT_EMBED_CACHE = Path(tempfile.gettempdir()) / "memvid-embed-cache" / "ort-minilm-l6-int8"
LATENCY_SET = "scifact"
LIMIT = 10

# Targets of issue 6.
TARGET_INGEST_S = 1.5  # SciFact ingest with both indexes built, vectors supplied
TARGET_VEC_VS_NUMPY = 2.5  # vec p50 <= 2.5x exact numpy at 5k
TARGET_LEX_VS_TANTIVY = 1.2  # lex p50 <= 1.2x raw tantivy, same schema and tokenizer
TARGET_HYBRID_P50_MS = {5_000: 2.0, 100_000: 3.0, 1_000_000: 5.0}
TARGET_RECALL = 0.95
HYBRID_DEFAULT = "memvid hybrid, default fusion"  # the latency row of mode="hybrid" with no fusion named

# memvid's HNSW settings, used for usearch alone and FAISS's M and efSearch. FAISS builds with efConstruction
# FAISS_EFC, the reference every run of this benchmark has used (--faiss-efc adds others, e.g. memvid's own).
FAISS_EFC = 128
PERTURB_COS = 0.8  # cosine between a perturbed copy and its source vector (approximately)


def ms(seconds: float) -> float:
    return seconds * 1000.0


def p(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def fmt_ms(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    v = ms(seconds)
    return f"{v:.3f}" if v < 10 else f"{v:.1f}"


def version_of(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def clean_query(text: str) -> str:
    """Lower-case, non-word characters to spaces: every lexical engine gets the same plain words (no query
    syntax survives), as in benchmarks/embedders/bm25.py."""
    import re

    return re.sub(r"[^\w]+", " ", text.lower()).strip()


def unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    n[n == 0] = 1
    return np.ascontiguousarray(x / n, dtype=np.float32)


# -- data -----------------------------------------------------------------------------------------------------


@dataclass
class Corpus:
    name: str
    ds: evalkit.Dataset
    titles: list[str]
    texts: list[str]
    doc_vecs: np.ndarray
    query_vecs: np.ndarray
    queries: list[str]  # cleaned query text


def load_titles_texts(name: str, ds: evalkit.Dataset) -> tuple[list[str], list[str]]:
    titles, texts, ids = [], [], []
    with open(evalkit.DATA_ROOT / name / "corpus.jsonl", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            ids.append(str(r["_id"]))
            titles.append(r.get("title") or "")
            texts.append(r.get("text") or "")
    assert ids == ds.doc_ids, f"{name}: corpus order differs from evalkit's"
    return titles, texts


def embed_vectors(ds: evalkit.Dataset, cache: Path, check: int) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Document and query vectors of ``ds`` from ``cache`` (``docs.npy``, ``queries.npy``), embedding them with
    memvid's default embedder when missing. With ``check`` > 0, that many cached docs are re-embedded and compared."""
    d = cache / ds.name
    info: dict[str, Any] = {"cache": str(d)}
    docs_p, queries_p = d / "docs.npy", d / "queries.npy"
    if docs_p.exists() and queries_p.exists():
        docs, queries = np.load(docs_p), np.load(queries_p)
        if docs.shape == (len(ds.doc_texts), DIM) and queries.shape == (len(ds.query_texts), DIM):
            info["source"] = "cache"
            if check:
                from memvid.embed import default_embedder

                emb = default_embedder()
                fresh = unit(emb.embed_documents(ds.doc_texts[:check]))
                qfresh = unit(np.asarray(emb.embed_query(ds.query_texts[0]))[None, :])
                info["check_min_cos"] = float(
                    min((fresh * unit(docs[:check])).sum(1).min(), (qfresh * unit(queries[:1])).sum())
                )
            return unit(docs), unit(queries), info
        log(f"{ds.name}: cached vectors have the wrong shape {docs.shape}/{queries.shape}: re-embedding")
    from memvid.embed import default_embedder

    emb = default_embedder()
    log(f"{ds.name}: embedding {len(ds.doc_texts):,} docs with {emb.name} (slow: ~5-12 docs/s on 2 busy cores)")
    t0 = time.perf_counter()
    docs = unit(emb.embed_documents(ds.doc_texts))
    wall = time.perf_counter() - t0
    queries = unit(np.vstack([np.asarray(emb.embed_query(q), dtype=np.float32) for q in ds.query_texts]))
    d.mkdir(parents=True, exist_ok=True)
    np.save(docs_p, docs)
    np.save(queries_p, queries)
    meta = {"docs": len(docs), "embed_wall_s": wall, "model": emb.name, "built_by": "bench_search.py"}
    (d / "meta.json").write_text(json.dumps(meta, indent=1))
    info["source"] = "embedded now"
    info["embed_wall_s"] = wall
    return docs, queries, info


def load_corpus(name: str, cache: Path, check: int) -> tuple[Corpus, dict[str, Any]]:
    ds = evalkit.load(name)
    titles, texts = load_titles_texts(name, ds)
    docs, queries, info = embed_vectors(ds, cache, check)
    return Corpus(name, ds, titles, texts, docs, queries, [clean_query(q) for q in ds.query_texts]), info


# -- systems: builders --------------------------------------------------------------------------------------------


def arrow_table(titles: Sequence[str], texts: Sequence[str], vecs: np.ndarray) -> pa.Table:
    return pa.table(
        {
            "text": pa.array(list(texts), pa.string()),
            "title": pa.array(list(titles), pa.string()),
            "uri": pa.array([f"doc:{i}" for i in range(len(texts))], pa.string()),
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vecs.reshape(-1), pa.float32()), vecs.shape[1]),
        }
    )


def build_memvid(path: Path, titles: Sequence[str], texts: Sequence[str], vecs: np.ndarray, batch: int) -> dict:
    """Create, put_many(pyarrow table) in commits of ``batch`` rows, close. Returns seconds and the frame ids."""
    ids: list[int] = []
    t0 = time.perf_counter()
    with Memvid.create(path, overwrite=True) as mem:
        for start in range(0, len(texts), batch):
            end = min(len(texts), start + batch)
            ids += mem.put_many(arrow_table(titles[start:end], texts[start:end], vecs[start:end]))
            mem.commit()
        seconds = time.perf_counter() - t0
        segments = mem.stats().segments
    return {"seconds": seconds, "ids": np.asarray(ids, dtype=np.int64), "segments": segments}


class RawTantivy:
    """tantivy alone with memvid's schema, tokenizer and documents (memvid/index/lex.py, schema 2): ``title`` and
    ``text`` with en_stem, ``text`` holding the title and the text (as memvid's ``_document``), plain words searching
    ``text``; top-k by ``searcher.search(query, k, count=False)`` as memvid does (counting every match costs ~15% at
    5k), then the ``frame_id`` fast field. With ``one_field``, title + " " + text in a schema with that one en_stem
    field (as benchmarks/embedders/bm25.py)."""

    def __init__(self, titles: Sequence[str], texts: Sequence[str], *, one_field: bool = False) -> None:
        import tantivy

        from memvid.index.lex import DEFAULT_FIELDS, schema

        self.fields = list(DEFAULT_FIELDS)
        self.dir = tempfile.mkdtemp(prefix="bench-tantivy-")
        t0 = time.perf_counter()
        if one_field:
            sb = tantivy.SchemaBuilder()
            sb.add_unsigned_field("frame_id", stored=False, indexed=True, fast=True)
            sb.add_text_field("text", stored=False, tokenizer_name="en_stem")
            self.index = tantivy.Index(sb.build(), path=self.dir)
            self.fields = ["text"]
            texts = [(a + " " + b).strip() for a, b in zip(titles, texts, strict=True)]
            titles = [""] * len(texts)
        else:
            self.index = tantivy.Index(schema(), path=self.dir)
        threads = min(4, os.cpu_count() or 1) if len(texts) >= 2_000 else 1
        heap = min(max(15_000_000, 12 * sum(map(len, texts)) // threads), 256_000_000)
        writer = self.index.writer(heap_size=heap * threads, num_threads=threads)
        for i, (title, text) in enumerate(zip(titles, texts, strict=True)):
            doc = tantivy.Document()
            doc.add_unsigned("frame_id", i)
            if title:
                doc.add_text("title", title)
            doc.add_text("text", f"{title}\n{text}" if title else text)
            writer.add_document(doc)
        writer.commit()
        writer.wait_merging_threads()
        self.index.reload()
        self.searcher = self.index.searcher()
        self.build_s = time.perf_counter() - t0

    def search(self, query: str, k: int, *, count: bool = False, common: bool = True) -> list[int]:
        """The top ``k``; ``common=False`` leaves out the words in more than half of the documents,
        as memvid's lexical search does (memvid.index.lex: plain words with a rarer one, while the
        rarer ones find ``k``), so that memvid's search can be compared with the same query."""
        parsed = self.index.parse_query(query, self.fields)
        if not common:
            from memvid.index.lex import LexIndex

            if getattr(self, "_lex", None) is None:
                self._lex = LexIndex(self.index)
            rarer = self._lex._without_common_words(parsed)
            if rarer is not None:
                hits = self.searcher.search(rarer, k, count=count).hits
                if len(hits) >= k:
                    return [int(x) for x in self.searcher.fast_field_values("frame_id", [a for _, a in hits])]
        hits = self.searcher.search(parsed, k, count=count).hits
        ids = self.searcher.fast_field_values("frame_id", [a for _, a in hits])
        return [int(x) for x in ids]

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


class Exact:
    def __init__(self, vecs: np.ndarray) -> None:
        self.vecs = vecs

    def search(self, q: np.ndarray, k: int) -> np.ndarray:
        s = self.vecs @ q
        top = np.argpartition(-s, k - 1)[:k]
        return top[np.argsort(-s[top], kind="stable")]

    def batch(self, qs: np.ndarray, k: int) -> np.ndarray:
        out = np.empty((len(qs), k), dtype=np.int64)
        for start in range(0, len(qs), 64):
            s = qs[start : start + 64] @ self.vecs.T
            top = np.argpartition(-s, k - 1, axis=1)[:, :k]
            order = np.argsort(-np.take_along_axis(s, top, 1), axis=1, kind="stable")
            out[start : start + 64] = np.take_along_axis(top, order, 1)
        return out


class UsearchAlone:
    """usearch alone with memvid's settings; ``spec`` is a dtype, optionally with another expansion_add
    (efConstruction) after ``@`` and another metric than memvid's after ``:``: ``f16``, ``i8``,
    ``f16@48``, ``f16:ip``, ``bf16@48:ip``."""

    def __init__(self, vecs: np.ndarray, spec: str) -> None:
        from usearch.index import Index

        spec, _, metric = spec.partition(":")
        dtype, _, efc = spec.partition("@")
        self.index = Index(
            ndim=vecs.shape[1],
            metric=metric or metric_for(dtype),  # type: ignore[arg-type]
            dtype=dtype,
            connectivity=CONNECTIVITY,
            expansion_add=int(efc) if efc else EXPANSION_ADD,
            expansion_search=EXPANSION_SEARCH,
        )
        t0 = time.perf_counter()
        self.index.add(np.arange(len(vecs), dtype=np.uint64), vecs, threads=0)
        self.build_s = time.perf_counter() - t0

    def search(self, q: np.ndarray, k: int) -> np.ndarray:
        return np.asarray(self.index.search(q, k).keys, dtype=np.int64)


class FaissHnsw:
    def __init__(self, vecs: np.ndarray, efc: int = FAISS_EFC) -> None:
        import faiss

        self.index = faiss.IndexHNSWFlat(vecs.shape[1], CONNECTIVITY, faiss.METRIC_INNER_PRODUCT)
        self.index.hnsw.efConstruction = efc
        self.index.hnsw.efSearch = EXPANSION_SEARCH
        t0 = time.perf_counter()
        self.index.add(vecs)
        self.build_s = time.perf_counter() - t0

    def search(self, q: np.ndarray, k: int) -> np.ndarray:
        return self.index.search(q[None, :], k)[1][0]


class Lance:
    def __init__(self, directory: Path, titles: Sequence[str], texts: Sequence[str], vecs: np.ndarray) -> None:
        import lancedb
        from lancedb.index import FTS

        shutil.rmtree(directory, ignore_errors=True)
        t0 = time.perf_counter()
        db = lancedb.connect(str(directory))
        data = pa.table(
            {
                "id": pa.array(np.arange(len(texts), dtype=np.int64)),
                "title": pa.array(list(titles), pa.string()),
                "text": pa.array(list(texts), pa.string()),
                "body": pa.array([(a + " " + b).strip() for a, b in zip(titles, texts, strict=True)], pa.string()),
                "vector": pa.FixedSizeListArray.from_arrays(pa.array(vecs.reshape(-1), pa.float32()), vecs.shape[1]),
            }
        )
        self.table = db.create_table("docs", data=data)
        self.table.create_index("body", config=FTS())
        self.build_s = time.perf_counter() - t0
        self.cols = ["id", "title", "text"]

    def vec(self, q: np.ndarray, k: int) -> list[int]:
        rows = self.table.search(q, query_type="vector").distance_type("cosine").select(self.cols).limit(k).to_list()
        return [r["id"] for r in rows]

    def fts(self, query: str, k: int) -> list[int]:
        rows = self.table.search(query, query_type="fts", fts_columns="body").select(self.cols).limit(k).to_list()
        return [r["id"] for r in rows]

    def hybrid(self, query: str, q: np.ndarray, k: int) -> list[int]:
        b = self.table.search(query_type="hybrid", fts_columns="body").vector(q).text(query)
        rows = b.distance_type("cosine").select(self.cols).limit(k).to_list()
        return [r["id"] for r in rows]


class Chroma:
    def __init__(self, directory: Path, titles: Sequence[str], texts: Sequence[str], vecs: np.ndarray) -> None:
        import chromadb
        from chromadb.config import Settings

        shutil.rmtree(directory, ignore_errors=True)
        t0 = time.perf_counter()
        self.client = chromadb.PersistentClient(path=str(directory), settings=Settings(anonymized_telemetry=False))
        self.col = self.client.create_collection(
            "docs", embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
        )
        step = self.client.get_max_batch_size()
        for s in range(0, len(texts), step):
            e = min(len(texts), s + step)
            self.col.add(
                ids=[str(i) for i in range(s, e)],
                embeddings=vecs[s:e],
                documents=[(a + " " + b).strip() for a, b in zip(titles[s:e], texts[s:e], strict=True)],
                metadatas=[{"title": t or "-"} for t in titles[s:e]],
            )
        self.build_s = time.perf_counter() - t0

    def vec(self, q: np.ndarray, k: int) -> list[int]:
        r = self.col.query(query_embeddings=q[None, :], n_results=k)
        return [int(x) for x in r["ids"][0]]


# -- memvid-sdk, in a child process ------------------------------------------------------------------------


def _sdk_worker(spec: dict[str, Any], conn: Any) -> None:
    os.environ["MEMVID_TELEMETRY"] = "0"
    os.environ["TMPDIR"] = spec["tmp"]
    tempfile.tempdir = None
    try:
        import memvid_sdk

        out: dict[str, Any] = {}
        vecs = np.load(spec["vecs"])
        qvecs = np.load(spec["qvecs"])
        mem = memvid_sdk.create(spec["path"], enable_vec=True, enable_lex=True)
        try:
            requests = [
                {"title": t or "Untitled", "label": "doc", "text": x, "uri": f"doc:{i}"}
                for i, (t, x) in enumerate(zip(spec["titles"], spec["texts"], strict=True))
            ]
            t0 = time.perf_counter()
            mem.put_many(requests, embeddings=vecs.tolist())
            mem.commit()
            out["ingest_s"] = time.perf_counter() - t0
            qlists = [v.tolist() for v in qvecs]
            modes = {"lex": "lex", "vec": "sem", "hybrid": "hybrid"}
            lat: dict[str, list[float]] = {m: [] for m in modes}
            errors: dict[str, str] = {}
            for rep in range(spec["passes"] + 1):  # pass 0 is the warm-up
                for i, query in enumerate(spec["queries"]):
                    for name, mode in modes.items():
                        if name in errors:
                            continue
                        try:
                            t = time.perf_counter()
                            mem.find(query, k=LIMIT, mode=mode, query_embedding=None if name == "lex" else qlists[i])
                            if rep:
                                lat[name].append(time.perf_counter() - t)
                        except Exception as exc:
                            errors[name] = short_error(exc)
            out["latency"] = lat
            out["errors"] = errors
        finally:
            mem.close()
        conn.send(("ok", out))
    except BaseException as exc:
        conn.send(("error", short_error(exc)))
    finally:
        conn.close()


def sdk_run(c: Corpus, n: int, work: Path, passes: int, queries: int, timeout: float) -> dict[str, Any]:
    import multiprocessing

    directory = work / "sdk"
    shutil.rmtree(directory, ignore_errors=True)
    (directory / "tmp").mkdir(parents=True)
    np.save(directory / "vecs.npy", c.doc_vecs[:n])
    np.save(directory / "qvecs.npy", c.query_vecs[:queries])
    spec = {
        "path": str(directory / "sdk.mv2"),
        "tmp": str(directory / "tmp"),
        "vecs": str(directory / "vecs.npy"),
        "qvecs": str(directory / "qvecs.npy"),
        "titles": c.titles[:n],
        "texts": c.texts[:n],
        "queries": c.queries[:queries],
        "passes": passes,
    }
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_sdk_worker, args=(spec, child), daemon=True)
    proc.start()
    child.close()
    try:
        if parent.poll(timeout):
            status, value = parent.recv()
            out = value if status == "ok" else {"error": value}
        else:
            out = {"error": f"no result after {timeout:.0f} s: killed"}
    except EOFError:
        out = {"error": "worker process died without a result"}
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join()
        parent.close()
    shutil.rmtree(directory, ignore_errors=True)
    return out


# -- timing ---------------------------------------------------------------------------------------------------


def interleaved(systems: dict[str, Callable[[int], object]], nq: int, passes: int, warm: int = 10) -> dict:
    """Run every system on query i before any runs query i+1, rotating which goes first; seconds per call."""
    names = list(systems)
    for i in range(min(warm, nq)):
        for name in names:
            systems[name](i)
    lat: dict[str, list[float]] = {n: [] for n in names}
    for _ in range(passes):
        gc.collect()
        for i in range(nq):
            r = i % len(names)
            for name in names[r:] + names[:r]:
                t = time.perf_counter()
                systems[name](i)
                lat[name].append(time.perf_counter() - t)
    return {n: {"p50": p(v, 50), "p99": p(v, 99), "mean": statistics.fmean(v), "n": len(v)} for n, v in lat.items()}


def lex_pair(memvid_lex: Callable[[int], Any], tv: RawTantivy, queries: Sequence[str], nq: int, passes: int) -> dict:
    """memvid lex and raw tantivy interleaved alone, for the "lex <= 1.2x raw tantivy" target, then memvid lex and
    raw tantivy counting every match (``search(query, k)``'s default, the baseline of runs before 2026-12-04 18:00).

    In the table of every system the memvid rows run the same query on the same index one after another (hybrid
    searches it too), so each finds the index's data for that query warm in the CPU caches, while raw tantivy's
    index is read once per query: that favours memvid lex by ~10-15% at 5k. Two raw rows side by side would warm
    each other the same way, hence two pairs. A third pair reads every memvid hit's uri: hits read their batches
    when a field is first read, so "memvid lex" alone returns ids and scores, as raw tantivy does."""
    pair = interleaved({"memvid lex": memvid_lex, "raw tantivy": lambda i: tv.search(queries[i], LIMIT)}, nq, passes)
    counting = interleaved(
        {"memvid lex": memvid_lex, "raw tantivy": lambda i: tv.search(queries[i], LIMIT, count=True)}, nq, passes
    )
    pair["memvid lex (second pair)"] = counting["memvid lex"]
    pair["raw tantivy, counting matches"] = counting["raw tantivy"]
    # Hits read their batches when a field is first read: a third pair reads every hit's uri.
    fields = interleaved(
        {
            "memvid lex": lambda i: [h.uri for h in memvid_lex(i)],
            "raw tantivy": lambda i: tv.search(queries[i], LIMIT),
        },
        nq,
        passes,
    )
    pair["memvid lex, fields read (third pair)"] = fields["memvid lex"]
    pair["raw tantivy (third pair)"] = fields["raw tantivy"]
    # memvid's lexical search leaves common words out of plain queries (memvid.index.lex): the target's pair
    # runs raw tantivy with the same query.
    same = interleaved(
        {"memvid lex": memvid_lex, "raw tantivy": lambda i: tv.search(queries[i], LIMIT, common=False)}, nq, passes
    )
    pair["memvid lex (fourth pair)"] = same["memvid lex"]
    pair["raw tantivy, common words out (fourth pair)"] = same["raw tantivy"]
    return pair


def lex_ratio(pair: dict[str, Any]) -> tuple[float, float, str]:
    """memvid lex p50, raw tantivy p50 and which raw tantivy: the same query (common words out) when measured."""
    if "raw tantivy, common words out (fourth pair)" in pair:
        return (
            pair["memvid lex (fourth pair)"]["p50"],
            pair["raw tantivy, common words out (fourth pair)"]["p50"],
            "raw tantivy, same query (common words out)",
        )
    return pair["memvid lex"]["p50"], pair["raw tantivy"]["p50"], "raw tantivy"


def recall_at_k(found: Sequence[Sequence[int]], truth: np.ndarray, k: int = 10) -> float:
    return float(np.mean([len(set(list(f)[:k]) & set(t[:k].tolist())) / k for f, t in zip(found, truth, strict=True)]))


def memvid_ids(results: Any, frame_to_row: dict[int, int]) -> list[int]:
    return [frame_to_row[h.frame_id] for h in results]


# -- part 1: quality and ingest on the real sets --------------------------------------------------------------

MEMVID_MODES = {
    "lex": {"mode": "lex"},
    "vec": {"mode": "vec"},
    "hybrid rrf": {"mode": "hybrid", "fusion": "rrf"},
    "hybrid weighted 0.5": {"mode": "hybrid", "fusion": "weighted", "alpha": 0.5},
    "hybrid adaptive": {"mode": "hybrid", "fusion": "adaptive"},
}


def run_quality(c: Corpus, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    ds, out = c.ds, {"docs": len(c.texts), "queries": len(c.queries)}
    runs: dict[str, evalkit.Run] = {}
    ingest: dict[str, Any] = {}
    errors: dict[str, str] = {}

    def to_run(ranked_rows: Sequence[Sequence[int]]) -> evalkit.Run:
        return {
            qid: [(ds.doc_ids[j], float(-r)) for r, j in enumerate(rows)]
            for qid, rows in zip(ds.query_ids, ranked_rows, strict=True)
        }

    # memvid: best of `repeats` builds (the machine is shared)
    path = work / f"{c.name}.mv2"
    builds = [build_memvid(path, c.titles, c.texts, c.doc_vecs, 10**9) for _ in range(args.repeats)]
    ingest["memvid"] = {"seconds": min(b["seconds"] for b in builds), "runs_s": [b["seconds"] for b in builds]}
    frame_to_row = {int(f): i for i, f in enumerate(builds[-1]["ids"])}
    with Memvid.open(path, read_only=True) as mem:
        # adaptive fusion's calibration is computed by the commit (inside the ingest time above) and
        # recorded in its manifest; computed again here to time it apart
        cal = calibrate(vec_segments(mem._snapshot), mem._snapshot.dead)
        recorded = calibration(mem._snapshot)
        out["calibration"] = {"seconds": cal.seconds, "sampled": recorded.sampled, "gap": recorded.gap}
        for label, kw in MEMVID_MODES.items():
            rows = [
                memvid_ids(mem.search(q, vector=v, limit=100, snippet_chars=0, **kw), frame_to_row)  # type: ignore[arg-type]
                for q, v in zip(c.queries, c.query_vecs, strict=True)
            ]
            runs[f"memvid {label}"] = to_run(rows)
    tv = RawTantivy(c.titles, c.texts)
    runs["raw tantivy (memvid schema)"] = to_run([tv.search(q, 100) for q in c.queries])
    tv.close()
    tv = RawTantivy(c.titles, c.texts, one_field=True)
    runs["raw tantivy, title+text in one field"] = to_run([tv.search(q, 100) for q in c.queries])
    tv.close()
    runs["exact numpy"] = to_run(Exact(c.doc_vecs).batch(c.query_vecs, 100).tolist())
    if not args.skip_peers:
        try:
            lance = Lance(work / f"lance-{c.name}", c.titles, c.texts, c.doc_vecs)
            ingest["LanceDB"] = {"seconds": lance.build_s}
            runs["LanceDB vector"] = to_run([lance.vec(v, 100) for v in c.query_vecs])
            runs["LanceDB FTS"] = to_run([lance.fts(q, 100) for q in c.queries])
            runs["LanceDB hybrid (RRF)"] = to_run(
                [lance.hybrid(q, v, 100) for q, v in zip(c.queries, c.query_vecs, strict=True)]
            )
        except Exception as exc:
            errors["LanceDB"] = short_error(exc)
        try:
            chroma = Chroma(work / f"chroma-{c.name}", c.titles, c.texts, c.doc_vecs)
            ingest["Chroma"] = {"seconds": chroma.build_s}
            runs["Chroma vector"] = to_run([chroma.vec(v, 100) for v in c.query_vecs])
            del chroma
        except Exception as exc:
            errors["Chroma"] = short_error(exc)
    out["metrics"] = {name: evalkit.evaluate(ds, run) for name, run in runs.items()}
    out["ingest"] = ingest
    out["errors"] = errors
    return out


# -- part 2: latency at 5k, every system interleaved ------------------------------------------------------------


def run_latency_5k(c: Corpus, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    path = work / f"{c.name}.mv2"
    if not path.exists():
        build_memvid(path, c.titles, c.texts, c.doc_vecs, 10**9)
    nq = min(args.queries, len(c.queries))
    qs, vs = c.queries, c.query_vecs
    out: dict[str, Any] = {"queries": nq, "passes": args.passes}
    mem = Memvid.open(path, read_only=True)
    tv = RawTantivy(c.titles, c.texts)
    exact = Exact(c.doc_vecs)
    us = UsearchAlone(c.doc_vecs, "f16")
    systems: dict[str, Callable[[int], object]] = {
        "memvid lex": lambda i: mem.search(qs[i], vector=vs[i], mode="lex", limit=LIMIT),
        # Snippets are made when first read: this row reads them, as a UI showing the hits would.
        "memvid lex, snippets read": lambda i: [
            h.snippet for h in mem.search(qs[i], vector=vs[i], mode="lex", limit=LIMIT)
        ],
        "memvid vec": lambda i: mem.search(qs[i], vector=vs[i], mode="vec", limit=LIMIT),
        # Hits read their batches when a field is first read: these rows read every hit's uri.
        "memvid vec, fields read": lambda i: [h.uri for h in mem.search(qs[i], vector=vs[i], mode="vec", limit=LIMIT)],
        HYBRID_DEFAULT: lambda i: mem.search(qs[i], vector=vs[i], mode="hybrid", limit=LIMIT),
        HYBRID_DEFAULT + ", fields read": lambda i: [
            h.uri for h in mem.search(qs[i], vector=vs[i], mode="hybrid", limit=LIMIT)
        ],
        "memvid hybrid rrf": lambda i: mem.search(qs[i], vector=vs[i], mode="hybrid", fusion="rrf", limit=LIMIT),
        "memvid hybrid weighted": lambda i: mem.search(
            qs[i], vector=vs[i], mode="hybrid", fusion="weighted", limit=LIMIT
        ),
        "memvid hybrid rrf, no snippets": lambda i: mem.search(
            qs[i], vector=vs[i], mode="hybrid", fusion="rrf", limit=LIMIT, snippet_chars=0
        ),
        "raw tantivy": lambda i: tv.search(qs[i], LIMIT),
        "raw tantivy, common words out": lambda i: tv.search(qs[i], LIMIT, common=False),
        "exact numpy": lambda i: exact.search(vs[i], LIMIT),
        "usearch alone (f16)": lambda i: us.search(vs[i], LIMIT),
    }
    errors: dict[str, str] = {}
    if not args.skip_peers:
        try:
            lance = Lance(work / f"lance-lat-{c.name}", c.titles, c.texts, c.doc_vecs)
            systems["LanceDB vector"] = lambda i: lance.vec(vs[i], LIMIT)
            systems["LanceDB FTS"] = lambda i: lance.fts(qs[i], LIMIT)
            systems["LanceDB hybrid"] = lambda i: lance.hybrid(qs[i], vs[i], LIMIT)
        except Exception as exc:
            errors["LanceDB"] = short_error(exc)
        try:
            chroma = Chroma(work / f"chroma-lat-{c.name}", c.titles, c.texts, c.doc_vecs)
            systems["Chroma vector"] = lambda i: chroma.vec(vs[i], LIMIT)
        except Exception as exc:
            errors["Chroma"] = short_error(exc)
    log(f"latency at 5k: {len(systems)} systems x {nq} queries x {args.passes} passes, interleaved")
    out["latency"] = interleaved(systems, nq, args.passes)
    out["lex_pair"] = lex_pair(systems["memvid lex"], tv, qs, nq, args.passes)
    out["errors"] = errors
    mem.close()
    tv.close()
    if not args.skip_peers and args.sdk_docs > 0:
        n = min(args.sdk_docs, len(c.texts))
        log(f"memvid-sdk: put_many of {n} docs + find x {nq} queries x 3 modes, in a child process")
        sdk = sdk_run(c, n, work, args.passes, nq, args.sdk_timeout)
        # memvid on the same subset, right after, for a like-for-like ratio
        sub = work / "subset.mv2"
        build = build_memvid(sub, c.titles[:n], c.texts[:n], c.doc_vecs[:n], 10**9)
        with Memvid.open(sub, read_only=True) as m2:
            lat = interleaved(
                {
                    "lex": lambda i: m2.search(qs[i], vector=vs[i], mode="lex", limit=LIMIT),
                    "vec": lambda i: m2.search(qs[i], vector=vs[i], mode="vec", limit=LIMIT),
                    "hybrid": lambda i: m2.search(qs[i], vector=vs[i], mode="hybrid", limit=LIMIT),
                },
                nq,
                args.passes,
            )
        sdk_lat = {k: {"p50": p(v, 50), "p99": p(v, 99), "n": len(v)} for k, v in sdk.get("latency", {}).items() if v}
        out["sdk"] = {
            "docs": n,
            "ingest_s": sdk.get("ingest_s"),
            "memvid_ingest_s": build["seconds"],
            "error": sdk.get("error"),
            "errors": sdk.get("errors", {}),
            "latency": sdk_lat,
            "memvid_latency": lat,
        }
    return out


# -- part 3: synthetic scale -------------------------------------------------------------------------------------


def scale_data(
    n: int, kind: str, pool: list[Corpus], seed: int
) -> tuple[list[str], list[str], np.ndarray, list[str], np.ndarray]:
    """Titles, texts, unit vectors for ``n`` frames, and (query text, query vector) pairs."""
    rng = np.random.default_rng(seed)
    if kind == "random":
        texts = synthetic_texts(0, n, seed=seed)
        vecs = np.empty((n, DIM), dtype=np.float32)
        for s in range(0, n, 100_000):
            e = min(n, s + 100_000)
            vecs[s:e] = unit(rng.standard_normal((e - s, DIM), dtype=np.float32))
        qv = unit(rng.standard_normal((400, DIM), dtype=np.float32))
        words = synthetic_texts(10**8, 400, seed=seed + 1)
        qt = [" ".join(t.split()[2:5]) for t in words]
        return [""] * n, texts, vecs, qt, qv
    src_titles = [t for c in pool for t in c.titles]
    src_texts = [t for c in pool for t in c.texts]
    src = np.vstack([c.doc_vecs for c in pool])
    m = len(src)
    rows = np.concatenate([np.arange(min(n, m)), rng.integers(0, m, size=max(0, n - m))])
    # noise of norm s orthogonal-ish to the source: cos = 1 / sqrt(1 + s^2)
    s = float(np.sqrt(1 / PERTURB_COS**2 - 1))
    vecs = np.empty((n, DIM), dtype=np.float32)
    for a in range(0, n, 100_000):
        b = min(n, a + 100_000)
        chunk = src[rows[a:b]].copy()
        extra = np.arange(a, b) >= m
        noise = rng.standard_normal((int(extra.sum()), DIM), dtype=np.float32) * (s / np.sqrt(DIM))
        chunk[extra] += noise
        vecs[a:b] = unit(chunk)
    qt = [q for c in pool for q in c.queries]
    qv = np.vstack([c.query_vecs for c in pool])
    return [src_titles[r] for r in rows], [src_texts[r] for r in rows], vecs, qt, qv


def run_scale(n: int, pool: list[Corpus], work: Path, args: argparse.Namespace) -> dict[str, Any]:
    kind = args.scale_vectors
    log(f"scale {human_count(n)}: making {kind} data")
    titles, texts, vecs, qt, qv = scale_data(n, kind, pool, seed=n)
    nq = min(args.queries, len(qt))
    out: dict[str, Any] = {"frames": n, "vectors": kind, "queries": nq}
    truth = Exact(vecs).batch(qv[:nq], LIMIT)
    path = work / f"scale-{n}.mv2"
    log(f"scale {human_count(n)}: memvid put_many + commit (batches of {args.build_batch:,})")
    b = build_memvid(path, titles, texts, vecs, args.build_batch)
    frame_to_row = {int(f): i for i, f in enumerate(b["ids"])}
    out["memvid"] = {"build_s": b["seconds"], "segments": b["segments"], "bytes": path.stat().st_size}
    log(f"scale {human_count(n)}: memvid built in {b['seconds']:.1f} s ({b['segments']} segments)")
    log(f"scale {human_count(n)}: build_hnsw alone (memvid's HNSW build, one segment)")
    t0 = time.perf_counter()
    build_hnsw(np.arange(n, dtype=np.uint64), vecs, "f16")
    out["build_hnsw"] = {"build_s": time.perf_counter() - t0}
    log(f"scale {human_count(n)}: build_hnsw in {out['build_hnsw']['build_s']:.1f} s")
    faiss_all: dict[int, FaissHnsw] = {}
    for efc in dict.fromkeys([FAISS_EFC, *args.faiss_efc]):
        log(f"scale {human_count(n)}: FAISS IndexHNSWFlat M={CONNECTIVITY} efC={efc}")
        faiss_all[efc] = FaissHnsw(vecs, efc)
        out["faiss" if efc == FAISS_EFC else f"faiss_efc{efc}"] = {"build_s": faiss_all[efc].build_s, "efc": efc}
        log(f"scale {human_count(n)}: FAISS built in {faiss_all[efc].build_s:.1f} s")
    faiss_ix = faiss_all[FAISS_EFC]
    alone: dict[str, UsearchAlone] = {}
    for dt in args.usearch_dtypes:
        log(f"scale {human_count(n)}: usearch alone, {dt}")
        alone[dt] = UsearchAlone(vecs, dt)
        out[f"usearch_{dt}"] = {"build_s": alone[dt].build_s}
        log(f"scale {human_count(n)}: usearch {dt} built in {alone[dt].build_s:.1f} s")
    log(f"scale {human_count(n)}: raw tantivy (memvid schema)")
    tv = RawTantivy(titles, texts)
    out["raw_tantivy"] = {"build_s": tv.build_s}
    mem = Memvid.open(path, read_only=True)
    recall = {
        "memvid vec": recall_at_k(
            [memvid_ids(mem.search(vector=qv[i], mode="vec", limit=LIMIT), frame_to_row) for i in range(nq)], truth
        ),
        "FAISS HNSW": recall_at_k([faiss_ix.search(qv[i], LIMIT).tolist() for i in range(nq)], truth),
    }
    for efc, ix in faiss_all.items():
        if efc != FAISS_EFC:
            recall[f"FAISS HNSW efC {efc}"] = recall_at_k([ix.search(qv[i], LIMIT).tolist() for i in range(nq)], truth)
    for dt, ix in alone.items():
        recall[f"usearch alone ({dt})"] = recall_at_k([ix.search(qv[i], LIMIT).tolist() for i in range(nq)], truth)
    out["recall@10"] = recall
    exact = Exact(vecs)
    systems: dict[str, Callable[[int], object]] = {
        "memvid lex": lambda i: mem.search(qt[i], vector=qv[i], mode="lex", limit=LIMIT),
        "memvid lex, snippets read": lambda i: [
            h.snippet for h in mem.search(qt[i], vector=qv[i], mode="lex", limit=LIMIT)
        ],
        "memvid vec": lambda i: mem.search(qt[i], vector=qv[i], mode="vec", limit=LIMIT),
        "memvid vec, fields read": lambda i: [h.uri for h in mem.search(qt[i], vector=qv[i], mode="vec", limit=LIMIT)],
        HYBRID_DEFAULT: lambda i: mem.search(qt[i], vector=qv[i], mode="hybrid", limit=LIMIT),
        HYBRID_DEFAULT + ", fields read": lambda i: [
            h.uri for h in mem.search(qt[i], vector=qv[i], mode="hybrid", limit=LIMIT)
        ],
        "memvid hybrid rrf": lambda i: mem.search(qt[i], vector=qv[i], mode="hybrid", fusion="rrf", limit=LIMIT),
        "memvid hybrid weighted": lambda i: mem.search(
            qt[i], vector=qv[i], mode="hybrid", fusion="weighted", limit=LIMIT
        ),
        "memvid hybrid rrf, no snippets": lambda i: mem.search(
            qt[i], vector=qv[i], mode="hybrid", fusion="rrf", limit=LIMIT, snippet_chars=0
        ),
        "raw tantivy": lambda i: tv.search(qt[i], LIMIT),
        "raw tantivy, common words out": lambda i: tv.search(qt[i], LIMIT, common=False),
        "exact numpy": lambda i: exact.search(qv[i], LIMIT),
        "FAISS HNSW": lambda i: faiss_ix.search(qv[i], LIMIT),
    }
    for dt, ix in alone.items():
        systems[f"usearch alone ({dt})"] = lambda i, ix=ix: ix.search(qv[i], LIMIT)
    log(f"scale {human_count(n)}: latency, {len(systems)} systems x {nq} queries x {args.passes} passes")
    out["latency"] = interleaved(systems, nq, args.passes)
    out["lex_pair"] = lex_pair(systems["memvid lex"], tv, qt, nq, args.passes)
    mem.close()
    tv.close()
    path.unlink(missing_ok=True)
    return out


def run_real_recall(pool: list[Corpus], work: Path) -> dict[str, Any]:
    """Recall@10 on the 15,183 real vectors of the three sets pooled (one segment >= 8192 rows: HNSW)."""
    titles = [t for c in pool for t in c.titles]
    texts = [t for c in pool for t in c.texts]
    vecs = np.vstack([c.doc_vecs for c in pool])
    qv = np.vstack([c.query_vecs for c in pool])
    truth = Exact(vecs).batch(qv, LIMIT)
    path = work / "real-pool.mv2"
    b = build_memvid(path, titles, texts, vecs, 10**9)
    frame_to_row = {int(f): i for i, f in enumerate(b["ids"])}
    out: dict[str, Any] = {"frames": len(vecs), "queries": len(qv), "memvid_build_s": b["seconds"]}
    with Memvid.open(path, read_only=True) as mem:
        rec = {
            "memvid vec (HNSW f16)": recall_at_k(
                [memvid_ids(mem.search(vector=v, mode="vec", limit=LIMIT), frame_to_row) for v in qv], truth
            )
        }
    f = FaissHnsw(vecs)
    rec["FAISS HNSW"] = recall_at_k([f.search(v, LIMIT).tolist() for v in qv], truth)
    out["build_s"] = {"FAISS HNSW": f.build_s}
    for dt in ("f32", "f16", "i8", "f16@64"):
        u = UsearchAlone(vecs, dt)
        rec[f"usearch alone ({dt})"] = recall_at_k([u.search(v, LIMIT).tolist() for v in qv], truth)
        out["build_s"][f"usearch alone ({dt})"] = u.build_s
    out["recall@10"] = rec
    path.unlink(missing_ok=True)
    return out


# -- targets and report -------------------------------------------------------------------------------------------


def hybrid_p50(lat: dict[str, Any]) -> tuple[str, float, str]:
    """The hybrid target reads the default fusion's row (RRF in runs made before adaptive became the default)."""
    if HYBRID_DEFAULT in lat:
        rrf = lat.get("memvid hybrid rrf")
        return "default fusion", lat[HYBRID_DEFAULT]["p50"], f"rrf {fmt_ms(rrf['p50'])} ms" if rrf else ""
    return "rrf", lat["memvid hybrid rrf"]["p50"], ""


def evaluate_targets(res: dict[str, Any]) -> list[dict[str, Any]]:
    t: list[dict[str, Any]] = []

    def add(name: str, measured: str, ok: bool | None, note: str = "") -> None:
        t.append(
            {
                "target": name,
                "measured": measured,
                "status": "n/a" if ok is None else ("PASS" if ok else "FAIL"),
                "note": note,
            }
        )

    for name, q in res.get("quality", {}).items():
        m = q["metrics"]
        best = max(m["memvid lex"]["ndcg@10"], m["memvid vec"]["ndcg@10"])
        for fusion in ("hybrid rrf", "hybrid weighted 0.5", "hybrid adaptive"):
            h = m[f"memvid {fusion}"]["ndcg@10"]
            add(f"{name}: memvid {fusion} nDCG@10 >= max(lex, vec)", f"{h:.3f} vs {best:.3f}", h >= best)
            peer = m.get("LanceDB hybrid (RRF)")
            if peer:
                add(
                    f"{name}: memvid {fusion} >= LanceDB hybrid",
                    f"{h:.3f} vs {peer['ndcg@10']:.3f}",
                    h >= peer["ndcg@10"],
                )
        if name == LATENCY_SET:
            s = q["ingest"]["memvid"]["seconds"]
            add("SciFact ingest, both indexes, vectors supplied <= 1.5 s", f"{s:.2f} s", s <= TARGET_INGEST_S)
            for peer, v in q["ingest"].items():
                if peer != "memvid":
                    add(f"SciFact ingest faster than {peer}", f"{s:.2f} s vs {v['seconds']:.2f} s", s < v["seconds"])
    lat = res.get("latency_5k", {}).get("latency", {})
    if lat:

        def p50(k: str) -> float | None:
            return lat[k]["p50"] if k in lat else None

        r = p50("memvid vec") / p50("exact numpy")  # type: ignore[operator]
        add(
            "5k: vec p50 <= 2.5x exact numpy",
            f"{r:.2f}x ({fmt_ms(p50('memvid vec'))} vs {fmt_ms(p50('exact numpy'))} ms)",
            r <= TARGET_VEC_VS_NUMPY,
        )
        a, b, raw = lex_ratio(res["latency_5k"].get("lex_pair", lat))
        add(
            f"5k: lex p50 <= 1.2x {raw} (the two alone, interleaved)",
            f"{a / b:.2f}x ({fmt_ms(a)} vs {fmt_ms(b)} ms)",
            a / b <= TARGET_LEX_VS_TANTIVY,
        )
        name, h, note = hybrid_p50(lat)
        add(f"5k: hybrid p50 < 2 ms ({name})", f"{fmt_ms(h)} ms", ms(h) < TARGET_HYBRID_P50_MS[5_000], note)
        peers = {"lex": ["LanceDB FTS"], "vec": ["LanceDB vector", "Chroma vector"], "hybrid rrf": ["LanceDB hybrid"]}
        for mode, names in peers.items():
            for peer in names:
                if peer in lat:
                    a, b = p50(f"memvid {mode}"), p50(peer)
                    add(f"5k: memvid {mode} faster than {peer}", f"{fmt_ms(a)} vs {fmt_ms(b)} ms", a < b)  # type: ignore[operator]
        sdk = res["latency_5k"].get("sdk")
        if sdk:
            for mode in ("lex", "vec", "hybrid"):
                a = sdk["memvid_latency"][mode]["p50"]
                b = sdk["latency"].get(mode, {}).get("p50")
                if b is None:
                    add(
                        f"{sdk['docs']} docs: memvid {mode} faster than memvid-sdk",
                        "memvid-sdk failed",
                        None,
                        sdk["errors"].get(mode) or sdk.get("error") or "",
                    )
                else:
                    add(
                        f"{sdk['docs']} docs: memvid {mode} faster than memvid-sdk",
                        f"{fmt_ms(a)} vs {fmt_ms(b)} ms",
                        a < b,
                    )
    for sc in res.get("scale", []):
        n = sc["frames"]
        name, h, note = hybrid_p50(sc["latency"])
        goal = TARGET_HYBRID_P50_MS.get(n)
        if goal:
            add(f"{human_count(n)}: hybrid p50 < {goal:g} ms ({name})", f"{fmt_ms(h)} ms", ms(h) < goal, note)
        a, b, raw = lex_ratio(sc.get("lex_pair", sc["latency"]))
        add(
            f"{human_count(n)}: lex p50 <= 1.2x {raw} (the two alone, interleaved)",
            f"{a / b:.2f}x ({fmt_ms(a)} vs {fmt_ms(b)} ms)",
            a / b <= TARGET_LEX_VS_TANTIVY,
        )
        a, b = sc["memvid"]["build_s"], sc["faiss"]["build_s"]
        same = sc.get(f"faiss_efc{EXPANSION_ADD}")
        add(
            f"{human_count(n)}: capsule build (lex + HNSW) < FAISS-HNSW build (efConstruction {FAISS_EFC})",
            f"{a:.1f} s vs {b:.1f} s ({a / b:.2f}x)",
            a < b,
            ""
            if same is None
            else f"FAISS at efConstruction {EXPANSION_ADD}: {same['build_s']:.1f} s ({a / same['build_s']:.2f}x)",
        )
        rc = sc["recall@10"]["memvid vec"]
        add(
            f"{human_count(n)} ({sc['vectors']}): memvid vec recall@10 >= 0.95",
            f"{rc:.3f}",
            rc >= TARGET_RECALL if sc["vectors"] != "random" else None,
            "random vectors: not the target's data" if sc["vectors"] == "random" else "",
        )
    rr = res.get("real_recall")
    if rr:
        rc = rr["recall@10"]["memvid vec (HNSW f16)"]
        add("real 15k vectors: memvid vec recall@10 >= 0.95", f"{rc:.3f}", rc >= TARGET_RECALL)
    return t


def report(res: dict[str, Any]) -> str:
    out: list[str] = []
    mi = res["machine"]
    out.append("# memvid search benchmark\n")
    out.append(
        f"{mi['date']}; {mi['cpu']}, {mi['usable_cores']} usable cores; load average at start "
        f"{mi['loadavg_at_start']}, at end {res.get('loadavg_at_end')}; python {mi['python']}; "
        + ", ".join(f"{k} {v}" for k, v in res["versions"].items())
        + "\n"
    )
    if res.get("quality"):
        out.append("## Quality: nDCG@10 / Recall@100 (same vectors everywhere)\n")
        names = list(res["quality"])
        systems: list[str] = []
        for q in res["quality"].values():
            systems += [s for s in q["metrics"] if s not in systems]
        rows = []
        for s in systems:
            cells = []
            for n in names:
                m = res["quality"][n]["metrics"].get(s)
                cells.append(f"{m['ndcg@10']:.3f} / {m['recall@100']:.3f}" if m else "—")
            rows.append([s, *cells])
        rows.append(["Chroma FTS / hybrid", *["not offered by local Chroma" for _ in names]])
        out.append(
            md_table(
                [
                    "system, mode",
                    *[f"{n} ({res['quality'][n]['docs']:,} docs, {res['quality'][n]['queries']} q)" for n in names],
                ],
                rows,
            )
        )
        cal = {n: q["calibration"] for n, q in res["quality"].items() if q.get("calibration")}
        if cal:
            out.append(
                "\nAdaptive fusion's calibration (computed by the commit that grows the capsule by more than a "
                "tenth, recorded in its manifest): "
                + "; ".join(
                    f"{n} {c['seconds'] * 1000:.0f} ms for {c['sampled']} sampled frames (gap {c['gap']:.3f})"
                    for n, c in cal.items()
                )
                + "."
            )
        errs = {n: q["errors"] for n, q in res["quality"].items() if q["errors"]}
        if errs:
            out.append(f"\nPeer failures: {errs}")
        out.append("\n## Ingest with both indexes built, vectors supplied (seconds)\n")
        peers = sorted({p for q in res["quality"].values() for p in q["ingest"]}, key=lambda x: (x != "memvid", x))
        rows = [[pname, *[fmt_s(res["quality"][n]["ingest"].get(pname)) for n in names]] for pname in peers]
        out.append(md_table(["system", *names], rows))
        out.append(
            "\nmemvid: `put_many(pyarrow table)` + one `commit()` (tantivy + vectors; no HNSW below 8,192 rows), "
            "best of the repeats; LanceDB: `create_table` + FTS index on title+text; Chroma: `add` in max-size batches "
            "(HNSW built as it goes)."
        )
    lt = res.get("latency_5k")
    if lt:
        out.append(
            f"\n## Latency at 5k: SciFact, limit {LIMIT}, {lt['queries']} queries x {lt['passes']} passes, "
            "interleaved (ms)\n"
        )
        rows = [[k, fmt_ms(v["p50"]), fmt_ms(v["p99"]), fmt_ms(v["mean"])] for k, v in lt["latency"].items()]
        out.append(md_table(["system, mode", "p50", "p99", "mean"], rows))
        out.append(lex_pair_table(lt))
        if lt["errors"]:
            out.append(f"\nPeer failures: {lt['errors']}")
        sdk = lt.get("sdk")
        if sdk:
            out.append(f"\n### memvid-sdk vs memvid on the first {sdk['docs']} SciFact docs (ms)\n")
            if sdk.get("error"):
                out.append(f"memvid-sdk FAILED: {sdk['error']}\n")
            rows = []
            for mode in ("lex", "vec", "hybrid"):
                s = sdk["latency"].get(mode)
                m = sdk["memvid_latency"][mode]
                rows.append(
                    [
                        mode,
                        fmt_ms(m["p50"]),
                        fmt_ms(m["p99"]),
                        fmt_ms(s["p50"]) if s else "FAILED: " + sdk["errors"].get(mode, sdk.get("error") or "?"),
                        fmt_ms(s["p99"]) if s else "—",
                    ]
                )
            out.append(md_table(["mode", "memvid p50", "memvid p99", "memvid-sdk find p50", "memvid-sdk p99"], rows))
            ing = sdk.get("ingest_s")
            out.append(
                f"\nIngest of those docs: memvid {sdk['memvid_ingest_s']:.2f} s, memvid-sdk "
                + (f"{ing:.1f} s" if ing else "—")
                + " (memvid-sdk modes: `lex`, `sem` with `query_embedding`, `hybrid` with `query_embedding`)."
            )
    for sc in res.get("scale", []):
        n = human_count(sc["frames"])
        out.append(
            f"\n## {n} frames ({sc['vectors']} vectors), {sc['queries']} queries x {res['config']['passes']} passes\n"
        )
        rows = [
            [
                "memvid capsule (put_many + commit: tantivy + HNSW f16)",
                f"{sc['memvid']['build_s']:.1f}",
                f"{sc['recall@10']['memvid vec']:.3f}",
                f"{sc['memvid']['segments']} segments",
            ]
        ]
        rows.append(
            [
                "memvid `build_hnsw` alone (HNSW f16 only, same code as the commit)",
                f"{sc['build_hnsw']['build_s']:.1f}",
                "",
                f"M {CONNECTIVITY}, expansion_add {EXPANSION_ADD}",
            ]
        )
        rows.append(
            [
                "FAISS IndexHNSWFlat (HNSW only)",
                f"{sc['faiss']['build_s']:.1f}",
                f"{sc['recall@10']['FAISS HNSW']:.3f}",
                f"M {CONNECTIVITY}, efConstruction {FAISS_EFC} (the reference)",
            ]
        )
        for key, v in sc.items():
            if key.startswith("faiss_efc"):
                rows.append(
                    [
                        "FAISS IndexHNSWFlat (HNSW only)",
                        f"{v['build_s']:.1f}",
                        f"{sc['recall@10']['FAISS HNSW efC ' + str(v['efc'])]:.3f}",
                        f"M {CONNECTIVITY}, efConstruction {v['efc']}",
                    ]
                )
        rows.append(["raw tantivy, memvid schema (lexical only)", f"{sc['raw_tantivy']['build_s']:.1f}", "", ""])
        for dt in res["config"]["usearch_dtypes"]:
            rows.append(
                [
                    f"usearch alone {dt} (HNSW only)",
                    f"{sc[f'usearch_{dt}']['build_s']:.1f}",
                    f"{sc['recall@10'][f'usearch alone ({dt})']:.3f}",
                    "",
                ]
            )
        out.append(md_table(["build", "seconds", "recall@10 vs exact", "note"], rows))
        out.append("")
        rows = [[k, fmt_ms(v["p50"]), fmt_ms(v["p99"]), fmt_ms(v["mean"])] for k, v in sc["latency"].items()]
        out.append(md_table(["system, mode (ms)", "p50", "p99", "mean"], rows))
        out.append(lex_pair_table(sc))
    rr = res.get("real_recall")
    if rr:
        out.append(
            f"\n## Vector recall@10 on real embeddings: the three sets pooled ({rr['frames']:,} vectors, "
            f"{rr['queries']} queries)\n"
        )
        rows = [
            [k, f"{v:.3f}", f"{rr['build_s'].get(k, rr['memvid_build_s'] if k.startswith('memvid') else 0):.2f}"]
            for k, v in rr["recall@10"].items()
        ]
        out.append(md_table(["index", "recall@10", "build s"], rows))
        out.append("\n(memvid's build time includes tantivy and the whole capsule write.)")
    out.append("\n## Targets\n")
    out.append(
        md_table(
            ["target", "measured", "status", "note"],
            [[x["target"], x["measured"], x["status"], x["note"]] for x in res["targets"]],
        )
    )
    return "\n".join(out)


def lex_pair_table(part: dict[str, Any]) -> str:
    pair = part.get("lex_pair")
    if not pair:
        return ""
    rows = [[k, fmt_ms(v["p50"]), fmt_ms(v["p99"]), fmt_ms(v["mean"])] for k, v in pair.items()]
    ratio = pair["memvid lex"]["p50"] / pair["raw tantivy"]["p50"]
    out = (
        "\nmemvid lex and raw tantivy, two by two, interleaved (ms):\n\n"
        + md_table(["system", "p50", "p99", "mean"], rows)
        + f"\n\nmemvid lex / raw tantivy p50: {ratio:.2f}x"
    )
    if "raw tantivy, counting matches" in pair:
        counting = pair["memvid lex (second pair)"]["p50"] / pair["raw tantivy, counting matches"]["p50"]
        out += f"; / raw tantivy counting matches: {counting:.2f}x"
    if "memvid lex, fields read (third pair)" in pair:
        fields = pair["memvid lex, fields read (third pair)"]["p50"] / pair["raw tantivy (third pair)"]["p50"]
        out += f"; memvid lex reading every hit's uri / raw tantivy: {fields:.2f}x"
    if "raw tantivy, common words out (fourth pair)" in pair:
        a, b, _ = lex_ratio(pair)
        out += f"; / raw tantivy with the same query, common words out (the target's ratio): {a / b:.2f}x"
    return out


def fmt_s(v: dict[str, Any] | None) -> str:
    return "—" if v is None else f"{v['seconds']:.2f}"


# -- main ------------------------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke run: SciFact only, fewer queries, 20k scale")
    ap.add_argument(
        "--sizes",
        nargs="+",
        type=parse_size,
        help="5k (the real sets) and synthetic sizes (5k 100k; quick 5k 20k); 1M when asked",
    )
    ap.add_argument(
        "--sets", nargs="+", choices=list(evalkit.DATASETS), help="real sets for quality (all three; quick scifact)"
    )
    ap.add_argument(
        "--scale-vectors", choices=["perturbed", "random"], default="perturbed", help="synthetic vectors (%(default)s)"
    )
    ap.add_argument(
        "--usearch-dtypes",
        nargs="*",
        default=None,
        help="usearch-alone builds at scale: dtype[@expansion_add] (f16 i8 f16@64; quick f16)",
    )
    ap.add_argument(
        "--faiss-efc",
        nargs="*",
        type=int,
        default=[EXPANSION_ADD],
        help=f"FAISS builds at scale besides efConstruction {FAISS_EFC}: more efConstruction values (%(default)s)",
    )
    ap.add_argument("--queries", type=int, help="queries per latency measurement (300; quick 100)")
    ap.add_argument("--passes", type=int, help="passes over the queries (2; quick 1)")
    ap.add_argument("--repeats", type=int, help="memvid ingest repeats, best reported (3; quick 1)")
    ap.add_argument("--build-batch", type=int, default=100_000, help="frames per commit at scale (%(default)s)")
    ap.add_argument("--cache-dir", type=Path, default=DEFAULT_EMBED_CACHE, help="vector cache (%(default)s)")
    ap.add_argument(
        "--check-cache", type=int, default=2, help="re-embed this many cached docs per set to check (%(default)s)"
    )
    ap.add_argument("--skip-peers", action="store_true", help="no LanceDB, Chroma or memvid-sdk")
    ap.add_argument("--skip-quality", action="store_true", help="latency only: no quality or ingest tables at 5k")
    ap.add_argument("--sdk-docs", type=int, help="memvid-sdk subset (300; quick 50; 0 to skip)")
    ap.add_argument("--sdk-timeout", type=float, default=900.0, help="kill memvid-sdk after (%(default)s s)")
    ap.add_argument("--work-dir", type=Path, help="scratch directory (default: a fresh temp dir, removed at the end)")
    ap.add_argument("--json", type=Path, metavar="PATH", help="also write the results as JSON")
    ap.add_argument("--strict", action="store_true", help="exit 1 if a target fails")
    args = ap.parse_args(argv)
    q = args.quick
    defaults = {
        "sizes": [5_000, 20_000] if q else [5_000, 100_000],
        "sets": ["scifact"] if q else list(evalkit.DATASETS),
        "usearch_dtypes": ["f16"] if q else ["f16", "i8", "f16@64"],
        "queries": 100 if q else 300,
        "passes": 1 if q else 2,
        "repeats": 1 if q else 3,
        "sdk_docs": 50 if q else 300,
    }
    for k, v in defaults.items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    own = args.work_dir is None
    work = Path(tempfile.mkdtemp(prefix="memvid-bench-search-")) if own else args.work_dir
    work.mkdir(parents=True, exist_ok=True)
    threadpool_limits(limits=1, user_api="blas")  # one query is a matrix-vector product: one thread (as memvid does)
    res: dict[str, Any] = {
        "command": " ".join(["MEMVID_TELEMETRY=0 python benchmarks/bench_search.py", *(argv or sys.argv[1:])]),
        "machine": machine_info(work),
        "versions": {
            d: version_of(d)
            for d in ("memvid-capsule", "tantivy", "usearch", "faiss-cpu", "lancedb", "chromadb", "memvid-sdk", "numpy")
        },
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
    }
    t0 = time.perf_counter()
    try:
        sets = list(dict.fromkeys([*args.sets, LATENCY_SET]))
        corpora: dict[str, Corpus] = {}
        res["vectors"] = {}
        for name in sets:
            corpora[name], res["vectors"][name] = load_corpus(name, args.cache_dir, args.check_cache)
            c = corpora[name]
            log(f"{name}: {len(c.texts):,} docs, {len(c.queries)} queries, vectors {res['vectors'][name]}")
        if 5_000 in args.sizes:
            res["quality"] = {}
            for name in [] if args.skip_quality else args.sets:
                log(f"quality: {name}")
                res["quality"][name] = run_quality(corpora[name], work, args)
            res["latency_5k"] = run_latency_5k(corpora[LATENCY_SET], work, args)
        pool = [corpora[n] for n in evalkit.DATASETS if n in corpora]
        if len(pool) == len(evalkit.DATASETS):
            log("recall on the pooled real vectors")
            res["real_recall"] = run_real_recall(pool, work)
        res["scale"] = [run_scale(n, pool, work, args) for n in sorted(args.sizes) if n != 5_000]
    finally:
        if own:
            shutil.rmtree(work, ignore_errors=True)
    res["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    res["targets"] = evaluate_targets(res)
    res["elapsed_s"] = time.perf_counter() - t0
    print(report(res))
    print(f"\n(benchmark took {res['elapsed_s']:.0f} s)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=2, default=str) + "\n")
        log(f"wrote {args.json}")
    return 1 if args.strict and any(x["status"] == "FAIL" for x in res["targets"]) else 0


if __name__ == "__main__":
    sys.exit(main())
