"""Prove that the candidates need no network: run it inside a network namespace with an empty HF cache.

    env -u HF_HUB_OFFLINE -u TRANSFORMERS_OFFLINE HF_HOME=$(mktemp -d) unshare -n \
        /tmp/embed-venv/bin/python benchmarks/embedders/offline_check.py

It first shows that the network is unreachable, then loads every candidate (or those named on the command line)
and embeds two sentences with each.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from candidates import CANDIDATES


def main() -> None:
    try:
        socket.create_connection(("pypi.org", 443), timeout=3).close()
        print("network: REACHABLE (run this under `unshare -n` for the proof)")
    except OSError as exc:
        print(f"network: unreachable ({type(exc).__name__})")
    texts = ["Vitamin D deficiency is associated with tuberculosis.", "The Eiffel Tower is in Paris."]
    for name in sys.argv[1:] or list(CANDIDATES):
        vecs = CANDIDATES[name](2).encode_docs(texts)
        print(f"{name}: {vecs.shape[0]} x {vecs.shape[1]} vectors, cosine of the pair {float(vecs[0] @ vecs[1]):.3f}")


if __name__ == "__main__":
    main()
