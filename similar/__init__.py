"""similar-images: find reused illustrations in digitised collections (the shared library of the stages and tools)."""
