"""The verification methods by name: `verify.method`'s choices, each a module of this package.

A new method is one module holding a `Method` subclass named `METHOD`, one line here, and its
name in `similar.settings.VERIFY_METHODS` (a test checks the two agree).
"""

METHODS = {
    "sift": "sift",  # RootSIFT, Lowe's ratio test, RANSAC (mirror-aware)
    "none": "unverified",  # pass the CNN ranking through
}
