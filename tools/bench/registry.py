"""The bench sections, in the order they run and print: each a module of this package with
`measure(work, options) -> dict` (its figures, under its name in the report) and
`rows(figures) -> list[Row]` (its lines of the table), and optionally `check(options)`, which
`make bench` calls for every chosen section before the first one runs, so that a size no
section can run fails in a second, not after the sections before it. A new section is one
module and one line here."""

SECTIONS = (
    "embed",
    "models",
    "store",
    "embed_gpu",
    "graph",
    "verify",
    "groups",
    "quality",
    "drawings",
    "hard_copies",
    "scale",
)
