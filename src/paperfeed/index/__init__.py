"""Sidecar indexes: the embedder, the vector index (and the lexical index)."""
