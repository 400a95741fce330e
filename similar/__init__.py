"""similar-images: find reused illustrations in digitised collections.

The shared library of the stages and tools.
"""
