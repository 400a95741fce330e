"""The preview in a real browser: headless Chromium (Debian's package) driven by Playwright."""

import json
import shutil
from pathlib import Path

import pytest
from conftest import run_stage

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


@pytest.fixture
def browser_page():
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(
            accept_downloads=True, viewport={"width": 1280, "height": 900}
        )
        page = context.new_page()
        errors = []
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))
        page.on("pageerror", lambda e: errors.append(str(e)))
        yield page, errors
        browser.close()


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
    assert lines[0] == "reference,neighbour,match" and len(lines) == 3
    assert f"astronaut,{neighbour},1" in lines
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
        "reference,neighbour,match",
        "'=1+2,'@SUM(A1),1",
        "'=1+2,plain,1",
    ]
    assert read_groups(csv_path) == {"=1+2": "=1+2", "@SUM(A1)": "=1+2", "plain": "=1+2"}
    assert errors == []


def test_match_view_draws_the_matched_points(pipeline, browser_page):
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
    assert page.locator("#mv-lines line").count() == len(matches[reference][neighbour]["points"])
    assert page.locator("#mv-left").evaluate("i => i.complete && i.naturalWidth > 0")
    assert page.locator("#mv-right").evaluate("i => i.complete && i.naturalWidth > 0")
    assert neighbour in page.locator("#mv-caption").inner_text()
    page.screenshot(path=str(ROOT / "reports" / "preview-match.png"))
    page.keyboard.press("Escape")
    assert not page.locator("#matchview").is_visible()
    assert errors == []


def test_groups_page_marks_flow_back_as_ground_truth(pipeline, browser_page, tmp_path):
    from similar.groundtruth import read_groups

    page, errors = browser_page
    page.goto((pipeline.root / "data/preview/groups.html").as_uri())
    page.wait_for_load_state("load")
    page.wait_for_function("() => Array.from(document.images).every(i => i.complete)")
    seen = page.evaluate(VISIBLE_IMAGES_LOADED)
    assert seen["count"] >= 3 and seen["broken"] == []
    section = page.locator("section.ref").first
    group = section.get_attribute("data-reference")
    members = section.locator("figure[data-neighbour]")
    out = members.first.get_attribute("data-neighbour")
    members.first.locator("button.mark.no").click()  # does not belong
    section.locator("button.confirm").click()  # the rest does
    page.screenshot(path=str(ROOT / "reports" / "preview-groups.png"))
    with page.expect_download() as download:
        page.locator("#export").click()
    csv_path = tmp_path / "marks.csv"
    download.value.save_as(csv_path)
    lines = csv_path.read_text().splitlines()
    assert f"{group},{out},0" in lines
    kept = [m.get_attribute("data-neighbour") for m in members.all()][1:]
    assert all(f"{group},{m},1" in lines for m in kept)
    truth = read_groups(csv_path)
    assert out not in truth and all(truth[m] == truth[group] for m in kept)
    assert errors == []
