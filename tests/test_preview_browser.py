"""The preview in a real browser: headless Chromium (Debian's package) driven by Playwright."""

import json
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from conftest import Project, default_test_params, run_stage
from review_collection import make_review_collection

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
if not CHROMIUM:
    pytest.skip(
        "Chromium is not installed (apt-get install chromium): browser test skipped",
        allow_module_level=True,
    )


@pytest.fixture(scope="module")
def browser():
    """One Chromium for the module: starting it costs about a second, a context a few ms."""
    with sync_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


@pytest.fixture
def browser_page(browser):
    """A page in a fresh context (its own storage, so marks never leak between tests)."""
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors = []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield page, errors
    context.close()


VISIBLE_IMAGES_LOADED = """() => {
  const visible = Array.from(document.images).filter(img => {
    const r = img.getBoundingClientRect();
    return r.bottom > 0 && r.top < window.innerHeight && r.width > 0;
  });
  return {count: visible.length, broken: visible.filter(i => !(i.complete && i.naturalWidth > 0))
                                              .map(i => i.alt)};
}"""


def test_page_loads_marks_survive_reload_and_export(pipeline, browser_page, tmp_path):
    page, errors = browser_page
    url = (pipeline.root / "data/preview/index.html").as_uri()
    page.goto(url)
    page.wait_for_load_state("load")
    page.wait_for_function("() => Array.from(document.images).slice(0, 6).every(i => i.complete)")
    seen = page.evaluate(VISIBLE_IMAGES_LOADED)
    assert seen["count"] >= 4 and seen["broken"] == []

    first = page.locator("figure[data-neighbour]").first
    neighbour = first.get_attribute("data-neighbour")
    first.locator("button.mark.yes").click()
    page.keyboard.press("j")  # keys: to the next neighbour, mark it "not a match"
    page.keyboard.press("n")
    assert page.locator("#marked").inner_text() == "2"
    page.reload()
    page.wait_for_load_state("load")
    assert (
        page.locator("figure[data-neighbour]")
        .first.locator("button.mark.yes")
        .get_attribute("aria-pressed")
        == "true"
    )
    assert page.locator("#marked").inner_text() == "2"

    with page.expect_download() as download:
        page.locator("#export").click()
    csv_path = tmp_path / "marks.csv"
    download.value.save_as(csv_path)
    lines = csv_path.read_text().splitlines()
    assert lines[0] == "reference,neighbour,match,relation" and len(lines) == 3
    assert f"astronaut,{neighbour},1,copy" in lines
    page.screenshot(path=str(ROOT / "reports" / "preview.png"), full_page=False)
    assert errors == []

    # the export goes back into the pipeline as ground truth (the page shows verify's lists)
    pipeline.set("data.groups", str(csv_path))
    run_stage("verify")
    metrics = json.loads((pipeline.root / "metrics/verify.json").read_text())
    assert metrics["evaluated_references"] == 1 and metrics["recall@1"] == 1.0


def test_hostile_id_renders_as_text(pipeline, browser_page):
    from similar.preview import render

    evil = '"><img src=x onerror=alert(1)>'
    out = pipeline.root / "hostile"
    out.mkdir()
    render(
        [
            {
                "reference": {"id": evil, "url": "javascript:alert(1)"},
                "neighbours": [{"id": "a", "url": "https://x.org/a", "score": 0.9}],
            }
        ],
        out,
        per_page=5,
        min_score=-1,
        thumbs={},
        title="t",
    )
    page, errors = browser_page
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto((out / "index.html").as_uri())
    assert page.locator(".refcard .id").inner_text() == f"1. {evil}"
    assert page.locator("img[src=x]").count() == 0 and dialogs == []


def test_exported_marks_cannot_run_as_spreadsheet_formulas(pipeline, browser_page, tmp_path):
    from similar.groundtruth import read_groups
    from similar.preview import render

    out = pipeline.root / "formula"
    out.mkdir()
    render(
        [
            {
                "reference": {"id": "=1+2", "url": None},
                "neighbours": [
                    {"id": "@SUM(A1)", "url": None, "score": 0.9},
                    {"id": "plain", "url": None, "score": 0.8},
                ],
            }
        ],
        out,
        per_page=5,
        min_score=-1,
        thumbs={},
        title="t",
    )
    page, errors = browser_page
    page.goto((out / "index.html").as_uri())
    for fig in page.locator("figure[data-neighbour]").all():
        fig.locator("button.mark.yes").click()
    with page.expect_download() as download:
        page.locator("#export").click()
    csv_path = tmp_path / "marks.csv"
    download.value.save_as(csv_path)
    assert csv_path.read_text().splitlines() == [
        "reference,neighbour,match,relation",
        "'=1+2,'@SUM(A1),1,copy",
        "'=1+2,plain,1,copy",
    ]
    assert read_groups(csv_path) == {"=1+2": "=1+2", "@SUM(A1)": "=1+2", "plain": "=1+2"}
    assert errors == []


def test_match_view_draws_the_matched_points(pipeline, browser_page):
    from similar.preview import shown_points

    page, errors = browser_page
    page.goto((pipeline.root / "data/preview/index.html").as_uri())
    page.wait_for_load_state("load")
    section = page.locator("section.ref").first
    badge = section.locator(".badge").first
    figure = badge.locator("xpath=ancestor::figure")
    reference = section.get_attribute("data-reference")
    neighbour = figure.get_attribute("data-neighbour")
    badge.click()
    page.wait_for_function("() => document.querySelectorAll('#mv-lines line').length > 0")
    matches = json.loads((pipeline.root / "data/verified/matches.json").read_text())
    points = shown_points(matches[reference][neighbour]["points"])
    assert page.locator("#mv-lines line").count() == len(points)
    assert page.locator("#mv-left").evaluate("i => i.complete && i.naturalWidth > 0")
    assert page.locator("#mv-right").evaluate("i => i.complete && i.naturalWidth > 0")
    assert neighbour in page.locator("#mv-caption").inner_text()
    page.screenshot(path=str(ROOT / "reports" / "preview-match.png"))
    page.keyboard.press("Escape")
    assert not page.locator("#matchview").is_visible()
    assert errors == []


def test_groups_page_marks_flow_back_as_ground_truth(pipeline, browser_page, tmp_path, capsys):
    from similar.groundtruth import read_groups

    page, errors = browser_page
    page.goto((pipeline.root / "data/preview/groups.html").as_uri())
    page.wait_for_load_state("load")
    page.wait_for_function("() => Array.from(document.images).every(i => i.complete)")
    seen = page.evaluate(VISIBLE_IMAGES_LOADED)
    assert seen["count"] >= 3 and seen["broken"] == []
    section = page.locator("section.ref").first
    group = section.get_attribute("data-reference")
    members = section.locator('figure[data-kind="member"]')
    out = members.first.get_attribute("data-neighbour")
    members.first.locator("button.mark.no").click()  # does not belong
    section.locator("button.confirm").click()  # the rest does
    page.screenshot(path=str(ROOT / "reports" / "preview-groups.png"))
    with page.expect_download() as download:
        page.locator("#export").click()
    csv_path = tmp_path / "marks.csv"
    download.value.save_as(csv_path)
    lines = csv_path.read_text().splitlines()
    assert f"{group},{out},0,copy" in lines
    kept = [m.get_attribute("data-neighbour") for m in members.all()][1:]
    assert all(f"{group},{m},1,copy" in lines for m in kept)
    truth = read_groups(csv_path)
    assert out not in truth and all(truth[m] == truth[group] for m in kept)
    assert errors == []

    # fed back, the groups' figures count only the pairs these marks judged
    pipeline.set("data.groups", str(csv_path))
    capsys.readouterr()
    run_stage("groups")
    metrics = json.loads((pipeline.root / "metrics/groups.json").read_text())
    confirmed = len(kept) + 1
    assert metrics["marked_pairs"] == confirmed * (confirmed - 1) // 2 + confirmed
    said = capsys.readouterr().out
    assert f"over the {metrics['marked_pairs']} pairs the review marks cover" in said
    assert metrics["marked_images"] == confirmed + 1


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory):
    """The preview of a synthetic reviewed collection: 60 images in 5 books, 8 groups with
    possible members and pictures sharing a part, 10 reference lists (2 lists and 2 groups a
    page), dated books. Built once for the module: the tests only read its pages."""
    from similar import parameters
    from similar.preview import build_preview

    project = Project(tmp_path_factory.mktemp("reviewed"), default_test_params())
    project.write()
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(project.root)
        made = make_review_collection(project.root, images=60, books=5, groups=8, references=10)
        (project.root / "years.csv").write_text("book,year\nbook001,1750\nbook003,1702\n")
        project.set("preview.years", "years.csv")
        project.set("preview.per_page", 2)
        build_preview(parameters.load())
    made["out"] = project.root / "data/preview"
    return made


def open_page(page, path):
    page.goto(path.as_uri())
    page.wait_for_load_state("load")


def export(page, tmp_path):
    with page.expect_download() as download:
        page.locator("#export").click()
    target = tmp_path / "marks.csv"
    download.value.save_as(target)
    return target.read_text().splitlines()


def test_confirming_every_group_exports_members_only(reviewed, browser_page, tmp_path):
    from similar.groundtruth import read_groups

    page, errors = browser_page
    member_of = {m["id"]: g["group"] for g in reviewed["groups"] for m in g["members"]}
    names = sorted((reviewed["out"]).glob("groups*.html"))
    for name in names:  # every group of every page confirmed, as a reviewer in a hurry would
        open_page(page, name)
        for button in page.locator("button.confirm").all():
            button.click()
    lines = export(page, tmp_path)
    assert lines[0] == "reference,neighbour,match,relation"
    rows = [line.split(",") for line in lines[1:]]
    assert len(rows) == sum(len(g["members"]) - 1 for g in reviewed["groups"])
    for a, b, match, relation in rows:
        assert match == "1" and relation == "copy"
        assert member_of[a] == member_of[b]  # never a possible member nor a shared part
    truth = read_groups(tmp_path / "marks.csv")
    assert truth == {m: member_of[m] for m in member_of}
    assert errors == []


def test_shared_part_marks_never_become_copies(reviewed, browser_page, tmp_path):
    from similar.groundtruth import read_groups

    page, errors = browser_page
    open_page(page, reviewed["out"] / "groups.html")
    shared = page.locator('figure[data-kind="shared"]').first
    shared.locator("button.mark.yes").click()
    possible = page.locator('figure[data-kind="possible"]').first
    possible.locator("button.mark.yes").click()
    lines = export(page, tmp_path)
    a, b = shared.get_attribute("data-reference"), shared.get_attribute("data-neighbour")
    c, d = possible.get_attribute("data-reference"), possible.get_attribute("data-neighbour")
    assert sorted(lines[1:]) == sorted([f"{a},{b},1,shares_part", f"{c},{d},1,copy"])
    assert read_groups(tmp_path / "marks.csv") == {c: min(c, d), d: min(c, d)}
    assert errors == []


def figure_names(page) -> list[str]:
    """The names of the figures the match view shows, in order."""
    return [f.get_attribute("data-figure") for f in page.locator("#mv-figures span").all()]


LOADED = "id => { const i = document.getElementById(id); return i.complete && i.naturalWidth > 0; }"
OPENED = f"""n => {{ const loaded = {LOADED};
  return document.getElementById('matchview').classList.contains('open') &&
         document.querySelectorAll('#mv-lines line').length === n &&
         loaded('mv-left') && loaded('mv-right'); }}"""
MATCH_VIEW = """() => {
  return {caption: document.getElementById('mv-caption').innerText,
          figures: document.getElementById('mv-figures').innerText,
          names: Array.from(document.querySelectorAll('#mv-figures span'), s => s.dataset.figure),
          regions: document.querySelectorAll('#matchview polygon').length};
}"""


def evidence_of(out, page_name):
    text = (out / "evidence" / page_name.replace(".html", ".js")).read_text()
    return json.loads(text.split("=", 1)[1].rstrip().rstrip(";"))


@pytest.mark.parametrize("name", ["groups.html", "groups-2.html", "index.html", "page-2.html"])
def test_every_badge_opens_its_evidence(reviewed, browser_page, name):
    page, errors = browser_page
    open_page(page, reviewed["out"] / name)
    pairs = evidence_of(reviewed["out"], name)["pairs"]
    badges = page.locator(".badge").all()
    assert badges
    for badge in badges:
        a, b = badge.get_attribute("data-a"), badge.get_attribute("data-b")
        badge.click()
        expected = len(pairs[a][b]["points"])
        page.wait_for_function(OPENED, arg=expected)  # times out if a picture never loads
        shown = page.evaluate(MATCH_VIEW)
        assert a in shown["caption"] and b in shown["caption"]
        relation = pairs[a][b]["figures"]["relation"]
        assert ("share a part" in shown["caption"]) == (relation == "shares_part")
        assert f"inliers {pairs[a][b]['figures']['inliers']}" in shown["figures"]
        assert shown["names"] == list(pairs[a][b]["figures"])
        assert shown["regions"] == 2  # the region, in both pictures
        page.keyboard.press("Escape")
        assert not page.locator("#matchview").is_visible()
    assert errors == []


@pytest.mark.parametrize("name", ["groups.html", "index.html", "page-2.html"])
def test_v_on_every_picture_never_throws(reviewed, browser_page, name):
    page, errors = browser_page
    open_page(page, reviewed["out"] / name)
    for fig in page.locator("figure[data-neighbour]").all():
        fig.focus()
        page.keyboard.press("v")
        if fig.locator(".badge").count():  # opens once the page's evidence script is loaded
            page.wait_for_function(
                "() => document.getElementById('matchview').classList.contains('open')"
                " && document.querySelectorAll('#mv-lines line').length > 0"
            )
            page.keyboard.press("Escape")
        else:
            assert not page.locator("#matchview").evaluate("v => v.classList.contains('open')")
    assert errors == []


def test_search_finds_an_id_on_another_page(reviewed, browser_page):
    page, errors = browser_page
    last = reviewed["groups"][-1]["members"][-1]["id"]  # on the last groups page
    open_page(page, reviewed["out"] / "index.html")
    page.locator("#find").fill(last)
    hit = page.locator(f'#found a.hit[data-id="{last}"]').first
    hit.wait_for()
    hit.click()
    page.wait_for_load_state("load")
    assert page.url.split("/")[-1].startswith("groups")
    assert page.locator(f'figure[data-neighbour="{last}"], section[data-group="{last}"]').count()
    page.locator("#find").fill("no such picture")  # this page loads the index on first use
    page.wait_for_function("() => document.getElementById('found').textContent !== ''")
    assert page.locator("#found").inner_text() == "nothing found"
    assert errors == []


def test_book_filter_hides_other_books_and_holds_across_pages(reviewed, browser_page):
    page, errors = browser_page
    open_page(page, reviewed["out"] / "groups.html")
    book = page.locator('figure[data-kind="member"]').first.get_attribute("data-book")
    page.locator("#book").select_option(book)
    shown = page.locator("figure[data-neighbour]:visible")
    assert shown.count() > 0
    assert {f.get_attribute("data-book") for f in shown.all()} == {book}
    for section in page.locator("main section:visible").all():
        assert section.locator(f'[data-book="{book}"]').count() or (
            section.get_attribute("data-book") == book
        )
    open_page(page, reviewed["out"] / "index.html")  # the filter holds on the next page
    assert page.locator("#book").input_value() == book
    assert {f.get_attribute("data-book") for f in page.locator("figure:visible").all()} <= {book}
    page.locator("#book").select_option("")
    assert page.locator("figure:visible").count() == page.locator("figure").count()
    assert errors == []


def test_overview_counts_match_groups_json(reviewed, browser_page):
    page, errors = browser_page
    open_page(page, reviewed["out"] / "overview.html")
    order = [th.get_attribute("data-book") for th in page.locator("thead th[data-book]").all()]
    expected = {}
    for g in reviewed["groups"]:
        books = [reviewed["book"][m["id"]] for m in g["members"]]
        for x in set(books):
            for y in set(books):
                if x != y or books.count(x) > 1:
                    expected[(x, y)] = expected.get((x, y), 0) + 1
    assert order[:2] == ["book003", "book001"]  # dated books first, by year
    seen = {}
    for i, row in enumerate(page.locator("tbody tr").all()):
        for j, cell in enumerate(row.locator("td").all()):
            text = cell.inner_text().strip()
            if text:
                seen[(order[i], order[j])] = int(text)
    assert seen == expected
    # a cell opens the list of those groups, each a link to its card
    cell = page.locator("tbody td a").first
    count = int(cell.inner_text())
    cell.click()
    listed = page.locator("#pairs:visible #pairs-groups a")
    listed.first.wait_for()
    assert listed.count() == count
    listed.first.click()
    page.wait_for_load_state("load")
    assert page.url.split("#")[1].startswith("g-")
    assert page.locator(f"#{page.url.split('#')[1]}").is_visible()
    assert errors == []


def test_every_badge_of_a_real_groups_page_draws_its_matched_points(pipeline, browser_page):
    # the groups stage checks pairs of the whole graph, most of them in no verified list:
    # the preview finds their matched points again, so every badge shows its evidence
    from similar.verification.base import CopyRule, PairResult

    page, errors = browser_page
    page.goto((pipeline.root / "data/preview/groups.html").as_uri())
    page.wait_for_load_state("load")
    badges = page.locator(".badge").all()
    assert len(badges) >= 4
    for badge in badges:
        badge.scroll_into_view_if_needed()
        badge.click()
        page.wait_for_function("() => document.querySelectorAll('#mv-lines line').length > 0")
        caption = page.locator("#mv-caption").inner_text()
        assert badge.get_attribute("data-a") in caption and badge.get_attribute("data-b") in caption
        # every figure the verifier writes for a pair, the overlap figures included
        assert {*PairResult(0).fields(CopyRule(1)), "score"} <= set(figure_names(page))
        page.keyboard.press("Escape")
    assert errors == []


def test_print_shows_one_group_a_page_and_no_buttons(reviewed, browser_page):
    page, errors = browser_page
    open_page(page, reviewed["out"] / "groups.html")
    page.emulate_media(media="print")
    assert page.locator("button:visible").count() == 0
    assert page.locator("header").is_hidden()
    breaks = page.locator("section.group").evaluate_all(
        "ss => ss.map(s => getComputedStyle(s).breakAfter)"
    )
    assert breaks and set(breaks) == {"page"}
    assert errors == []


def test_thumbnails_without_iiif_link_to_the_image_file(reviewed, browser_page):
    page, errors = browser_page
    open_page(page, reviewed["out"] / "groups.html")
    links = page.locator("figure a[href]").evaluate_all("as => as.map(a => a.href)")
    assert links and all(href.startswith("file://") for href in links)
    assert all(Path(unquote(urlparse(href).path)).is_file() for href in links)
    assert errors == []
