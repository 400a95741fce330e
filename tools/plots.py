"""The plots of dvc.yaml as one HTML page that opens offline: `make plots [A=rev] [B=rev]`.

    python -m tools.plots [A [B]]

`dvc plots show` and `dvc plots diff` write a page that loads Vega from a CDN, blank
without network; this one draws plain SVG. With no revision, the workspace; with one or
two, those revisions or experiments, one line each. Writes reports/plots.html.
"""

from __future__ import annotations

from html import escape

from similar import parameters
from similar.charts import line_chart
from similar.errors import UserError, run
from similar.files import parse_csv, write_bytes
from tools.preflight import DVC_FILE, yaml_file
from tools.revisions import named_sides, read_output, resolve


def resolved(name: str, config) -> str:
    """A dvc.yaml path, `${group.key}` taken from params.yaml."""
    if name.startswith("${") and name.endswith("}"):
        group, _, key = name[2:-1].partition(".")
        return str(getattr(getattr(config, group), key))
    return name


def definitions(config) -> list[dict]:
    """Every plot of dvc.yaml: title, file, x, the y columns, axis labels."""
    spec = yaml_file(DVC_FILE)
    found = []
    for stage in (spec.get("stages") or {}).values():
        for entry in stage.get("plots") or []:
            ((name, props),) = entry.items() if isinstance(entry, dict) else ((entry, {}),)
            props = props or {}
            if "x" in props and "y" in props:
                path = resolved(name, config)
                found.append(plot(props, path, [props["y"]]))
    for entry in spec.get("plots") or []:
        ((title, props),) = entry.items()
        for name, columns in (props.get("y") or {}).items():
            found.append(plot({"title": title, **props}, resolved(name, config), columns))
    return found


def plot(props: dict, path: str, columns: list[str]) -> dict:
    return {
        "title": props.get("title", path),
        "path": path,
        "x": props["x"],
        "y": list(columns),
        "x_label": props.get("x_label", props["x"]),
        "y_label": props.get("y_label", ", ".join(columns)),
    }


def series(p: dict, sides: dict[str, str | None]) -> list[tuple[str, list, list]]:
    out = []
    for side, rev in sides.items():
        try:
            rows = parse_csv(read_output(p["path"], rev))
        except (UserError, OSError):
            continue
        for column in p["y"]:
            good = [r for r in rows if r.get(p["x"], "") != "" and r.get(column, "") != ""]
            name = column if len(sides) == 1 else f"{column} ({side})"
            out.append((name, [float(r[p["x"]]) for r in good], [float(r[column]) for r in good]))
    return out


def main(argv: list[str] | None = None) -> None:
    names = named_sides(argv, "plots", __doc__.splitlines()[0])
    config = parameters.load()
    sides = {name: resolve(name) for name in names}
    charts = [
        line_chart(p["title"], p["x_label"], p["y_label"], series(p, sides))
        for p in definitions(config)
    ]
    page = (
        '<!doctype html>\n<html lang="en"><meta charset="utf-8">'
        f"<title>plots: {escape(' vs '.join(names))}</title>\n<body>\n"
        f"<h1>plots: {escape(' vs '.join(names))}</h1>\n"
        + "\n".join(f"<div>{chart}</div>" for chart in charts)
        + "\n</body></html>\n"
    )
    target = config.paths.reports / "plots.html"
    write_bytes(target, page.encode("utf-8"))
    print(f"written: {target} ({len(charts)} plots; opens offline)")


if __name__ == "__main__":
    run(main)
