"""Geometric verification: do two images show the same picture? Methods behind one interface.

`base` declares the interface (`Method`: describe an image, check a pair) and `PairResult`;
`registry` names the methods (`verify.method`'s choices); `sift` is RootSIFT, the ratio test
and RANSAC; `unverified` checks nothing; `runner` checks many pairs in worker processes over
the feature cache, for the stages verify and groups alike; `points` completes verify's matched
points with the groups' own pairs, for the preview and publish.
"""
