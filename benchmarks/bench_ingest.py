#!/usr/bin/env python
"""The ingestion benchmark: ``Memvid.ingest`` with 1 and 2 workers, and memvid-sdk, on one generated corpus.

    MEMVID_TELEMETRY=0 .venv/bin/python benchmarks/bench_ingest.py               # ~1,000 files (600 .md, 400 .pdf)
    MEMVID_TELEMETRY=0 .venv/bin/python benchmarks/bench_ingest.py --files 200   # a quick run
    MEMVID_TELEMETRY=0 .venv/bin/python benchmarks/bench_ingest.py --memory 500,2000,5000   # peak memory

The corpus is generated deterministically (``random.Random(0)``): Markdown notes of about 5 KB with headings,
paragraphs, code blocks and tables, and two-page PDFs made with fpdf2, a quarter of them with broken word
spacing for the cleanup to repair. Every run starts in a fresh child process (so peak memory is its own) on a
fresh capsule, and ends when the capsule is closed (every commit fdatasynced). memvid runs with 1 and 2
workers, alternating, ``--repeats`` times each; the table shows the fastest run of each and the speedup.

memvid-sdk (the Rust memvid's Python SDK, in the ``bench`` extra) ingests the same files the way it can:
``put_many`` of the Markdown texts (it does not read Markdown files itself) and ``put_files`` of the PDF
folder, then ``commit``, in a child process killed after ``--sdk-timeout`` seconds; a failure is reported in
the table, not raised. It sends telemetry unless ``MEMVID_TELEMETRY=0``, which this script sets.

``--resume 40000`` times instead a re-run that finds nothing new, on a capsule of that many ingested
Markdown files (what a resumed run pays before it reads anything). ``--memory 500,2000,5000`` measures
the peak memory (VmHWM) of the writer and of its helper processes, with 2 workers, on corpora of those
sizes: flat if the pipeline's memory is bounded; and, when the ingest returns, the writer's anonymous
memory (what it keeps, not a moment's peak) and the size of its working lexical index, which on
``/dev/shm`` is memory that no resident set shows. With ``--cache-mb 16`` each size runs again with the
engine's cache of decoded frame batches (256 MiB by default) capped at 16 MiB, to tell the two apart.

Results go to stdout as a markdown table, progress to stderr, and with ``--json PATH`` to a file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ["MEMVID_TELEMETRY"] = "0"  # before anything could import memvid_sdk

TARGET_SPEEDUP = 1.7  # 2 workers vs 1, on 2 cores

WORDS = (  # noqa: SIM905
    "the of and to in a is that for it as was with be by on not he this are or his from at which but have an "
    "they you were her she there been one all we their has would when if so no what up out who them some could "
    "system report capsule memory search index commit frame segment vector query document chunk agent model "
    "storage durable history timeline employee information manager quarterly process configuration database "
    "performance customer contract invoice billing operator cluster service network release testing backup"
).split()
LONG = ["employee", "information", "configuration", "performance", "quarterly", "customer", "operators", "database"]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- the corpus -------------------------------------------------------------------------------------------


def sentence(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(6, 18))]
    words[rng.randrange(len(words))] = rng.choice(LONG)
    return " ".join(words).capitalize() + "."


def paragraph(rng: random.Random) -> str:
    return " ".join(sentence(rng) for _ in range(rng.randint(3, 7)))


def markdown(rng: random.Random, n: int) -> str:
    parts = [f"# Note {n}: {rng.choice(LONG)}"]
    for s in range(rng.randint(3, 5)):
        parts.append(f"## Section {s}")
        parts += [paragraph(rng) for _ in range(rng.randint(1, 3))]
        if rng.random() < 0.4:
            parts.append("```python\n" + "\n".join(f"value_{i} = {rng.randint(0, 99)}" for i in range(5)) + "\n```")
        if rng.random() < 0.3:
            rows = [f"| {rng.choice(LONG)} | {rng.randint(1, 999)} |" for _ in range(4)]
            parts.append("| name | count |\n|---|---|\n" + "\n".join(rows))
    return "\n\n".join(parts) + "\n"


def broken(text: str, rng: random.Random) -> str:
    out = []
    for word in text.split(" "):
        if len(word) >= 8 and word.isalpha() and rng.random() < 0.3:
            cut = rng.randint(2, len(word) - 2)
            word = word[:cut] + " " + word[cut:]
        out.append(word)
    return " ".join(out)


def pdf(rng: random.Random, n: int, path: Path) -> None:
    import textwrap

    from fpdf import FPDF

    doc = FPDF(format="A4")
    doc.set_auto_page_break(False)
    doc.set_title(f"Report {n}")
    damaged = n % 4 == 0
    for _ in range(2):
        doc.add_page()
        doc.set_font("Helvetica", size=8)
        text = " ".join(paragraph(rng) for _ in range(5))
        if damaged:
            text = broken(text, rng)
        y = 12.0
        for line in textwrap.wrap(text, 100)[:60]:
            doc.text(10, y, line)
            y += 4.0
    path.write_bytes(bytes(doc.output()))


def make_corpus(root: Path, files: int) -> tuple[int, int]:
    """``files`` files under root/md and root/pdf (60% Markdown); returns (files, bytes)."""
    rng = random.Random(0)
    (root / "md").mkdir(parents=True)
    (root / "pdf").mkdir()
    n_md = files * 3 // 5
    for n in range(n_md):
        (root / "md" / f"note{n:05d}.md").write_text(markdown(rng, n), encoding="utf-8")
    for n in range(files - n_md):
        pdf(rng, n, root / "pdf" / f"report{n:05d}.pdf")
    total = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    return files, total


# -- the children -----------------------------------------------------------------------------------------


def child_memvid(
    corpus: Path,
    capsule: Path,
    workers: int,
    cache_mb: int | None = None,
    helper_session: bool = False,
    embed: bool = False,
) -> dict[str, Any]:
    from memvid import Memvid
    from memvid.embed import default_embedder

    if helper_session:  # a diagnostic: each helper in a session, so a scheduling group, of its own
        import subprocess as sp

        class Popen(sp.Popen):  # type: ignore[type-arg]
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs, start_new_session=True)

        setattr(sp, "Popen", Popen)  # noqa: B010  # in this child only helpers are started with Popen

    if cache_mb is not None:  # a diagnostic: the engine's cache of decoded frame batches, smaller
        import memvid.engine.snapshot

        memvid.engine.snapshot.BATCH_CACHE_BYTES = cache_mb << 20  # type: ignore[misc]

    watch = _HelperMemory()
    t0 = time.perf_counter()
    with Memvid.create(capsule, overwrite=True, embedder=default_embedder() if embed else None) as mem:
        report = mem.ingest(corpus, workers=workers)
        end = _end_state()
    seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "documents": report.documents,
        "frames": report.frames,
        "failed": len(report.failed),
        "commits": report.commits,
        "cleanup": dict(report.cleanup),
        "capsule_bytes": capsule.stat().st_size,
        **_rss(),
        "peak_rss_mb": _vm_hwm_kb("self") / 1024,
        "peak_worker_rss_mb": watch.stop() / 1024,
        **end,
    }


def _end_state() -> dict[str, Any]:
    """When the ingest returns: the writer's anonymous memory (what it keeps, not its peak), and
    the size and place of its working lexical index (on /dev/shm it is memory no RSS shows)."""
    from memvid.storage import cache

    status = Path("/proc/self/status")
    anon = 0
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("RssAnon:"):
                anon = int(line.split()[1])
    work, place = 0, "-"
    for root in {cache._work_root(), cache._disk_root()}:
        for d in root.glob(f"lex-{os.getpid()}-*") if root.is_dir() else ():
            work += sum(f.stat().st_size for f in d.iterdir() if f.is_file())
            place = "memory" if cache.in_memory(d) else "disk"
    return {"end_anon_mb": anon / 1024, "work_index_mb": work / 1e6, "work_index_on": place}


def _vm_hwm_kb(pid: int | str) -> int:
    """A process's peak resident memory (VmHWM), in kB; 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class _HelperMemory:
    """The largest VmHWM of this process's children (the ingest helpers), sampled every 20 ms while
    they run: ``ru_maxrss`` of children would count the writer's pages that a forked child shares
    before it execs."""

    def __init__(self) -> None:
        import threading

        self.peak = 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        me = os.getpid()
        while not self.done.wait(0.02):
            try:
                with open(f"/proc/{me}/task/{me}/children", encoding="ascii") as listing:
                    children = listing.read().split()
            except OSError:
                return
            for child in children:
                self.peak = max(self.peak, _vm_hwm_kb(child))

    def stop(self) -> int:
        self.done.set()
        self.thread.join()
        return self.peak


def sdk_subset(corpus: Path, files: int, dest: Path) -> tuple[int, int]:
    """The first ``files`` files of the corpus (60% Markdown), hard-linked under ``dest``; (files, bytes)."""
    n_md = files * 3 // 5
    count = size = 0
    for sub, n in (("md", n_md), ("pdf", files - n_md)):
        (dest / sub).mkdir(parents=True)
        for path in sorted((corpus / sub).iterdir())[:n]:
            os.link(path, dest / sub / path.name)
            count += 1
            size += path.stat().st_size
    return count, size


def child_sdk(corpus: Path, capsule: Path) -> dict[str, Any]:
    import memvid_sdk

    t0 = time.perf_counter()
    mem = memvid_sdk.create(str(capsule), enable_vec=False, enable_lex=True)
    try:
        notes = sorted((corpus / "md").glob("*.md"))
        requests = [
            {"title": p.stem, "label": "note", "text": p.read_text(encoding="utf-8"), "uri": f"file://{p}"}
            for p in notes
        ]
        ids = mem.put_many(requests)
        pdfs = mem.put_files(str(corpus / "pdf"), extensions=[".pdf"])
        mem.commit()
        frames = mem.stats().get("frame_count")
    finally:
        mem.close()
    seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "documents": len(ids) + int(pdfs["files_processed"]),
        "frames": frames,
        "failed": 0,
        "capsule_bytes": capsule.stat().st_size,
        **_rss(),
    }


def _rss() -> dict[str, float]:
    """Peak memory and CPU seconds of this process (the writer) and of its worker processes."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "peak_rss_mb": round(own.ru_maxrss / 1024, 1),
        "peak_worker_rss_mb": round(children.ru_maxrss / 1024, 1),
        "cpu_s": round(own.ru_utime + own.ru_stime, 2),
        "worker_cpu_s": round(children.ru_utime + children.ru_stime, 2),
    }


def run_child(args: list[str], timeout: float) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", *args]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"no result after {timeout:.0f} s: killed (hung?)"}
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        return {"error": f"exit {done.returncode}: {tail[:200]}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- the table --------------------------------------------------------------------------------------------


def row(name: str, workers: str, result: dict[str, Any], files: int, size: int, base: float | None) -> str:
    if "error" in result:
        return f"| {name} | {workers} | FAILED: {result['error']} | | | | | | |"
    s = result["seconds"]
    ratio = "" if base is None else f"{base / s:.2f}x"
    rss = f"{result['peak_rss_mb']:.0f} / {result['peak_worker_rss_mb']:.0f}"
    return (
        f"| {name} | {workers} | {s:.1f} | {files / s:.1f} | {size / s / 1e6:.2f} | {result['documents']} | "
        f"{result['frames']} | {rss} | {ratio} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=1000, help="corpus size (60%% Markdown, 40%% PDF)")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each memvid configuration")
    parser.add_argument("--sdk-timeout", type=float, default=600.0, help="seconds before memvid-sdk is killed")
    parser.add_argument("--skip-sdk", action="store_true", help="memvid only")
    parser.add_argument(
        "--sdk-files", type=int, help="give memvid-sdk only the first N files (default: all; it is slow and has hung)"
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--memory",
        metavar="N,N,...",
        help="instead: peak memory of writer and helpers (2 workers) on corpora of these sizes, e.g. 500,2000,5000",
    )
    parser.add_argument(
        "--resume",
        type=int,
        metavar="N",
        help="instead: time a re-run (nothing new) on a capsule of N ingested Markdown files",
    )
    parser.add_argument(
        "--cache-mb",
        type=int,
        help="with --memory: also run with the engine's decoded-batch cache capped at this many MiB",
    )
    parser.add_argument(
        "--helper-session",
        action="store_true",
        help="start each helper in a session of its own: with the kernel's autogroup scheduling, a loaded "
        "machine otherwise gives all of a run's processes one session's share of the CPU",
    )
    parser.add_argument(
        "--embed",
        action="store_true",
        help="ingest into a capsule with the default embedder (the `embed` extra): every frame is embedded, "
        "which is most of the work; use a smaller --files (about 12 files/s per core)",
    )
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, corpus, capsule, *rest = args.child
        if kind == "memvid":
            cache = int(rest[1]) if len(rest) > 1 and rest[1] != "-" else None
            out = child_memvid(
                Path(corpus), Path(capsule), int(rest[0]), cache, "session" in rest[2:], "embed" in rest[2:]
            )
        else:
            out = child_sdk(Path(corpus), Path(capsule))
        print(json.dumps(out))
        return

    if args.resume:
        resume(args.resume, args.repeats)
        return
    if args.memory:
        memory([int(n) for n in args.memory.split(",")], args.cache_mb, args.json)
        return
    work = Path(tempfile.mkdtemp(prefix="memvid-bench-ingest-"))
    try:
        log(f"generating {args.files} files in {work}")
        files, size = make_corpus(work / "corpus", args.files)
        log(f"corpus: {files} files, {size / 1e6:.1f} MB")
        runs: dict[int, list[dict[str, Any]]] = {1: [], 2: []}
        for r in range(args.repeats):
            for workers in (1, 2):
                log(f"memvid ingest, {workers} worker(s), run {r + 1}")
                extra = ["-", *(["session"] if args.helper_session else []), *(["embed"] if args.embed else [])]
                result = run_child(
                    ["memvid", str(work / "corpus"), str(work / f"m{workers}.mv2"), str(workers), *extra], 900
                )
                log(f"  {result}")
                runs[workers].append(result)
        best = {
            w: min((x for x in rs if "error" not in x), key=lambda x: x["seconds"], default=rs[0])
            for w, rs in runs.items()
        }
        sdk: dict[str, Any] = {"error": "skipped (--skip-sdk)"}
        sdk_files, sdk_size, sdk_corpus = files, size, work / "corpus"
        if not args.skip_sdk:
            if args.sdk_files is not None and args.sdk_files < files:
                sdk_corpus = work / "sdk-corpus"
                sdk_files, sdk_size = sdk_subset(work / "corpus", args.sdk_files, sdk_corpus)
            log(f"memvid-sdk put_many (Markdown) + put_files (PDF), {sdk_files} files")
            sdk = run_child(["sdk", str(sdk_corpus), str(work / "sdk.mv2")], args.sdk_timeout)
            log(f"  {sdk}")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    base1 = best[1].get("seconds")
    print(
        f"Ingest of {files} generated files ({files * 3 // 5} Markdown, {files - files * 3 // 5} PDF), "
        f"{size / 1e6:.1f} MB; {os.cpu_count()} CPUs; Python {platform.python_version()}\n"
    )
    print(
        "| system | workers | seconds | docs/s | MB/s | documents | frames | peak RSS MB (writer / workers) "
        "| vs memvid 1 worker |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    name = "memvid ingest" + (", default embedder" if args.embed else "")
    print(row(name, "1", best[1], files, size, None))
    print(row(name, "2", best[2], files, size, base1))
    sdk_name = "memvid-sdk put_many + put_files" + ("" if sdk_files == files else f" (first {sdk_files} files)")
    print(row(sdk_name, "-", sdk, sdk_files, sdk_size, None))
    speedup = base1 / best[2]["seconds"] if "error" not in best[1] and "error" not in best[2] else None
    print()
    if speedup is not None:
        verdict = "PASS" if speedup >= TARGET_SPEEDUP else "FAIL"
        print(f"speedup 1 -> 2 workers, wall clock: {speedup:.2f}x (target >= {TARGET_SPEEDUP}x): {verdict}")
        # On a shared machine the wall clock depends on what else runs; CPU seconds do not. With 2 workers
        # (the writer, which also reads, and one helper) on two free cores, a run takes at least half the
        # CPU time of both; the split between them adapts (the writer reads what its helper has not taken),
        # so the split measured under contention is only an upper bound of the wall time on free cores.
        one, two = best[1], best[2]
        total1 = one["cpu_s"] + one["worker_cpu_s"]
        balanced = total1 / ((two["cpu_s"] + two["worker_cpu_s"]) / 2)
        as_split = total1 / max(two["cpu_s"], two["worker_cpu_s"])
        print(
            f"CPU seconds, writer + workers: 1 worker {one['cpu_s']:.1f} + {one['worker_cpu_s']:.1f}, "
            f"2 workers {two['cpu_s']:.1f} + {two['worker_cpu_s']:.1f}; speedup on 2 free cores: at most "
            f"{balanced:.2f}x (the work split evenly), {as_split:.2f}x if split as measured"
        )
        pairs = [a["seconds"] / b["seconds"] for a, b in zip(runs[1], runs[2], strict=True) if "error" not in a | b]
        print(
            "every run, seconds: 1 worker "
            + ", ".join(f"{x['seconds']:.2f}" for x in runs[1] if "error" not in x)
            + "; 2 workers "
            + ", ".join(f"{x['seconds']:.2f}" for x in runs[2] if "error" not in x)
            + "; speedup of each back-to-back pair: "
            + ", ".join(f"{r:.2f}x" for r in pairs)
        )
        print(f"load average during the run: {os.getloadavg()}")
    if "error" not in sdk and "error" not in best[2]:
        ours = files / best[2]["seconds"]
        theirs = sdk_files / sdk["seconds"]
        print(f"memvid ingest (2 workers) vs memvid-sdk, files/s: {ours / theirs:.1f}x")
    print(f"cleanup in PDFs (2 workers): {best[2].get('cleanup')}")
    if args.json:
        args.json.write_text(json.dumps({"files": files, "bytes": size, "memvid": runs, "sdk": sdk}, indent=2))


def resume(files: int, repeats: int) -> None:
    """A re-run with nothing new to read: what it costs to learn what is in and to list the files."""
    from memvid import Memvid

    work = Path(tempfile.mkdtemp(prefix="memvid-bench-ingest-resume-"))
    try:
        rng = random.Random(0)
        corpus = work / "notes"
        corpus.mkdir()
        for n in range(files):
            (corpus / f"note{n:06d}.md").write_text(markdown(rng, n), encoding="utf-8")
        log(f"ingesting {files} files once")
        with Memvid.create(work / "c.mv2") as mem:
            first = mem.ingest(corpus, workers=2, commit_every=1000)
        times = []
        for r in range(repeats + 1):
            t0 = time.perf_counter()
            with Memvid.open(work / "c.mv2") as mem:
                again = mem.ingest(corpus, workers=1)
            times.append(time.perf_counter() - t0)
            assert again.skipped == files and again.documents == 0, again
            log(f"  re-run {r}: {times[-1]:.2f} s")
        size = (work / "c.mv2").stat().st_size
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"Re-run of `ingest` over {files} files already in a capsule of {first.frames} frames "
        f"({size / 1e6:.0f} MB): open + ingest, first (cold) {times[0]:.2f} s, then "
        + ", ".join(f"{t:.2f}" for t in times[1:])
        + " s"
    )


def memory(sizes: list[int], cache_mb: int | None, json_path: Path | None) -> None:
    """Peak memory of the writer and of its helpers as the corpus grows: flat if memory is bounded."""
    results = []
    caches: list[int | None] = [None] if cache_mb is None else [None, cache_mb]
    work = Path(tempfile.mkdtemp(prefix="memvid-bench-ingest-memory-"))
    try:
        for files in sizes:
            log(f"generating {files} files")
            _, size = make_corpus(work / f"c{files}", files)
            for cache in caches:
                log(f"memvid ingest, 2 workers, {files} files, {size / 1e6:.1f} MB, batch cache {cache or 256} MiB")
                extra = [] if cache is None else [str(cache)]
                result = run_child(["memvid", str(work / f"c{files}"), str(work / f"m{files}.mv2"), "2", *extra], 3600)
                log(f"  {result}")
                results.append({"files": files, "bytes": size, "cache_mb": cache, **result})
                (work / f"m{files}.mv2").unlink(missing_ok=True)
            shutil.rmtree(work / f"c{files}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"Peak memory of `ingest(workers=2)` as the corpus grows; {os.cpu_count()} CPUs\n")
    print(
        "| files | MB | batch cache MiB | documents | frames | seconds | writer peak RSS MB | helper peak RSS MB "
        "| writer anonymous MB at the end | working index MB (where) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        cap = "256 (default)" if r["cache_mb"] is None else str(r["cache_mb"])
        if "error" in r:
            print(f"| {r['files']} | {r['bytes'] / 1e6:.1f} | {cap} | FAILED: {r['error']} | | | | | | |")
            continue
        print(
            f"| {r['files']} | {r['bytes'] / 1e6:.1f} | {cap} | {r['documents']} | {r['frames']} "
            f"| {r['seconds']:.1f} | {r['peak_rss_mb']:.0f} | {r['peak_worker_rss_mb']:.0f} "
            f"| {r['end_anon_mb']:.0f} | {r['work_index_mb']:.0f} ({r['work_index_on']}) |"
        )
    if json_path:
        json_path.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
