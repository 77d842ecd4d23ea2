"""Vetting a lexical checkpoint in a separate process before this process opens it.

A block's digest stops accidental damage, not forgery: a hostile capsule can carry
tantivy files whose every checksum is right and whose contents are not. tantivy
turns most malformed input into an error or a panic (which pyo3 raises as an
exception), but not all of it: a length field asking for petabytes makes Rust's
allocator abort the process (seen in fuzzing: ``memory allocation of
9024791457759232 bytes failed``, then SIGABRT). No exception handler can catch
that, so the first process to read files it did not write is a disposable one.

The vet runs :data:`_SCRIPT` in a fresh interpreter (it imports only tantivy) under
an address-space limit and a timeout. It opens the index and a searcher (every
segment's term dictionaries, postings, positions, fast fields, field norms and
store footers), runs one query per field that walks the whole term dictionary and
every term's postings, aggregates every value of every fast field, reads the fast
fields of up to :data:`FULL_TERMS` documents one by one, and scores a BM25 term
query and a phrase query for each term of each field: every term up to
:data:`FULL_TERMS` per field, else the most frequent ones (whose postings are the
longest), so its memory stays bounded for any index size. A checkpoint is opened
in this process only after its vet exits cleanly; otherwise the reader gets a
:class:`CorruptCapsuleError` naming the lexical index.

Vetting is needed once per checkpoint per machine. Checkpoints this machine's
writers built, and checkpoints that passed a vet, are remembered under the cache
(``<cache>/<uuid>/vetted/<key>``, the key being a digest of every file's block
digest), so a capsule's own writer and readers on the same machine never pay for
it; a capsule copied from elsewhere pays once (0.45 s for SciFact's 5,183 documents
on two cores, see ``docs/explanation/durability.md``).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from memvid.errors import CorruptCapsuleError
from memvid.storage.cache import cache_root

__all__ = ["FULL_TERMS", "mark_vetted", "vet", "vet_key", "vetted"]

FULL_TERMS: Final = 5_000
"""Terms per field scored and phrase-queried one by one (past this, the most frequent), and
documents whose fast fields are read one by one."""
_BASE_MEMORY: Final = 2 << 30  # the vet's address-space limit, plus twice the files' size
_BASE_SECONDS: Final = 60.0
_SECONDS_PER_MIB: Final = 2.0

_SCRIPT: Final = r"""
import resource, sys
limit = int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
import tantivy
Q = tantivy.Query
index = tantivy.Index.open(sys.argv[1])
full = int(sys.argv[3])
schema = index.schema
s = index.searcher()
n = s.num_docs
some = s.search(Q.all_query(), limit=max(1, min(n, full)), count=True)
addresses = [address for _, address in some.hits]
for field in ("frame_id", "time", "created"):
    s.aggregate(Q.all_query(), {"a": {"stats": {"field": field}}})
    s.fast_field_values(field, addresses)
    s.search(Q.all_query(), limit=10, order_by_field=field)
for field in ("title", "text", "tags", "kind", "uri"):
    s.search(Q.regex_query(schema, field, ".*"), limit=10, count=True)
    for term, _ in s.terms_with_prefix(field, "", limit=full):
        s.search(Q.term_query(schema, field, term), limit=10, count=True)
        s.doc_freq(field, term)
        if field in ("title", "text"):
            s.search(Q.phrase_query(schema, field, [term, term], slop=1), limit=10, count=True)
print("vetted", n)
"""


def vet_key(digests: Mapping[str, str]) -> str:
    """Names a checkpoint by every one of its files and their block digests."""
    text = "\n".join(f"{name}\t{digest}" for name, digest in sorted(digests.items()))
    return hashlib.blake2b(text.encode(), digest_size=16, person=b"memvid-vet").hexdigest()


def _marker(capsule_uuid: str, key: str) -> Path:
    return cache_root() / capsule_uuid / "vetted" / key


def vetted(capsule_uuid: str, key: str) -> bool:
    """Whether this machine built or already vetted the checkpoint ``key``."""
    return _marker(capsule_uuid, key).is_file()


def mark_vetted(capsule_uuid: str, key: str) -> None:
    """Remember that the checkpoint ``key`` is safe to open (best effort: a cache that
    cannot be written only means a later vet)."""
    marker = _marker(capsule_uuid, key)
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    except OSError:
        pass


def vet(directory: Path, capsule_uuid: str, key: str) -> None:
    """Open and read the tantivy index in ``directory`` in a separate process, unless
    this machine built or vetted it before; raise :class:`CorruptCapsuleError` if that
    process does not finish cleanly."""
    if vetted(capsule_uuid, key):
        return
    size = sum(p.stat().st_size for p in directory.iterdir() if p.is_file())
    memory = _BASE_MEMORY + 2 * size
    timeout = _BASE_SECONDS + _SECONDS_PER_MIB * size / (1 << 20)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["RUST_BACKTRACE"] = "0"
    env["MALLOC_ARENA_MAX"] = "2"  # per-thread malloc arenas reserve address space under the limit
    try:
        proc = subprocess.run(
            [sys.executable, "-I", "-c", _SCRIPT, str(directory), str(memory), str(FULL_TERMS)],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            env=env,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise CorruptCapsuleError(f"the lexical index did not finish its check in {timeout:.0f} s", kind="lex") from exc
    if proc.returncode != 0 or not proc.stdout.startswith("vetted"):
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        why = lines[-1].strip() if lines else f"exit status {proc.returncode}"
        if proc.returncode < 0:
            why = f"the checking process died of signal {-proc.returncode} ({why})"
        raise CorruptCapsuleError(f"the lexical index fails its check: {why}", kind="lex")
    mark_vetted(capsule_uuid, key)
