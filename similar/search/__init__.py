"""Nearest neighbours: ranking, references, exact products, the kNN graph, the store."""
