"""Flip bits of a capsule one at a time and classify how each flip is detected.

Run by ``test_bitflip.py`` with ``sys.executable``::

    python bitflip_worker.py CAPSULE EXPECTED_JSON WORKDIR WORKER WORKERS OUT_JSON
        [--verify-all] [--search-every N] [--header-stride N]

The bits to flip are every bit of every byte, except that in the header's
zero-filled reserved ranges only the bytes at multiples of ``--header-stride`` are
taken (``durability_support.offsets_to_flip``); this worker takes every
``WORKERS``-th of them from the ``WORKER``-th on. For each, on its own copy of the
capsule: flip the bit, then

* open read-only: a ``MemvidError`` here is "open";
* read every frame of every commit of the original timeline through
  ``at(commit=s).frames()`` (and that commit's id), the head's seq, id and ``len``,
  and ``get`` of its last frame; for flips inside an index block (one in N of them,
  ``--search-every``) also run ``durability_support.SEARCHES`` on every commit, with
  an empty index cache so the index is read from the capsule. Every read that
  succeeds must equal the original, else the flip is a *silent wrong read*; a
  ``MemvidError`` from any of them makes the flip "read";
* ``verify()``, when no read caught the flip: findings make it "verify".

Any other exception is a failure. With ``--verify-all`` (the soak run) ``verify()``
runs for every flip that opens, and ``verify_missed`` counts the flips it alone
would have missed.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from durability_support import SEARCHES, canon_frame, canon_frames, canon_search, layout, offsets_to_flip, region_of

from memvid import Memvid, MemvidError


def check(
    path: Path, expected: dict[str, Any], *, verify_all: bool, search: bool
) -> tuple[str, str | None, bool | None]:
    """(category, problem, verify_found). category is open / read / verify / undetected / silent / crash."""
    commits = expected["commits"]
    last = commits[-1]
    try:
        mem = Memvid.open(path, read_only=True)
    except MemvidError:
        return "open", None, None
    except Exception as exc:
        return "crash", f"open raised {type(exc).__name__}: {exc}", None
    problems: list[str] = []
    read_error = False
    verify_found: bool | None = None

    def attempt(what: str, fn: Any, want: Any) -> None:
        nonlocal read_error
        try:
            got = fn()
        except MemvidError:
            read_error = True
            return
        except Exception as exc:
            problems.append(f"crash: {what} raised {type(exc).__name__}: {exc}")
            return
        if got != want:
            problems.append(f"silent: {what} returned wrong content")

    try:
        with mem:
            for commit in commits:
                attempt(
                    f"at(commit={commit['seq']})",
                    lambda s=commit["seq"]: (lambda v: (v.head.id, canon_frames(v.frames())))(mem.at(commit=s)),
                    (commit["id"], commit["frames"]),
                )
            head = (last["seq"], last["id"], len(last["frames"]))
            attempt("head", lambda: (mem.head.seq, mem.head.id, len(mem)), head)
            if last["frames"]:
                frame = last["frames"][-1]
                attempt(f"get({frame['id']})", lambda: canon_frame(mem.get(frame["id"])), frame)
            if search:
                for commit in commits:
                    for request, want in zip(SEARCHES, commit["searches"], strict=True):
                        # canon_search turns a MemvidError into {"error": name}: a different
                        # outcome that is an error is a detection, different hits are not.
                        what = f"at(commit={commit['seq']}).search({request})"
                        attempt(
                            what,
                            lambda s=commit["seq"], r=request, w=want: _search_or_raise(mem.at(commit=s), r, w),
                            want,
                        )
            if verify_all or not read_error:
                try:
                    verify_found = bool(mem.verify().findings)
                except MemvidError:
                    verify_found = True
                except Exception as exc:
                    problems.append(f"crash: verify raised {type(exc).__name__}: {exc}")
    except Exception as exc:
        return "crash", f"close raised {type(exc).__name__}: {exc}", None
    if any(p.startswith("crash") for p in problems):
        return "crash", "; ".join(problems), verify_found
    if problems:
        return "silent", "; ".join(problems), verify_found
    if read_error:
        return "read", None, verify_found
    if verify_found:
        return "verify", None, verify_found
    return "undetected", "open, every read and verify() succeeded with the original content", verify_found


class _Detected(MemvidError):
    pass


def _search_or_raise(view: Any, request: dict[str, Any], want: Any) -> Any:
    got = canon_search(view, request)
    if isinstance(got, dict) and got != want:
        raise _Detected(got["error"])
    return got


def main() -> None:
    capsule, expected_path, workdir, worker, workers, out = sys.argv[1:7]
    options = sys.argv[7:]
    verify_all = "--verify-all" in options
    search_every = int(options[options.index("--search-every") + 1]) if "--search-every" in options else 0
    header_stride = int(options[options.index("--header-stride") + 1]) if "--header-stride" in options else 1
    expected = json.loads(Path(expected_path).read_text())
    work = Path(workdir) / f"flip-{worker}.mv2"
    cache = Path(workdir) / f"cache-{worker}"
    shutil.copyfile(capsule, work)
    original = work.read_bytes()
    spans = layout(original)
    counts: dict[str, int] = {}
    by_region: dict[str, dict[str, int]] = {}
    failures: list[dict[str, Any]] = []
    verify_missed = 0
    flipped = searched = 0
    started = time.monotonic()
    fd = os.open(work, os.O_RDWR)
    try:
        bits = [o * 8 + k for o in offsets_to_flip(len(original), header_stride) for k in range(8)]
        for n, bit in enumerate(bits[int(worker) :: int(workers)]):
            offset = bit // 8
            region = region_of(spans, offset)
            search = search_every > 0 and region.startswith(("block.lex.", "block.vec.")) and n % search_every == 0
            if search:
                # An empty cache, so that the index is read from the flipped capsule.
                shutil.rmtree(cache, ignore_errors=True)
                os.environ["MEMVID_CACHE_DIR"] = str(cache)
                searched += 1
            os.pwrite(fd, bytes([original[offset] ^ (1 << (bit % 8))]), offset)
            try:
                category, problem, verify_found = check(work, expected, verify_all=verify_all, search=search)
            except BaseException:  # pyo3's PanicException is a BaseException
                category, problem, verify_found = "crash", traceback.format_exc(limit=5), None
            os.pwrite(fd, original[offset : offset + 1], offset)
            flipped += 1
            counts[category] = counts.get(category, 0) + 1
            by_region.setdefault(region, {})
            by_region[region][category] = by_region[region].get(category, 0) + 1
            if verify_found is False:
                verify_missed += 1
            if problem is not None and len(failures) < 50:
                failures.append(
                    {"bit": bit, "offset": offset, "region": region, "category": category, "problem": problem}
                )
    finally:
        os.close(fd)
    if work.read_bytes() != original:
        failures.append({"bit": -1, "problem": "the worker's copy was changed by a read-only open"})
    Path(out).write_text(
        json.dumps(
            {
                "flipped": flipped,
                "searched": searched,
                "counts": counts,
                "by_region": by_region,
                "verify_missed": verify_missed,
                "failures": failures,
                "seconds": time.monotonic() - started,
            }
        )
    )


if __name__ == "__main__":
    main()
