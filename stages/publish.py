"""Stage `publish`: the groups as IIIF Presentation 3 and W3C Web Annotations, under data/iiif.

Reads groups.json, images.csv, the IIIF links (the fetch stage's, with the source manifests
and canvases, when `data.fetch`) and the matched points: verify's matches.json and the groups
stage's points.json. Writes
collection.json (a Manifest per group, largest first), manifests/, annotations/ (the linking
annotations of each group), sources/ (annotations on the source manifests' own canvases) and
pairs.csv, the whole folder at once.
"""

from __future__ import annotations

from similar import parameters
from similar.errors import run
from similar.files import atomic_dir, read_csv, require_file
from similar.groups.grouping import read_groups_json
from similar.iiif import publish
from similar.iiif.links import links_csv
from similar.verification.points import read_points


def main() -> None:
    config = parameters.load()
    paths, options = config.paths, config.publish
    groups = read_groups_json(paths.groups_json)
    index = read_csv(require_file(paths.image_index, "image index", "run `dvc repro embed`"))
    a = config.attach_iiif
    links = publish.read_links(links_csv(config), a.id_column, a.url_column)
    matches = read_points(paths)
    members = publish.members_of(index, links)
    files = publish.publish(
        groups, members, matches, options.base_url, options.label, options.paint
    )
    with atomic_dir(paths.iiif, "paths.iiif") as folder:
        publish.write_files(folder, files)
    print(publish.summary(files, groups, paths.iiif))


if __name__ == "__main__":
    run(main)
