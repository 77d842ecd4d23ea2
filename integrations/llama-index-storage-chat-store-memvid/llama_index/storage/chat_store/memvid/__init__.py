"""LlamaIndex chat stores backed by a memvid capsule (one portable ``.mv2`` file).

>>> from llama_index.storage.chat_store.memvid import MemvidAsyncChatStore, MemvidChatStore
"""

from llama_index.storage.chat_store.memvid.base import DEFAULT_KIND, MemvidAsyncChatStore, MemvidChatStore

__all__ = ["DEFAULT_KIND", "MemvidAsyncChatStore", "MemvidChatStore"]
