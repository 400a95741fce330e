"""The verification methods by name: `verify.method`'s choices, each a module of this package.

A new method is one module holding a `Method` subclass named `METHOD`, and one line here.
Names only, no imports: settings reads this, and every stage imports settings.
"""

METHODS = {
    "sift": "sift",  # RootSIFT, Lowe's ratio test, RANSAC (mirror-aware)
    "none": "unverified",  # pass the CNN ranking through
}
