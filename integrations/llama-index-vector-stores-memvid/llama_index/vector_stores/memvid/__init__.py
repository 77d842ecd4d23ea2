"""LlamaIndex vector store backed by a memvid capsule (one portable ``.mv2`` file).

>>> from llama_index.vector_stores.memvid import MemvidVectorStore
"""

from llama_index.vector_stores.memvid.base import NODE_ID_KEY, MemvidVectorStore
from llama_index.vector_stores.memvid.where import metadata_filters_to_where

__all__ = ["NODE_ID_KEY", "MemvidVectorStore", "metadata_filters_to_where"]
