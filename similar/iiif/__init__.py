"""IIIF in and out: links, Presentation manifests, polite downloads, the fetch stage's work."""
