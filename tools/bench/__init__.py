"""`make bench`: every stage measured side by side with the approach it replaces.

    python -m tools.bench [--quick] [--scale N] [--pipeline N] [--repeat 3] [--only embed,graph,...]

Sections (`registry.SECTIONS`, each described in its own module): embed, store (ingest and
bulk_query), embed_gpu, graph, verify, groups, quality, drawings, hard_copies, scale;
`pipeline` runs only when asked (`--pipeline N`: every stage on about N scans). `runner`
holds what they share. Medians of `--repeat` runs. Writes reports/bench.json and prints a
table, ratios first.
Nothing here is asserted; `--quick` runs all of it on tiny sizes so a test keeps it working.
"""
