#!/usr/bin/env python
"""The engine benchmark: memvid side by side with LanceDB and memvid-sdk, on the same data, in one run.

    MEMVID_TELEMETRY=0 .venv/bin/python benchmarks/bench_engine.py            # full run (builds a 1M-frame capsule)
    MEMVID_TELEMETRY=0 .venv/bin/python benchmarks/bench_engine.py --quick    # smoke run, under ~2 minutes

It measures

1. ingest of BEIR SciFact (5,183 docs) with caller-supplied 384-d float32 vectors (numpy ``default_rng(0)``
   normal, L2-normalised; the same vectors for every system): memvid in one commit and in one commit per doc,
   LanceDB in one ``create_table`` (also followed by a full-text index, since memvid's commit builds one) and in
   1-row ``add`` calls, memvid-sdk ``put_many`` on a subset (in a child process, killed if it hangs);
2. ``Memvid.open(path, read_only=True)`` + ``close()`` and a first ``get()`` on capsules of 10k/100k/1M frames;
3. one-frame commits (``put`` + ``commit``) into the largest of those capsules.

Every timed ingest starts from the same in-memory Python objects (the parsed corpus and one numpy matrix) and
ends when the system's write call has returned: for memvid that includes ``commit()`` and its fdatasyncs;
LanceDB's local writer does not fsync. Machines here are shared and noisy, so the tables report medians and
ratios. Results go to stdout as markdown tables, progress to stderr, and with ``--json PATH`` to a file.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import importlib.metadata
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from memvid import Memvid

# memvid-sdk sends anonymous telemetry unless this is "0"; it must be set before memvid_sdk is imported
# (it is imported lazily, in sdk_put_many).
os.environ["MEMVID_TELEMETRY"] = "0"

DEFAULT_CORPUS = Path("/work/shared/data/scifact/corpus.jsonl")
DEFAULT_CACHE = Path(tempfile.gettempdir()) / "memvid-bench-cache"
DIM = 384
RECIPE = 1  # bump when the synthetic capsule recipe changes, so cached capsules are rebuilt

TARGET_INGEST_RATIO = 2.0  # memvid one-commit ingest docs/s >= 2x LanceDB's one-add docs/s
TARGET_BYTES_RATIO = 1.0  # memvid capsule bytes <= LanceDB directory bytes
TARGET_COMMIT_P50_MS = 10.0  # one-frame commit into a 1M-frame capsule, p50
TARGET_OPEN_MS = 50.0  # read-only open (median) of a 1M-frame capsule


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -- small helpers ------------------------------------------------------------------------------------


def ms(seconds: float) -> float:
    return seconds * 1000.0


def pctl(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    return {
        "p50_ms": ms(pctl(seconds, 50)),
        "p90_ms": ms(pctl(seconds, 90)),
        "p99_ms": ms(pctl(seconds, 99)),
        "mean_ms": ms(statistics.fmean(seconds)),
        "max_ms": ms(max(seconds)),
    }


def path_bytes(path: Path) -> tuple[int, int, list[str]]:
    """Apparent bytes, file count and relative file names of a file or a directory tree."""
    if path.is_file():
        return path.stat().st_size, 1, [path.name]
    total, names = 0, []
    for root, _dirs, files in os.walk(path):
        for name in files:
            full = Path(root, name)
            total += full.stat().st_size
            names.append(str(full.relative_to(path)))
    return total, len(names), sorted(names)


def parse_size(text: str) -> int:
    t = text.strip().lower().replace("_", "")
    scale = 1
    if t.endswith("k"):
        scale, t = 1_000, t[:-1]
    elif t.endswith("m"):
        scale, t = 1_000_000, t[:-1]
    value = int(float(t) * scale)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"size must be positive: {text!r}")
    return value


def human_count(n: int) -> str:
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1_000 and n % 1_000 == 0:
        return f"{n // 1_000}k"
    return f"{n:,}"


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.2f} {unit}"
        n /= 1024
    raise AssertionError


def md_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    out = ["| " + " | ".join(str(h).ljust(w) for h, w in zip(headers, widths, strict=True)) + " |"]
    out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        out.append("| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) + " |")
    return "\n".join(out)


def short_error(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:160]}" + ("…" if len(text) > 160 else "")


def version_of(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


# -- machine --------------------------------------------------------------------------------------------


def fs_type(path: Path) -> str:
    try:
        best, kind = "", "?"
        target = str(path.resolve())
        with open("/proc/mounts") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and target.startswith(parts[1]) and len(parts[1]) > len(best):
                    best, kind = parts[1], f"{parts[2]} on {parts[0]}"
        return kind
    except OSError:
        return "?"


def fdatasync_latency(directory: Path, n: int = 30) -> float:
    """Median seconds of a 4 KiB append + fdatasync on this filesystem (the floor of a durable commit)."""
    path = directory / "fsync-probe.bin"
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
    try:
        times = []
        block = b"x" * 4096
        for _ in range(n):
            t0 = time.perf_counter()
            os.write(fd, block)
            os.fdatasync(fd)
            times.append(time.perf_counter() - t0)
    finally:
        os.close(fd)
        path.unlink()
    return statistics.median(times)


def machine_info(work: Path) -> dict[str, Any]:
    cpu = platform.processor() or "?"
    mem_total = None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem_total = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count() or 0
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "platform": platform.platform(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": affinity,
        "memory_bytes": mem_total,
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "work_fs": fs_type(work),
        "fdatasync_4k_ms": round(ms(fdatasync_latency(work)), 3),
        "memvid_source_sha256": library_fingerprint(),
        "versions": {
            name: version_of(name)
            for name in (
                "memvid-capsule",
                "pyarrow",
                "numpy",
                "zstandard",
                "tantivy",
                "usearch",
                "lancedb",
                "memvid-sdk",
            )
        },
    }


# -- data ---------------------------------------------------------------------------------------------


def load_corpus(path: Path) -> list[dict[str, str]]:
    docs = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                d = json.loads(line)
                docs.append({"_id": str(d["_id"]), "title": d.get("title") or "", "text": d.get("text") or ""})
    return docs


def make_vectors(n: int, dim: int = DIM, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


# -- ingest: memvid -----------------------------------------------------------------------------------


def memvid_one_commit(
    docs: list[dict[str, str]], vectors: np.ndarray, path: Path, split: list[tuple[float, float]]
) -> float:
    """Create, put_many, commit, close; appends (put_many seconds, commit seconds) to ``split``."""
    t0 = time.perf_counter()
    mem = Memvid.create(path, overwrite=True)
    try:
        t1 = time.perf_counter()
        mem.put_many(
            {"text": d["text"], "title": d["title"], "uri": f"scifact:{d['_id']}", "embedding": vectors[i]}
            for i, d in enumerate(docs)
        )
        t2 = time.perf_counter()
        mem.commit()
        split.append((t2 - t1, time.perf_counter() - t2))
    finally:
        mem.close()
    return time.perf_counter() - t0


def memvid_table_commit(
    docs: list[dict[str, str]], vectors: np.ndarray, path: Path, split: list[tuple[float, float]]
) -> float:
    """The columnar way in: a pyarrow table built from the same Python lists (as LanceDB's is),
    put_many(table), one commit. Appends (table + put_many seconds, commit seconds) to ``split``."""
    import pyarrow as pa

    t0 = time.perf_counter()
    mem = Memvid.create(path, overwrite=True)
    try:
        t1 = time.perf_counter()
        table = pa.table(
            {
                "text": pa.array([d["text"] for d in docs], pa.string()),
                "title": pa.array([d["title"] for d in docs], pa.string()),
                "uri": pa.array([f"scifact:{d['_id']}" for d in docs], pa.string()),
                "embedding": pa.FixedSizeListArray.from_arrays(
                    pa.array(vectors.reshape(-1), pa.float32()), vectors.shape[1]
                ),
            }
        )
        mem.put_many(table)
        t2 = time.perf_counter()
        mem.commit()
        split.append((t2 - t1, time.perf_counter() - t2))
    finally:
        mem.close()
    return time.perf_counter() - t0


def memvid_per_doc(
    docs: list[dict[str, str]], vectors: np.ndarray, path: Path
) -> tuple[float, list[float], int, float]:
    lat = []
    with Memvid.create(path, overwrite=True) as mem:
        t0 = time.perf_counter()
        c0 = time.process_time()
        for i, d in enumerate(docs):
            s = time.perf_counter()
            mem.put(d["text"], title=d["title"], uri=f"scifact:{d['_id']}", embedding=vectors[i])
            mem.commit()
            lat.append(time.perf_counter() - s)
            if (i + 1) % 1000 == 0:
                log(f"  {i + 1:,}/{len(docs):,} one-doc commits, p50 so far {ms(statistics.median(lat)):.2f} ms")
        total = time.perf_counter() - t0
        cpu = time.process_time() - c0
        segments = mem.stats().segments
    return total, lat, segments, cpu


# -- ingest: LanceDB ----------------------------------------------------------------------------------


def lance_table(docs: list[dict[str, str]], vectors: np.ndarray) -> Any:
    import pyarrow as pa

    return pa.table(
        {
            "id": pa.array([d["_id"] for d in docs], pa.string()),
            "title": pa.array([d["title"] for d in docs], pa.string()),
            "text": pa.array([d["text"] for d in docs], pa.string()),
            "uri": pa.array([f"scifact:{d['_id']}" for d in docs], pa.string()),
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1), pa.float32()), vectors.shape[1]),
        }
    )


def lance_one_add(docs: list[dict[str, str]], vectors: np.ndarray, directory: Path) -> float:
    import lancedb

    shutil.rmtree(directory, ignore_errors=True)
    t0 = time.perf_counter()
    db = lancedb.connect(str(directory))
    table = db.create_table("docs", data=lance_table(docs, vectors))
    elapsed = time.perf_counter() - t0
    if table.count_rows() != len(docs):
        raise RuntimeError(f"LanceDB table has {table.count_rows()} rows, expected {len(docs)}")
    return elapsed


def lance_one_add_fts(
    docs: list[dict[str, str]], vectors: np.ndarray, directory: Path, split: list[tuple[float, float]]
) -> float:
    """create_table, then a full-text index on ``text`` (memvid's commit builds a tantivy index; LanceDB's add
    does not). Appends (add seconds, index seconds) to ``split``."""
    import lancedb
    from lancedb.index import FTS

    shutil.rmtree(directory, ignore_errors=True)
    t0 = time.perf_counter()
    db = lancedb.connect(str(directory))
    table = db.create_table("docs", data=lance_table(docs, vectors))
    t1 = time.perf_counter()
    table.create_index("text", config=FTS())
    t2 = time.perf_counter()
    split.append((t1 - t0, t2 - t1))
    if table.count_rows() != len(docs):
        raise RuntimeError(f"LanceDB table has {table.count_rows()} rows, expected {len(docs)}")
    return t2 - t0


def lance_per_row(docs: list[dict[str, str]], vectors: np.ndarray, directory: Path) -> tuple[float, list[float]]:
    import lancedb

    shutil.rmtree(directory, ignore_errors=True)
    db = lancedb.connect(str(directory))
    table = db.create_table("docs", schema=lance_table(docs[:1], vectors[:1]).schema)
    lat = []
    t0 = time.perf_counter()
    for i in range(len(docs)):
        s = time.perf_counter()
        table.add(lance_table(docs[i : i + 1], vectors[i : i + 1]))
        lat.append(time.perf_counter() - s)
    total = time.perf_counter() - t0
    if table.count_rows() != len(docs):
        raise RuntimeError(f"LanceDB table has {table.count_rows()} rows, expected {len(docs)}")
    return total, lat


# -- ingest: memvid-sdk (the Rust memvid's Python SDK) ------------------------------------------------


def sdk_put_many(docs: list[dict[str, str]], vectors: np.ndarray, directory: Path, tmp: Path) -> dict[str, Any]:
    """memvid-sdk put_many + commit into ``directory``; runs in a child process whose TMPDIR is ``tmp``."""
    import memvid_sdk

    path = directory / "scifact.mv2"
    out: dict[str, Any] = {}
    mem = memvid_sdk.create(str(path), enable_vec=True, enable_lex=True)
    try:
        requests = [
            {"title": d["title"] or "Untitled", "label": "scifact", "text": d["text"], "uri": f"scifact:{d['_id']}"}
            for d in docs
        ]
        t0 = time.perf_counter()
        mem.put_many(requests, embeddings=vectors[: len(docs)].tolist())
        mem.commit()
        out["seconds"] = time.perf_counter() - t0
        stats = mem.stats()
        out["sdk_frame_count"] = stats.get("frame_count")
        out["sdk_capacity_bytes"] = stats.get("capacity_bytes")
        out["sdk_tier"] = stats.get("tier")
        # The readback checks: failures here are reported, not raised.
        checks = {}
        probes: list[tuple[str, Callable[[], Any]]] = [
            ("find_lex", lambda: mem.find("cancer", k=3, mode="lex")),
            ("find_sem", lambda: mem.find("q", k=3, mode="sem", query_embedding=vectors[0].tolist())),
        ]
        for name, call in probes:
            try:
                hits = call()["hits"]
                checks[name] = f"ok ({len(hits)} hits)"
            except Exception as exc:
                checks[name] = "FAILED: " + short_error(exc)
        out["checks"] = checks
        # memvid-sdk keeps working files (its tantivy index) in the temp dir, outside the capsule's folder.
        out["temp_entries_open"] = {name: path_bytes(tmp / name)[0] for name in sorted(os.listdir(tmp))}
    finally:
        mem.close()
    out["temp_entries_after_close"] = sorted(os.listdir(tmp))
    return out


def _sdk_worker(docs: list[dict[str, str]], vectors: np.ndarray, directory: Path, tmp: Path, conn: Any) -> None:
    os.environ["TMPDIR"] = str(tmp)
    tempfile.tempdir = None
    try:
        conn.send(("ok", sdk_put_many(docs, vectors, directory, tmp)))
    except BaseException as exc:
        conn.send(("error", short_error(exc)))
    finally:
        conn.close()


def sdk_run(docs: list[dict[str, str]], vectors: np.ndarray, directory: Path, timeout: float) -> dict[str, Any]:
    """Run :func:`sdk_put_many` in a spawned process with its own TMPDIR, and kill it after ``timeout`` seconds:
    memvid-sdk's put_many has been seen to hang here (all threads idle in futex waits) on larger ingests."""
    import multiprocessing

    shutil.rmtree(directory, ignore_errors=True)
    tmp = directory / "tmpdir"
    tmp.mkdir(parents=True)
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_sdk_worker, args=(docs, vectors, directory, tmp, child), daemon=True)
    proc.start()
    child.close()
    out: dict[str, Any]
    try:
        if parent.poll(timeout):
            status, value = parent.recv()
            out = value if status == "ok" else {"error": value}
        else:
            out = {"error": f"no result after {timeout:.0f} s: killed (hung?)", "timed_out": True}
    except EOFError:
        out = {"error": "worker process died without a result"}
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join()
        parent.close()
    path = directory / "scifact.mv2"
    if path.exists():
        total, nfiles, names = path_bytes(directory)
        tmp_bytes = path_bytes(tmp)[0]
        out["bytes"] = total - tmp_bytes
        out["mv2_bytes"] = path.stat().st_size
        out["sidecars"] = [n for n in names if n != path.name and not n.startswith("tmpdir/")]
        out["files"] = nfiles - len([n for n in names if n.startswith("tmpdir/")])
    return out


# -- open time and one-frame commits on big synthetic capsules -----------------------------------------

# fmt: off
_WORDS = [
    "alice", "bob", "carol", "prefers", "tea", "coffee", "meeting", "project", "deadline", "budget", "review",
    "notes", "memory", "capsule", "frame", "commit", "segment", "vector", "index", "query", "agent", "user", "said",
    "remember", "tomorrow", "yesterday", "morning", "evening", "office", "travel", "flight", "hotel", "paper",
    "draft", "email", "call", "doctor", "appointment", "birthday", "gift", "recipe", "garden", "music",
]
# fmt: on


def synthetic_texts(start: int, count: int, seed: int) -> list[str]:
    """Deterministic short texts of 100-200 bytes each."""
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(_WORDS), size=(count, 40))
    lengths = rng.integers(100, 201, size=count)
    out = []
    for k in range(count):
        s = f"note {start + k}: " + " ".join(_WORDS[j] for j in picks[k])
        out.append(s[: lengths[k]].rstrip())
    return out


def capsule_ok(path: Path, frames: int) -> bool:
    try:
        with Memvid.open(path, read_only=True) as mem:
            return mem.stats().frames == frames
    except Exception:
        return False


def build_capsule(path: Path, frames: int, batch: int) -> dict[str, Any]:
    tmp = path.with_name(path.name + ".building")
    t0 = time.perf_counter()
    commits = 0
    with Memvid.create(tmp, overwrite=True) as mem:
        for start in range(0, frames, batch):
            count = min(batch, frames - start)
            mem.put_many(synthetic_texts(start, count, seed=start))
            mem.commit()
            commits += 1
            done = start + count
            rate = done / (time.perf_counter() - t0)
            log(f"  built {done:,}/{frames:,} frames ({rate:,.0f} frames/s, {mem.stats().segments} segments)")
    os.replace(tmp, path)
    return {"build_s": time.perf_counter() - t0, "build_commits": commits}


@functools.cache
def library_fingerprint() -> str:
    """A digest of memvid's source, so a cached capsule is rebuilt whenever the library that wrote it changed.
    Computed once per run (at start), so that it names the code this process imported."""
    import hashlib

    import memvid

    root = Path(memvid.__file__).parent
    h = hashlib.sha256()
    for f in sorted(root.rglob("*.py")):
        h.update(str(f.relative_to(root)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


def ensure_capsule(cache: Path, frames: int, batch: int, rebuild: bool) -> tuple[Path, dict[str, Any]]:
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"open-{frames}-r{RECIPE}-{library_fingerprint()}.mv2"
    for stale in cache.glob(f"open-{frames}-r*.mv2"):
        if stale != path:  # built by another version of memvid or of the recipe
            log(f"removing stale cached capsule {stale.name}")
            stale.unlink(missing_ok=True)
    if not rebuild and path.exists() and capsule_ok(path, frames):
        log(f"using cached {human_count(frames)}-frame capsule {path}")
        return path, {"build_s": None, "build_commits": None, "cached": True}
    log(f"building a {human_count(frames)}-frame capsule at {path} (commits of {batch:,} frames)")
    info = build_capsule(path, frames, batch)
    info["cached"] = False
    return path, info


def measure_open(path: Path, frames: int, opens: int, gets: int, seed: int) -> dict[str, Any]:
    # One untimed open/get to take the cold-process costs (imports, first-use caches) out of the numbers.
    with Memvid.open(path, read_only=True) as mem:
        mem.get(0)
    open_times = []
    for _ in range(opens):
        t0 = time.perf_counter()
        mem = Memvid.open(path, read_only=True)
        mem.close()
        open_times.append(time.perf_counter() - t0)
    rng = np.random.default_rng(seed)
    get_times, open_get_times = [], []
    for fid in rng.integers(0, frames, size=gets):
        t0 = time.perf_counter()
        mem = Memvid.open(path, read_only=True)
        t1 = time.perf_counter()
        frame = mem.get(int(fid))
        t2 = time.perf_counter()
        mem.close()
        if frame.id != int(fid):
            raise RuntimeError(f"get({fid}) returned frame {frame.id}")
        get_times.append(t2 - t1)
        open_get_times.append(t2 - t0)
    return {
        "open_median_ms": ms(statistics.median(open_times)),
        "open_p90_ms": ms(pctl(open_times, 90)),
        "open_min_ms": ms(min(open_times)),
        "opens": opens,
        "first_get_median_ms": ms(statistics.median(get_times)),
        "first_get_max_ms": ms(max(get_times)),
        "open_plus_get_median_ms": ms(statistics.median(open_get_times)),
        "gets": gets,
    }


def measure_commits(source: Path, scratch: Path, commits: int) -> dict[str, Any]:
    shutil.copyfile(source, scratch)  # the cached capsule stays as built
    texts = synthetic_texts(10_000_000, commits, seed=7)
    t0 = time.perf_counter()
    mem = Memvid.open(scratch)
    writer_open = time.perf_counter() - t0
    try:
        before = mem.stats()
        lat, cpu = [], []
        for text in texts:
            c = time.process_time()
            s = time.perf_counter()
            mem.put(text)
            mem.commit()
            lat.append(time.perf_counter() - s)
            cpu.append(time.process_time() - c)
        after = mem.stats()
    finally:
        mem.close()
    return {
        "frames_before": before.frames,
        "commits": commits,
        "writer_open_ms": ms(writer_open),
        "segments_before": before.segments,
        "segments_after": after.segments,
        "bytes_before": before.size_bytes,
        "bytes_after": after.size_bytes,
        "bytes_per_commit": (after.size_bytes - before.size_bytes) / commits,
        "cpu_p50_ms": ms(statistics.median(cpu)),
        "cpu_mean_ms": ms(statistics.fmean(cpu)),
        **latency_summary(lat),
    }


# -- the run ------------------------------------------------------------------------------------------


def timed_median(fn: Callable[[], float], repeats: int, label: str) -> tuple[float, list[float]]:
    runs = []
    for r in range(repeats):
        runs.append(fn())
        log(f"  {label} run {r + 1}/{repeats}: {runs[-1]:.3f} s")
    return statistics.median(runs), runs


def run_ingest(args: argparse.Namespace, work: Path, results: dict[str, Any]) -> None:
    docs = load_corpus(args.corpus)
    n = len(docs)
    vectors = make_vectors(n)
    text_bytes = sum(len(d["text"].encode()) + len(d["title"].encode()) for d in docs)
    results["corpus"] = {
        "path": str(args.corpus),
        "docs": n,
        "raw_text_bytes": text_bytes,
        "raw_vector_bytes": int(vectors.nbytes),
        "dim": DIM,
    }
    ingest: dict[str, Any] = {}
    results["ingest"] = ingest
    log(f"corpus: {n:,} docs, {human_bytes(text_bytes)} of text+titles, {human_bytes(vectors.nbytes)} of vectors")

    # (a) memvid, one commit
    path = work / "memvid-one.mv2"
    split: list[tuple[float, float]] = []
    median, runs = timed_median(
        lambda: memvid_one_commit(docs, vectors, path, split), args.repeats, "memvid one commit"
    )
    with Memvid.open(path, read_only=True) as mem:
        assert mem.stats().frames == n and mem.get(n - 1).uri == f"scifact:{docs[-1]['_id']}"
    ingest["memvid_one_commit"] = {
        "system": "memvid",
        "mode": "put_many + 1 commit",
        "docs": n,
        "seconds": median,
        "runs_s": runs,
        "docs_per_s": n / median,
        "put_many_s": statistics.median(a for a, _ in split),
        "commit_s": statistics.median(b for _, b in split),
        "bytes": path.stat().st_size,
    }

    # (a2) memvid, a pyarrow table and one commit
    path = work / "memvid-table.mv2"
    split = []
    median, runs = timed_median(
        lambda: memvid_table_commit(docs, vectors, path, split), args.repeats, "memvid table, one commit"
    )
    with Memvid.open(path, read_only=True) as mem:
        assert mem.stats().frames == n and mem.get(n - 1).uri == f"scifact:{docs[-1]['_id']}"
    ingest["memvid_table_commit"] = {
        "system": "memvid",
        "mode": "put_many(pyarrow table) + 1 commit",
        "docs": n,
        "seconds": median,
        "runs_s": runs,
        "docs_per_s": n / median,
        "put_many_s": statistics.median(a for a, _ in split),
        "commit_s": statistics.median(b for _, b in split),
        "bytes": path.stat().st_size,
    }

    # (b) memvid, one commit per doc
    k = min(n, args.per_doc)
    log(f"memvid: {k:,} one-doc commits")
    path = work / "memvid-per-doc.mv2"
    total, lat, segments, cpu = memvid_per_doc(docs[:k], vectors[:k], path)
    ingest["memvid_per_doc"] = {
        "system": "memvid",
        "mode": "put + commit per doc",
        "docs": k,
        "seconds": total,
        "docs_per_s": k / total,
        "bytes": path.stat().st_size,
        "segments": segments,
        "cpu_per_commit_ms": ms(cpu / k),
        **latency_summary(lat),
    }

    if args.skip_peers:
        return

    # (c) LanceDB
    directory = work / "lance-one"
    try:
        median, runs = timed_median(lambda: lance_one_add(docs, vectors, directory), args.repeats, "lancedb one add")
        size, nfiles, _ = path_bytes(directory)
        ingest["lancedb_one_add"] = {
            "system": "LanceDB",
            "mode": "create_table(data) (1 add)",
            "docs": n,
            "seconds": median,
            "runs_s": runs,
            "docs_per_s": n / median,
            "bytes": size,
            "files": nfiles,
        }
    except Exception as exc:
        log(f"LanceDB one add FAILED: {short_error(exc)}")
        ingest["lancedb_one_add"] = {"system": "LanceDB", "mode": "create_table(data)", "error": short_error(exc)}
    directory = work / "lance-fts"
    try:
        lsplit: list[tuple[float, float]] = []
        median, runs = timed_median(
            lambda: lance_one_add_fts(docs, vectors, directory, lsplit), args.repeats, "lancedb add + FTS index"
        )
        size, nfiles, _ = path_bytes(directory)
        ingest["lancedb_one_add_fts"] = {
            "system": "LanceDB",
            "mode": "create_table + FTS index on text",
            "docs": n,
            "seconds": median,
            "runs_s": runs,
            "docs_per_s": n / median,
            "add_s": statistics.median(a for a, _ in lsplit),
            "index_s": statistics.median(b for _, b in lsplit),
            "bytes": size,
            "files": nfiles,
        }
    except Exception as exc:
        log(f"LanceDB add + FTS index FAILED: {short_error(exc)}")
        ingest["lancedb_one_add_fts"] = {
            "system": "LanceDB",
            "mode": "create_table + FTS index on text",
            "docs": n,
            "error": short_error(exc),
        }
    k = min(n, args.lance_rows)
    directory = work / "lance-per-row"
    try:
        log(f"lancedb: {k:,} one-row adds")
        total, lat = lance_per_row(docs[:k], vectors[:k], directory)
        size, nfiles, _ = path_bytes(directory)
        ingest["lancedb_per_row"] = {
            "system": "LanceDB",
            "mode": "table.add per row",
            "docs": k,
            "seconds": total,
            "docs_per_s": k / total,
            "bytes": size,
            "files": nfiles,
            **latency_summary(lat),
        }
    except Exception as exc:
        log(f"LanceDB one-row adds FAILED: {short_error(exc)}")
        ingest["lancedb_per_row"] = {"system": "LanceDB", "mode": "table.add per row", "error": short_error(exc)}

    # (d) memvid-sdk, on a subset: it ingests some tens of docs per second
    k = min(n, args.sdk_docs)
    log(f"memvid-sdk: put_many of the first {k:,} docs (slow)")
    entry: dict[str, Any] = {"system": "memvid-sdk", "mode": f"put_many, first {k:,} docs", "docs": k}
    try:
        out = sdk_run(docs[:k], vectors[:k], work / "sdk", args.sdk_timeout)
        entry.update(out)
        if "seconds" in out:
            entry["docs_per_s"] = k / out["seconds"]
            entry["extrapolated_full_s"] = n / entry["docs_per_s"]
            entry["extrapolated_full_bytes"] = out["bytes"] * n / k
        else:
            log(f"memvid-sdk FAILED: {out.get('error')}")
    except Exception as exc:
        log(f"memvid-sdk FAILED: {short_error(exc)}")
        entry["error"] = short_error(exc)
    ingest["memvid_sdk"] = entry


def run_engine(args: argparse.Namespace, work: Path, results: dict[str, Any]) -> None:
    sizes = sorted(set(args.sizes))
    opens: list[dict[str, Any]] = []
    results["open"] = opens
    paths = {}
    for frames in sizes:
        path, info = ensure_capsule(args.cache_dir, frames, args.build_batch, args.rebuild)
        paths[frames] = path
        with Memvid.open(path, read_only=True) as mem:
            st = mem.stats()
        log(f"open: {human_count(frames)} frames, {args.opens} opens")
        row = {"frames": frames, "bytes": path.stat().st_size, "segments": st.segments, **info}
        row.update(measure_open(path, frames, args.opens, args.gets, seed=frames))
        opens.append(row)
    largest = sizes[-1]
    log(f"commit: {args.commits} one-frame commits into the {human_count(largest)}-frame capsule")
    results["commit"] = measure_commits(paths[largest], work / "commit-scratch.mv2", args.commits)


def evaluate(results: dict[str, Any]) -> list[dict[str, Any]]:
    ingest = results.get("ingest", {})
    targets: list[dict[str, Any]] = []

    def add(name: str, measured: str, ok: bool | None, note: str = "") -> None:
        status = "n/a" if ok is None else ("PASS" if ok else "FAIL")
        targets.append({"target": name, "measured": measured, "status": status, "note": note})

    mv, ld = ingest.get("memvid_table_commit") or ingest.get("memvid_one_commit"), ingest.get("lancedb_one_add")
    if mv and ld and "error" not in ld:
        lf = ingest.get("lancedb_one_add_fts") or {}
        ratio = mv["docs_per_s"] / ld["docs_per_s"]
        note = f"vs LanceDB add + FTS index: {mv['docs_per_s'] / lf['docs_per_s']:.2f}x" if "docs_per_s" in lf else ""
        add("ingest >= 2x LanceDB (docs/s)", f"{ratio:.2f}x", ratio >= TARGET_INGEST_RATIO, note)
        bratio = mv["bytes"] / ld["bytes"]
        note = f"vs LanceDB add + FTS index: {mv['bytes'] / lf['bytes']:.2f}x" if "bytes" in lf else ""
        add("bytes on disk <= LanceDB", f"{bratio:.2f}x", bratio <= TARGET_BYTES_RATIO, note)
    else:
        why = "ingest skipped" if not ingest else "peers skipped" if ld is None else "LanceDB failed"
        add("ingest >= 2x LanceDB (docs/s)", "—", None, why)
        add("bytes on disk <= LanceDB", "—", None, why)
    commit = results.get("commit")
    opens = results.get("open") or []
    if commit:
        at = commit["frames_before"]
        note = "" if at >= 1_000_000 else f"measured at {human_count(at)} frames, not 1M"
        p50 = commit["p50_ms"]
        add("1-frame commit into 1M frames: p50 < 10 ms", f"{p50:.2f} ms", p50 < TARGET_COMMIT_P50_MS, note)
    if opens:
        big = opens[-1]
        note = "" if big["frames"] >= 1_000_000 else f"measured at {human_count(big['frames'])} frames, not 1M"
        med = big["open_median_ms"]
        add("open at 1M frames < 50 ms (median)", f"{med:.2f} ms", med < TARGET_OPEN_MS, note)
    return targets


def report(results: dict[str, Any]) -> str:
    m = results["machine"]
    end = results["machine_at_end"]
    v = m["versions"]
    out = [
        "# memvid engine benchmark",
        "",
        f"- date: {m['date']}; command: `{results['command']}`",
        f"- machine: {m['cpu']}, {m['cores']} cores ({m['usable_cores']} usable), "
        f"{human_bytes(m['memory_bytes'] or 0)} RAM, {m['platform']}; load average at start {m['loadavg_at_start']}",
        f"- filesystem of the work dir: {m['work_fs']}; 4 KiB write + fdatasync median {m['fdatasync_4k_ms']:.2f} ms "
        f"at start, {end['fdatasync_4k_ms']:.2f} ms at end (load average at end {end['loadavg']})",
        f"- {m['python']}; memvid {v['memvid-capsule']} (source digest {m['memvid_source_sha256']}), "
        f"pyarrow {v['pyarrow']}, numpy {v['numpy']}, zstandard {v['zstandard']}, tantivy {v['tantivy']}, "
        f"usearch {v['usearch']}; peers: lancedb {v['lancedb']}, memvid-sdk {v['memvid-sdk']}",
        "",
    ]
    corpus = results.get("corpus")
    ingest = results.get("ingest")
    if corpus and ingest:
        out += [
            f"## 1. Ingest: SciFact, {corpus['docs']:,} docs + {corpus['dim']}-d float32 vectors",
            "",
            f"Reference: raw text+titles {human_bytes(corpus['raw_text_bytes'])} ({corpus['raw_text_bytes']:,} B), "
            f"raw vectors {human_bytes(corpus['raw_vector_bytes'])} ({corpus['raw_vector_bytes']:,} B), "
            f"sum {human_bytes(corpus['raw_text_bytes'] + corpus['raw_vector_bytes'])}.",
            "",
        ]
        rows = []
        keys = (
            "memvid_one_commit",
            "memvid_table_commit",
            "lancedb_one_add",
            "lancedb_one_add_fts",
            "memvid_per_doc",
            "lancedb_per_row",
            "memvid_sdk",
        )
        for key in keys:
            e = ingest.get(key)
            if e is None:
                continue
            if "error" in e and "seconds" not in e:
                size = f"{e['bytes']:,} (so far)" if "bytes" in e else "—"
                rows.append(
                    [e["system"], e["mode"], f"{e.get('docs', '—')}", "—", "—", "—", size, "FAILED: " + e["error"]]
                )
                continue
            lat = f"{e['p50_ms']:.2f} / {e['p99_ms']:.2f}" if "p50_ms" in e else "—"
            notes = []
            if "runs_s" in e:
                notes.append(f"median of {len(e['runs_s'])} runs")
            if "put_many_s" in e:
                notes.append(f"put_many {e['put_many_s']:.3f} s + commit {e['commit_s']:.3f} s")
            if "index_s" in e:
                notes.append(f"add {e['add_s']:.3f} s + FTS index {e['index_s']:.3f} s")
            if e.get("files", 1) > 1:
                notes.append(f"{e['files']} files")
            if "segments" in e:
                notes.append(f"{e['segments']} segments after")
            if "cpu_per_commit_ms" in e:
                notes.append(
                    f"CPU {e['cpu_per_commit_ms']:.2f} ms/commit (the rest is waiting: fsync, I/O, other processes)"
                )
            if key == "memvid_sdk":
                notes.append(
                    f"subset; full corpus extrapolated: {e['extrapolated_full_s']:,.0f} s, "
                    f"~{human_bytes(e['extrapolated_full_bytes'])}"
                )
                notes.append(f"{e.get('sdk_frame_count')} frames (docs are chunked)")
                if e.get("sdk_capacity_bytes"):
                    notes.append(f"'{e.get('sdk_tier')}' tier capacity {human_bytes(e['sdk_capacity_bytes'])}")
                notes.append("sidecars: " + (", ".join(e["sidecars"]) or "none"))
                temp = e.get("temp_entries_open") or {}
                if temp:
                    listed = ", ".join(f"$TMPDIR/{k} {human_bytes(v)}" for k, v in temp.items())
                    left = "; left after close: " + (", ".join(e["temp_entries_after_close"]) or "none")
                    notes.append(f"temp files while open: {listed}{left}")
                notes += [f"{k}: {val}" for k, val in e.get("checks", {}).items()]
            if "error" in e:
                notes.append("ERROR: " + e["error"])
            rows.append(
                [
                    e["system"],
                    e["mode"],
                    f"{e['docs']:,}",
                    f"{e['seconds']:.3f}",
                    f"{e['docs_per_s']:,.0f}",
                    lat,
                    f"{e['bytes']:,}",
                    "; ".join(notes),
                ]
            )
        out += [
            md_table(
                ["system", "mode", "docs", "seconds", "docs/s", "per-commit p50 / p99 ms", "bytes on disk", "notes"],
                rows,
            ),
            "",
        ]
        ratios = []
        mv, ld, sdk = ingest.get("memvid_one_commit"), ingest.get("lancedb_one_add"), ingest.get("memvid_sdk")
        mt = ingest.get("memvid_table_commit")

        def ok(e: dict[str, Any] | None) -> bool:
            return e is not None and "docs_per_s" in e

        lf = ingest.get("lancedb_one_add_fts")
        if ok(mt) and ok(ld):
            ratios.append(
                ["memvid (pyarrow table) ingest speed ÷ LanceDB one add", f"{mt['docs_per_s'] / ld['docs_per_s']:.2f}x"]
            )
            ratios.append(["memvid (pyarrow table) bytes ÷ LanceDB bytes", f"{mt['bytes'] / ld['bytes']:.2f}"])
        if ok(mt) and ok(lf):
            ratios.append(
                [
                    "memvid (pyarrow table) ingest speed ÷ LanceDB add + FTS index (both build a text index)",
                    f"{mt['docs_per_s'] / lf['docs_per_s']:.2f}x",
                ]
            )
        if ok(mv) and ok(ld):
            ratios.append(
                ["memvid ingest speed ÷ LanceDB (one commit vs one add)", f"{mv['docs_per_s'] / ld['docs_per_s']:.2f}x"]
            )
            ratios.append(["memvid bytes ÷ LanceDB bytes", f"{mv['bytes'] / ld['bytes']:.2f}"])
        if ok(mv) and ok(lf):
            ratios.append(
                [
                    "memvid ingest speed ÷ LanceDB add + FTS index (both build a text index)",
                    f"{mv['docs_per_s'] / lf['docs_per_s']:.2f}x",
                ]
            )
            ratios.append(["memvid bytes ÷ LanceDB add + FTS index bytes", f"{mv['bytes'] / lf['bytes']:.2f}"])
        pd, lr = ingest.get("memvid_per_doc"), ingest.get("lancedb_per_row")
        if ok(pd) and ok(lr):
            ratios.append(
                ["memvid 1-doc commits speed ÷ LanceDB 1-row adds", f"{pd['docs_per_s'] / lr['docs_per_s']:.2f}x"]
            )
        if ok(pd) and ok(lr):
            ratios.append(
                [
                    "memvid bytes/doc ÷ LanceDB bytes/doc, 1-doc commits vs 1-row adds",
                    f"{(pd['bytes'] / pd['docs']) / (lr['bytes'] / lr['docs']):.2f}",
                ]
            )
        if ok(mv) and ok(sdk):
            ratios.append(
                ["memvid ingest speed ÷ memvid-sdk put_many", f"{mv['docs_per_s'] / sdk['docs_per_s']:,.0f}x"]
            )
            per_doc_mv = mv["bytes"] / mv["docs"]
            per_doc_sdk = sdk["bytes"] / sdk["docs"]
            ratios.append(["memvid bytes/doc ÷ memvid-sdk bytes/doc", f"{per_doc_mv / per_doc_sdk:.2f}"])
        if ok(mv) and ok(pd):
            ratios.append(
                [
                    "memvid bytes/doc: 1-doc commits ÷ one commit",
                    f"{(pd['bytes'] / pd['docs']) / (mv['bytes'] / mv['docs']):.2f}",
                ]
            )
        if ok(mv):
            raw = corpus["raw_text_bytes"] + corpus["raw_vector_bytes"]
            ratios.append(["memvid bytes ÷ raw text+vector bytes", f"{mv['bytes'] / raw:.2f}"])
        if ok(ld):
            raw = corpus["raw_text_bytes"] + corpus["raw_vector_bytes"]
            ratios.append(["LanceDB bytes ÷ raw text+vector bytes", f"{ld['bytes'] / raw:.2f}"])
        if ratios:
            out += [md_table(["ratio", "value"], ratios), ""]
    opens = results.get("open")
    if opens:
        out += ["## 2. Open time (read-only open + close; page cache warm)", ""]
        rows = [
            [
                human_count(o["frames"]),
                f"{o['bytes']:,}",
                str(o["segments"]),
                "cached" if o["cached"] else f"{o['build_s']:.1f} s / {o['build_commits']} commits",
                f"{o['open_median_ms']:.3f}",
                f"{o['open_p90_ms']:.3f}",
                f"{o['first_get_median_ms']:.3f}",
                f"{o['first_get_max_ms']:.3f}",
                f"{o['open_plus_get_median_ms']:.3f}",
            ]
            for o in opens
        ]
        out += [
            md_table(
                [
                    "frames",
                    "capsule bytes",
                    "segments",
                    "build",
                    "open median ms",
                    "open p90 ms",
                    "first get() median ms",
                    "first get() max ms",
                    "open+get median ms",
                ],
                rows,
            ),
            "",
            f"({opens[0]['opens']} opens per size; first get() of a random frame after a fresh open, "
            f"{opens[0]['gets']} trials per size.)",
            "",
        ]
    c = results.get("commit")
    if c:
        out += [f"## 3. One-frame commits into a {human_count(c['frames_before'])}-frame capsule", ""]
        out += [
            md_table(
                [
                    "commits",
                    "p50 ms",
                    "p90 ms",
                    "p99 ms",
                    "mean ms",
                    "max ms",
                    "CPU p50 / mean ms",
                    "segments",
                    "bytes/commit",
                    "writer open ms",
                ],
                [
                    [
                        str(c["commits"]),
                        f"{c['p50_ms']:.2f}",
                        f"{c['p90_ms']:.2f}",
                        f"{c['p99_ms']:.2f}",
                        f"{c['mean_ms']:.2f}",
                        f"{c['max_ms']:.2f}",
                        f"{c['cpu_p50_ms']:.2f} / {c['cpu_mean_ms']:.2f}",
                        f"{c['segments_before']} → {c['segments_after']}",
                        f"{c['bytes_per_commit']:,.0f}",
                        f"{c['writer_open_ms']:.2f}",
                    ]
                ],
            ),
            "",
        ]
    targets = results.get("targets")
    if targets:
        out += [
            "## Targets",
            "",
            md_table(
                ["target", "measured", "status", "note"],
                [[t["target"], t["measured"], t["status"], t["note"]] for t in targets],
            ),
            "",
        ]
    return "\n".join(out)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smaller sizes and fewer repeats, for a smoke run (no 1M)")
    p.add_argument(
        "--sizes",
        nargs="+",
        type=parse_size,
        help="frames in the open-time capsules, e.g. 10k 100k 1M (default; --quick: 10k 100k)",
    )
    p.add_argument("--json", type=Path, metavar="PATH", help="also write the results as JSON to PATH")
    p.add_argument("--skip-peers", action="store_true", help="do not run LanceDB or memvid-sdk")
    p.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="BEIR corpus.jsonl (default: %(default)s)")
    p.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE, help="built capsules are kept here (%(default)s)")
    p.add_argument("--rebuild", action="store_true", help="rebuild cached capsules")
    p.add_argument("--work-dir", type=Path, help="scratch directory (default: a fresh temp dir, removed at the end)")
    p.add_argument("--repeats", type=int, help="runs of each whole-corpus ingest; the median is reported (5; quick 3)")
    p.add_argument("--per-doc", type=int, help="docs for memvid's one-commit-per-doc run (all; quick 500)")
    p.add_argument("--lance-rows", type=int, help="docs for LanceDB's one-row adds (1000; quick 200)")
    p.add_argument("--sdk-docs", type=int, help="docs for memvid-sdk put_many (300; quick 50)")
    p.add_argument("--sdk-timeout", type=float, default=600.0, help="kill memvid-sdk's ingest after (%(default)s s)")
    p.add_argument("--opens", type=int, help="opens per capsule size (50; quick 20)")
    p.add_argument("--gets", type=int, help="fresh open + first get() trials per size (20; quick 10)")
    p.add_argument("--commits", type=int, help="one-frame commits into the largest capsule (200; quick 100)")
    p.add_argument("--build-batch", type=int, default=100_000, help="frames per commit when building (%(default)s)")
    p.add_argument("--skip-ingest", action="store_true", help="only run the open/commit parts")
    p.add_argument("--strict", action="store_true", help="exit with status 1 if a target fails")
    args = p.parse_args(argv)
    q = args.quick
    defaults = {
        "sizes": [10_000, 100_000] if q else [10_000, 100_000, 1_000_000],
        "repeats": 3 if q else 5,
        "per_doc": 500 if q else 10**9,
        "lance_rows": 200 if q else 1000,
        "sdk_docs": 50 if q else 300,
        "opens": 20 if q else 50,
        "gets": 10 if q else 20,
        "commits": 100 if q else 200,
    }
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    own_work = args.work_dir is None
    work = Path(tempfile.mkdtemp(prefix="memvid-bench-")) if own_work else args.work_dir
    work.mkdir(parents=True, exist_ok=True)
    shown = [a for a in (argv if argv is not None else sys.argv[1:])]
    results: dict[str, Any] = {
        "command": " ".join(["MEMVID_TELEMETRY=0 python benchmarks/bench_engine.py", *shown]),
        "machine": machine_info(work),
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
    }
    t0 = time.perf_counter()
    try:
        if not args.skip_ingest:
            run_ingest(args, work, results)
        run_engine(args, work, results)
    finally:
        if own_work:
            shutil.rmtree(work, ignore_errors=True)
    results["machine_at_end"] = {
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "fdatasync_4k_ms": round(ms(fdatasync_latency(Path(tempfile.gettempdir()))), 3),
    }
    results["targets"] = evaluate(results)
    results["elapsed_s"] = time.perf_counter() - t0
    print(report(results))
    print(f"(benchmark took {results['elapsed_s']:.0f} s)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2, default=str) + "\n")
        log(f"wrote {args.json}")
    failed = any(t["status"] == "FAIL" for t in results["targets"])
    return 1 if (failed and args.strict) else 0


if __name__ == "__main__":
    sys.exit(main())
