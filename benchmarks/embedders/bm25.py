"""BM25 baseline with tantivy (``tantivy==0.27.0``): one in-memory index over title + " " + text, ``en_stem``.

Queries are lower-cased and every non-word character is replaced by a space before ``index.parse_query``, so no
query-language syntax survives (``AND``/``OR``/``NOT``, ``+ - : ( ) " ~ ^ * ?``, slashes...). The terms are
then OR-ed (tantivy's default disjunction), scored with BM25 (k1 = 1.2, b = 0.75).
"""

from __future__ import annotations

import re

import tantivy
from evalkit import Dataset, Run

_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)


def clean_query(text: str) -> str:
    return _NON_WORD.sub(" ", text.lower()).strip()


class BM25:
    def __init__(self, ds: Dataset) -> None:
        sb = tantivy.SchemaBuilder()
        sb.add_unsigned_field("row", stored=True)
        sb.add_text_field("body", stored=False, tokenizer_name="en_stem")
        self._index = tantivy.Index(sb.build())
        writer = self._index.writer(heap_size=64_000_000, num_threads=1)
        for i, text in enumerate(ds.doc_texts):
            writer.add_document(tantivy.Document(row=i, body=text))
        writer.commit()
        writer.wait_merging_threads()
        self._index.reload()
        self._searcher = self._index.searcher()
        self._ds = ds

    def search(self, text: str, k: int = 100) -> list[tuple[str, float]]:
        q = clean_query(text)
        if not q:
            return []
        query = self._index.parse_query(q, ["body"])
        hits = self._searcher.search(query, k).hits
        return [(self._ds.doc_ids[self._searcher.doc(addr)["row"][0]], float(score)) for score, addr in hits]

    def run(self, k: int = 100) -> Run:
        return {qid: self.search(text, k) for qid, text in zip(self._ds.query_ids, self._ds.query_texts, strict=True)}
