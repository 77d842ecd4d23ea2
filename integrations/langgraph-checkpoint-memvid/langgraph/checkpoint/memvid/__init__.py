"""A LangGraph checkpoint saver that keeps every checkpoint in a memvid capsule.

One ``.mv2`` file holds a graph's threads: copy the file and you have copied
the agent's state, its history and (with :class:`langgraph.store.memvid.MemvidStore`
on the same file) its long-term memory. Every ``put`` and ``put_writes`` is a
durable memvid commit.

>>> import tempfile, pathlib
>>> from langgraph.checkpoint.memvid import MemvidSaver
>>> path = pathlib.Path(tempfile.mkdtemp()) / "graph.mv2"
>>> with MemvidSaver.from_path(path) as saver:
...     config = {"configurable": {"thread_id": "1", "checkpoint_ns": ""}}
...     checkpoint = {"v": 1, "id": "1ef-a", "ts": "2026-01-01T00:00:00+00:00",
...                   "channel_values": {"n": 1}, "channel_versions": {"n": "1"}, "versions_seen": {}}
...     stored = saver.put(config, checkpoint, {"step": 0}, {"n": "1"})
>>> with MemvidSaver.from_path(path) as saver:  # a new process would see the same
...     saver.get_tuple(stored).checkpoint["channel_values"]
{'n': 1}

How a checkpoint maps to frames (all of one thread share the uri prefix
``langgraph://threads/<thread_id>/``):

- ``.../<ns>/checkpoints/<checkpoint_id>`` (kind ``langgraph.checkpoint``): the
  checkpoint without its channel values, serialised with the saver's ``serde``
  into the frame's payload; tags ``thread_id``, ``checkpoint_ns``,
  ``checkpoint_id`` and ``parent_checkpoint_id``; the frame's ``metadata`` is
  the JSON part of the checkpoint metadata (so ``list(filter=...)`` runs as a
  memvid ``where=`` filter); its timestamp is the checkpoint's ``ts``.
- ``.../<ns>/blobs/<channel>/<version>`` (``langgraph.checkpoint.blob``): one
  channel value at one version, written only when the version is new.
- ``.../<ns>/writes/<checkpoint_id>`` (``langgraph.checkpoint.writes``): the
  pending writes of a checkpoint, all in one frame.
- ``.../<ns>/head`` (``langgraph.checkpoint.head``): which checkpoint is the
  latest, so reading it costs a few uri lookups however long the thread is.
"""

from __future__ import annotations

import asyncio
import builtins
import datetime as dt
import random
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import TracebackType
from typing import Any, Self

import ormsgpack
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    get_checkpoint_id,
    get_checkpoint_metadata,
    writes_sort_key,
)
from langgraph.checkpoint.memvid._capsule import CapsuleTarget, find, lock_for, open_capsule, quote_part
from langgraph.checkpoint.serde.base import SerializerProtocol

from memvid import Frame, PutOptions

__all__ = ["MemvidSaver"]

KIND_CHECKPOINT = "langgraph.checkpoint"
KIND_BLOB = "langgraph.checkpoint.blob"
KIND_WRITES = "langgraph.checkpoint.writes"
KIND_HEAD = "langgraph.checkpoint.head"

_JSON_SCALARS = (str, int, float, bool, type(None))


def _thread_prefix(thread_id: str) -> str:
    return f"langgraph://threads/{quote_part(thread_id)}/"


def _ns_prefix(thread_id: str, checkpoint_ns: str) -> str:
    return f"{_thread_prefix(thread_id)}{quote_part(checkpoint_ns)}/"


def _checkpoint_uri(thread_id: str, checkpoint_ns: str, checkpoint_id: str) -> str:
    return f"{_ns_prefix(thread_id, checkpoint_ns)}checkpoints/{quote_part(checkpoint_id)}"


def _writes_uri(thread_id: str, checkpoint_ns: str, checkpoint_id: str) -> str:
    return f"{_ns_prefix(thread_id, checkpoint_ns)}writes/{quote_part(checkpoint_id)}"


def _blob_uri(thread_id: str, checkpoint_ns: str, channel: str, version: str | int | float) -> str:
    return f"{_ns_prefix(thread_id, checkpoint_ns)}blobs/{quote_part(channel)}/{quote_part(str(version))}"


def _head_uri(thread_id: str, checkpoint_ns: str) -> str:
    return f"{_ns_prefix(thread_id, checkpoint_ns)}head"


def _is_json(value: Any, depth: int = 0) -> bool:
    """Whether ``value`` survives a JSON round trip unchanged (so a memvid filter sees it as is)."""
    if depth > 16:
        return False
    if type(value) in _JSON_SCALARS:
        return not (isinstance(value, float) and value != value)  # NaN is not JSON
    if type(value) is list:
        return all(_is_json(v, depth + 1) for v in value)
    if type(value) is dict:
        return all(type(k) is str and _is_json(v, depth + 1) for k, v in value.items())
    return False


def _frame_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """What a checkpoint frame's memvid metadata holds: the JSON part of the checkpoint
    metadata, and the names of the keys left out (filters on those run in Python)."""
    plain = {k: v for k, v in metadata.items() if _is_json(v)}
    return {"metadata": plain, "opaque": sorted(k for k in metadata if k not in plain)}


def _where_for(filter: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A memvid ``where=`` that keeps every checkpoint ``filter`` may match (a superset:
    the exact test runs afterwards in Python, with the ``==`` of InMemorySaver)."""
    clauses: list[dict[str, Any]] = []
    for key, value in (filter or {}).items():
        if "." in key or key.startswith("$"):
            continue
        # Python's == makes True equal 1 and None equal a missing key; memvid's $eq is stricter,
        # so only values where the two agree are pushed down.
        pushable = type(value) is str or (type(value) in (int, float) and value not in (0, 1) and value == value)
        if pushable:
            clauses.append({"$or": [{f"metadata.{key}": value}, {"opaque": {"$contains": key}}]})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def _timestamp(ts: Any) -> dt.datetime | None:
    if not isinstance(ts, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(ts)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)


class MemvidSaver(BaseCheckpointSaver[str]):
    """Checkpoints of LangGraph threads in a memvid capsule; sync and async.

    Parameters
    ----------
    capsule:
        A path (opened for writing, created if missing) or an open
        :class:`memvid.Memvid` handle, which the saver borrows and does not close
        (share one handle with a :class:`~langgraph.store.memvid.MemvidStore`
        to keep both in one file).
    serde:
        The serializer for checkpoints, metadata and writes (LangGraph's
        ``JsonPlusSerializer`` by default).
    lock_timeout:
        Seconds to wait for the capsule's writer lock when opening a path.

    The async methods run the sync ones in a worker thread, so the event loop
    never waits on an fsync.
    """

    def __init__(
        self,
        capsule: CapsuleTarget,
        *,
        serde: SerializerProtocol | None = None,
        lock_timeout: float | None = 0.0,
    ) -> None:
        super().__init__(serde=serde)
        self.mem, self._owned = open_capsule(capsule, lock_timeout=lock_timeout)
        self._lock = lock_for(self.mem)

    @classmethod
    @contextmanager
    def from_path(
        cls, path: str | Any, *, serde: SerializerProtocol | None = None, lock_timeout: float | None = 0.0
    ) -> Iterator[MemvidSaver]:
        """A saver on the capsule at ``path``, closed on leaving the ``with`` block
        (like ``SqliteSaver.from_conn_string``)."""
        saver = cls(path, serde=serde, lock_timeout=lock_timeout)
        try:
            yield saver
        finally:
            saver.close()

    def close(self) -> None:
        """Close the capsule if the saver opened it (a borrowed handle stays open)."""
        if self._owned and not self.mem.closed:
            self.mem.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- reading ---------------------------------------------------------------------

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """The checkpoint named by ``config`` (its ``checkpoint_id``, else the thread's latest)."""
        configurable = config["configurable"]
        thread_id = str(configurable["thread_id"])
        checkpoint_ns = configurable.get("checkpoint_ns", "")
        checkpoint_id = get_checkpoint_id(config)
        with self._lock:
            if not checkpoint_id:
                head = find(self.mem, _head_uri(thread_id, checkpoint_ns))
                if head is None:
                    return None
                checkpoint_id = str(head.metadata["checkpoint_id"])
                config = None  # type: ignore[assignment]
            frame = find(self.mem, _checkpoint_uri(thread_id, checkpoint_ns, checkpoint_id))
            if frame is None:
                return None
            return self._tuple(frame, config)

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        """Checkpoints, newest first: of one thread (and namespace, if ``config`` names one),
        or of all threads; ``filter`` matches metadata keys exactly; ``before`` keeps
        older checkpoints than the one it names."""
        tags: dict[str, str] = {}
        config_checkpoint_id = None
        if config is not None:
            configurable = config["configurable"]
            tags["thread_id"] = str(configurable["thread_id"])
            if configurable.get("checkpoint_ns") is not None:
                tags["checkpoint_ns"] = configurable["checkpoint_ns"]
            config_checkpoint_id = get_checkpoint_id(config)
        before_id = get_checkpoint_id(before) if before else None
        with self._lock:
            frames = list(self.mem.frames(kind=KIND_CHECKPOINT, tags=tags or None, where=_where_for(filter)))
        frames.sort(key=lambda f: f.tags["checkpoint_id"], reverse=True)
        remaining = limit
        for frame in frames:
            checkpoint_id = frame.tags["checkpoint_id"]
            if config_checkpoint_id and checkpoint_id != config_checkpoint_id:
                continue
            if before_id and checkpoint_id >= before_id:
                continue
            if filter:
                metadata = self._decode(frame)[1]
                if not all(value == metadata.get(key) for key, value in filter.items()):
                    continue
            if remaining is not None:
                if remaining <= 0:
                    break
                remaining -= 1
            with self._lock:
                item = self._tuple(frame, None)
            yield item

    def _decode(self, frame: Frame) -> tuple[dict[str, Any], CheckpointMetadata]:
        assert frame.payload is not None
        ckpt_type, ckpt_bytes, md_type, md_bytes = ormsgpack.unpackb(frame.payload)
        return self.serde.loads_typed((ckpt_type, ckpt_bytes)), self.serde.loads_typed((md_type, md_bytes))

    def _tuple(self, frame: Frame, config: RunnableConfig | None) -> CheckpointTuple:
        thread_id = frame.tags["thread_id"]
        checkpoint_ns = frame.tags["checkpoint_ns"]
        checkpoint_id = frame.tags["checkpoint_id"]
        parent_id = frame.tags.get("parent_checkpoint_id")
        checkpoint, metadata = self._decode(frame)
        values: dict[str, Any] = {}
        for channel, version in checkpoint["channel_versions"].items():
            blob = find(self.mem, _blob_uri(thread_id, checkpoint_ns, channel, version))
            if blob is not None and blob.tags["serde"] != "empty":
                values[channel] = self.serde.loads_typed((blob.tags["serde"], blob.payload or b""))
        checkpoint["channel_values"] = values
        writes = self._load_writes(thread_id, checkpoint_ns, checkpoint_id)
        return CheckpointTuple(
            config=config
            or {
                "configurable": {"thread_id": thread_id, "checkpoint_ns": checkpoint_ns, "checkpoint_id": checkpoint_id}
            },
            checkpoint=checkpoint,  # type: ignore[arg-type]
            metadata=metadata,
            parent_config=(
                {"configurable": {"thread_id": thread_id, "checkpoint_ns": checkpoint_ns, "checkpoint_id": parent_id}}
                if parent_id
                else None
            ),
            pending_writes=[
                (task_id, channel, self.serde.loads_typed((kind, data)))
                for task_id, _idx, channel, kind, data, _path in sorted(
                    writes.values(), key=lambda w: writes_sort_key(w[5], w[0], w[1])
                )
            ],
        )

    def _load_writes(
        self, thread_id: str, checkpoint_ns: str, checkpoint_id: str
    ) -> dict[tuple[str, int], builtins.list[Any]]:
        frame = find(self.mem, _writes_uri(thread_id, checkpoint_ns, checkpoint_id))
        if frame is None or not frame.payload:
            return {}
        return {(w[0], w[1]): w for w in ormsgpack.unpackb(frame.payload)}

    # -- writing ---------------------------------------------------------------------

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Store a checkpoint (and the channel values whose versions are new), durably."""
        configurable = config["configurable"]
        thread_id = str(configurable["thread_id"])
        checkpoint_ns = configurable.get("checkpoint_ns", "")
        parent_id = configurable.get("checkpoint_id")
        checkpoint_id = checkpoint["id"]
        stored: dict[str, Any] = dict(checkpoint)
        values: dict[str, Any] = stored.pop("channel_values")
        full_metadata = get_checkpoint_metadata(config, metadata)
        base_tags = {"thread_id": thread_id, "checkpoint_ns": checkpoint_ns}
        items: builtins.list[tuple[bytes, PutOptions]] = []
        for channel, version in new_versions.items():
            kind, data = self.serde.dumps_typed(values[channel]) if channel in values else ("empty", b"")
            items.append(
                (
                    data,
                    PutOptions(
                        uri=_blob_uri(thread_id, checkpoint_ns, channel, version),
                        kind=KIND_BLOB,
                        tags={**base_tags, "channel": channel, "version": str(version), "serde": kind},
                        text="",
                    ),
                )
            )
        payload = ormsgpack.packb([*self.serde.dumps_typed(stored), *self.serde.dumps_typed(full_metadata)])
        tags = {**base_tags, "checkpoint_id": checkpoint_id}
        if parent_id:
            tags["parent_checkpoint_id"] = parent_id
        uri = _checkpoint_uri(thread_id, checkpoint_ns, checkpoint_id)
        items.append(
            (
                payload,
                PutOptions(
                    uri=uri,
                    kind=KIND_CHECKPOINT,
                    tags=tags,
                    metadata=_frame_metadata(full_metadata),
                    timestamp=_timestamp(checkpoint.get("ts")),
                    text="",
                ),
            )
        )
        with self._lock:
            try:
                if find(self.mem, uri) is not None:  # the same checkpoint again: replace it
                    self.mem.delete(uri)
                self.mem.put_many(items)
                self._advance_head(thread_id, checkpoint_ns, checkpoint_id)
                self.mem.commit(f"checkpoint {thread_id}/{checkpoint_ns}/{checkpoint_id}")
            except BaseException:
                self.mem.rollback()
                raise
        return {
            "configurable": {"thread_id": thread_id, "checkpoint_ns": checkpoint_ns, "checkpoint_id": checkpoint_id}
        }

    def _advance_head(self, thread_id: str, checkpoint_ns: str, checkpoint_id: str, *, force: bool = False) -> None:
        uri = _head_uri(thread_id, checkpoint_ns)
        head = find(self.mem, uri)
        if head is not None:
            if not force and str(head.metadata["checkpoint_id"]) > checkpoint_id:
                return
            self.mem.delete(uri)
        self.mem.put(
            "",
            uri=uri,
            kind=KIND_HEAD,
            tags={"thread_id": thread_id, "checkpoint_ns": checkpoint_ns},
            metadata={"checkpoint_id": checkpoint_id},
        )

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Store a task's writes for a checkpoint, durably. A write already stored
        for the same task and index is kept (special channels, such as errors, are replaced)."""
        configurable = config["configurable"]
        thread_id = str(configurable["thread_id"])
        checkpoint_ns = configurable.get("checkpoint_ns", "")
        checkpoint_id = str(configurable["checkpoint_id"])
        uri = _writes_uri(thread_id, checkpoint_ns, checkpoint_id)
        with self._lock:
            stored = self._load_writes(thread_id, checkpoint_ns, checkpoint_id)
            changed = False
            for idx, (channel, value) in enumerate(writes):
                key = (task_id, WRITES_IDX_MAP.get(channel, idx))
                if key[1] >= 0 and key in stored:
                    continue
                stored[key] = [task_id, key[1], channel, *self.serde.dumps_typed(value), task_path]
                changed = True
            if not changed:
                return
            try:
                if find(self.mem, uri) is not None:
                    self.mem.delete(uri)
                self.mem.put_bytes(
                    ormsgpack.packb(list(stored.values())),
                    PutOptions(
                        uri=uri,
                        kind=KIND_WRITES,
                        tags={"thread_id": thread_id, "checkpoint_ns": checkpoint_ns, "checkpoint_id": checkpoint_id},
                        text="",
                    ),
                )
                self.mem.commit(f"writes {thread_id}/{checkpoint_ns}/{checkpoint_id} {task_id}")
            except BaseException:
                self.mem.rollback()
                raise

    def delete_thread(self, thread_id: str) -> None:
        """Delete every checkpoint, write and value of a thread (earlier commits keep them
        for ``Memvid.at(...)`` until the capsule is vacuumed)."""
        with self._lock:
            ids = [f.id for f in self.mem.frames(uri_prefix=_thread_prefix(str(thread_id)))]
            self._delete_ids(ids, f"delete thread {thread_id}")

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Delete the checkpoints (and their writes) whose metadata ``run_id`` is one of ``run_ids``."""
        wanted = set(run_ids)
        if not wanted:
            return
        where = {"$or": [{"metadata.run_id": {"$in": sorted(wanted)}}, {"opaque": {"$contains": "run_id"}}]}
        with self._lock:
            doomed = [
                f
                for f in self.mem.frames(kind=KIND_CHECKPOINT, where=where)
                if self._decode(f)[1].get("run_id") in wanted
            ]
            self._delete_checkpoints(doomed, f"delete runs {', '.join(sorted(wanted))}")

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Copy every checkpoint, value, write and namespace of a thread to another thread id."""
        source, target = str(source_thread_id), str(target_thread_id)
        with self._lock:
            frames = list(self.mem.frames(uri_prefix=_thread_prefix(source)))
            if not frames:
                return
            old, new = _thread_prefix(source), _thread_prefix(target)
            items = []
            for frame in frames:
                assert frame.uri is not None
                items.append(
                    (
                        frame.payload or b"",
                        PutOptions(
                            uri=new + frame.uri[len(old) :],
                            kind=frame.kind,
                            tags={**frame.tags, "thread_id": target},
                            metadata=dict(frame.metadata),
                            timestamp=frame.timestamp,
                            text=frame.text,
                        ),
                    )
                )
            try:
                for frame in self.mem.frames(uri_prefix=new):
                    self.mem.delete(frame.id)
                self.mem.put_many(items)
                self.mem.commit(f"copy thread {source} to {target}")
            except BaseException:
                self.mem.rollback()
                raise

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """``"keep_latest"``: keep only each namespace's latest checkpoint, with its writes
        and values; ``"delete"``: delete the threads."""
        if strategy == "delete":
            for thread_id in thread_ids:
                self.delete_thread(thread_id)
            return
        if strategy != "keep_latest":
            raise ValueError(f"unknown prune strategy {strategy!r} (use 'keep_latest' or 'delete')")
        with self._lock:
            for thread_id in thread_ids:
                frames = list(self.mem.frames(uri_prefix=_thread_prefix(str(thread_id))))
                latest: dict[str, Frame] = {}
                for f in frames:
                    if f.kind == KIND_CHECKPOINT:
                        ns = f.tags["checkpoint_ns"]
                        if ns not in latest or f.tags["checkpoint_id"] > latest[ns].tags["checkpoint_id"]:
                            latest[ns] = f
                keep: set[str] = set()
                for ns, f in latest.items():
                    keep.add(f.uri or "")
                    keep.add(_writes_uri(str(thread_id), ns, f.tags["checkpoint_id"]))
                    keep.add(_head_uri(str(thread_id), ns))
                    for channel, version in self._decode(f)[0]["channel_versions"].items():
                        keep.add(_blob_uri(str(thread_id), ns, channel, version))
                self._delete_ids([f.id for f in frames if f.uri not in keep], f"prune {thread_id}")

    def _delete_checkpoints(self, frames: Sequence[Frame], message: str) -> None:
        """Delete checkpoint frames and their writes, then point each touched head at
        the latest checkpoint left. Holds the lock."""
        if not frames:
            return
        touched = {(f.tags["thread_id"], f.tags["checkpoint_ns"]) for f in frames}
        ids = [f.id for f in frames]
        for f in frames:
            writes = find(self.mem, _writes_uri(f.tags["thread_id"], f.tags["checkpoint_ns"], f.tags["checkpoint_id"]))
            if writes is not None:
                ids.append(writes.id)
        try:
            for fid in ids:
                self.mem.delete(fid)
            gone = set(ids)
            for thread_id, ns in touched:
                left = [
                    f.tags["checkpoint_id"]
                    for f in self.mem.frames(kind=KIND_CHECKPOINT, tags={"thread_id": thread_id, "checkpoint_ns": ns})
                    if f.id not in gone
                ]
                if left:
                    self._advance_head(thread_id, ns, max(left), force=True)
                elif find(self.mem, _head_uri(thread_id, ns)) is not None:
                    self.mem.delete(_head_uri(thread_id, ns))
            self.mem.commit(message)
        except BaseException:
            self.mem.rollback()
            raise

    def _delete_ids(self, ids: Sequence[int], message: str) -> None:
        if not ids:
            return
        try:
            for fid in ids:
                self.mem.delete(fid)
            self.mem.commit(message)
        except BaseException:
            self.mem.rollback()
            raise

    def get_next_version(self, current: str | None, channel: None) -> str:
        """As InMemorySaver: a zero-padded counter and a random tie-breaker, so versions
        of a forked thread never collide."""
        if current is None:
            current_v = 0
        elif isinstance(current, int):
            current_v = current
        else:
            current_v = int(current.split(".")[0])
        return f"{current_v + 1:032}.{random.random():016}"

    # -- async: the sync methods in a worker thread -----------------------------------

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return await asyncio.to_thread(self.get_tuple, config)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        items = await asyncio.to_thread(lambda: list(self.list(config, filter=filter, before=before, limit=limit)))
        for item in items:
            yield item

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return await asyncio.to_thread(self.put, config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        await asyncio.to_thread(self.put_writes, config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        await asyncio.to_thread(self.delete_thread, thread_id)

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        await asyncio.to_thread(self.delete_for_runs, run_ids)

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        await asyncio.to_thread(self.copy_thread, source_thread_id, target_thread_id)

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        await asyncio.to_thread(self.prune, thread_ids, strategy=strategy)
