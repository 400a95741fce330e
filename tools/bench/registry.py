"""The bench sections, in the order they run and print: each a module of this package with
`measure(work, options) -> dict` (its figures, under its name in the report) and
`rows(figures) -> list[Row]` (its lines of the table). A new section is one module and one
line here."""

SECTIONS = (
    "embed",
    "models",
    "store",
    "embed_gpu",
    "graph",
    "verify",
    "groups",
    "quality",
    "scale",
)
