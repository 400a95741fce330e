"""From image files to vectors: discovery and decoding, the networks, embedding, PCA."""
