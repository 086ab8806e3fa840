"""The web page in a real headless Chromium (Debian's ``chromium``, driven by Playwright): search, open a
movie, follow a "more like this" link, like movies and get recommendations (with JavaScript and without),
and no accessibility violation axe-core can find. Covers point at unreachable hosts here, so the
placeholders show. Saves the screenshots the README shows (docs/screenshot-{search,movie,for-you}.png)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from yts_pipeline.db.manager import DatabaseManager
from yts_pipeline.search import get_model
from yts_pipeline.serve.taste import LIKED_COOKIE
from yts_pipeline_tests.conftest import TEMPLATE
from yts_pipeline_tests.support.postgres import ScratchPostgres
from yts_pipeline_tests.support.serving import ServerProcess, catalog_payloads, fill

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
DOCS = Path(__file__).resolve().parents[2] / "docs"
QUERY = "explorers search for an ancient treasure"
TIMEOUT_MS = 120_000  # the first hybrid search waits for the server's model to load (seconds on a busy machine)


@pytest.fixture(scope="module")
def server(postgres: ScratchPostgres, tmp_path_factory) -> Iterator[ServerProcess]:
    name = postgres.create_database(TEMPLATE)
    url = postgres.url(name)
    db = DatabaseManager(url)
    fill(db, get_model(), catalog_payloads())
    db.close_all()
    with ServerProcess(tmp_path_factory.mktemp("serve") / "serve.log", url) as server:
        yield server
    postgres.drop_database(name)


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install -y chromium` (make test does it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def covers_are_tidy(page) -> None:
    """Every cover is a 2:3 box showing its image or, when the image failed, its placeholder title."""
    page.wait_for_load_state("networkidle")
    boxes = page.eval_on_selector_all(
        ".cover",
        """covers => covers.map(cover => {
        const box = cover.getBoundingClientRect(), img = cover.querySelector('img');
        const shown = img && img.complete && img.naturalWidth > 0;
        return {ratio: box.height / box.width, shown: !!shown,
                hidden: !img || getComputedStyle(img).display === 'none',
                placeholder: cover.querySelector('.placeholder').innerText.trim()};
    })""",
    )
    assert boxes
    for box in boxes:
        assert box["ratio"] == pytest.approx(1.5, abs=0.02)
        assert box["shown"] or (box["hidden"] and box["placeholder"])


def test_search_open_a_movie_and_follow_a_similar_link(server: ServerProcess, browser) -> None:
    DOCS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(server.base_url + "/")
    page.fill("input[name=q]", QUERY)
    page.click("button[type=submit]")
    page.wait_for_selector(".grid .card")
    assert page.input_value("input[name=q]") == QUERY
    cards = page.locator(".grid .card")
    assert cards.count() >= 10
    covers_are_tidy(page)
    page.screenshot(path=str(DOCS / "screenshot-search.png"))

    first = cards.first.locator(".card-title")
    title = first.inner_text()
    first.click()
    page.wait_for_url("**/movies/*")
    movie_url = page.url
    assert page.locator("h1").inner_text().startswith(title)
    assert page.locator(".cast li").count() >= 1
    assert page.locator(".torrents tbody tr").count() >= 1
    similar = page.locator(".similar .card")
    assert similar.count() >= 5
    assert similar.first.locator(".reasons li").count() >= 1  # why it is similar, e.g. "shares Drama"
    covers_are_tidy(page)
    page.screenshot(path=str(DOCS / "screenshot-movie.png"), full_page=True)

    next_title = similar.first.locator(".card-title").inner_text()
    similar.first.locator("a").click()
    page.wait_for_url(lambda url: "/movies/" in url and url != movie_url)
    assert page.locator("h1").inner_text().startswith(next_title)
    own_id = page.url.rsplit("/", 1)[1]
    assert f"/movies/{own_id}" not in [a.get_attribute("href") for a in page.locator(".similar a").all()]
    page.close()


def test_unknown_movie_is_a_tidy_404_page(server: ServerProcess, browser) -> None:
    page = browser.new_page()
    answer = page.goto(server.base_url + "/movies/999999999")
    assert answer is not None and answer.status == 404
    assert page.locator("h1").inner_text() == "Not found"
    assert page.locator("header nav a").count() >= 4
    page.close()


def press(page, button) -> None:
    """Press a like, dislike or forget button: a form post, answered with a redirect back."""
    with page.expect_navigation():
        button.click()


@pytest.mark.parametrize("javascript", [True, False], ids=["javascript", "no-javascript"])
def test_like_movies_and_get_recommendations_for_you(server: ServerProcess, browser, javascript: bool) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, java_script_enabled=javascript)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(server.base_url + "/for-you")
    assert page.locator("h1").inner_text() == "For you"
    assert page.locator(".recommended").count() == 0 and page.locator(".taste-list").count() == 0

    page.goto(f"{server.base_url}/?q={QUERY.replace(' ', '+')}")
    results_url = page.url
    first = page.locator(".grid .card").first
    liked_title, anchor = first.locator(".card-title").inner_text(), first.get_attribute("id")
    press(page, first.locator("button.like"))
    assert page.url == f"{results_url}#{anchor}"  # back where the button was
    assert page.locator(".grid .card").first.locator("button.like").get_attribute("aria-pressed") == "true"
    press(page, page.locator(".grid .card").nth(1).locator("button.dislike"))

    page.locator(".grid .card").nth(2).locator("a").click()
    page.wait_for_url("**/movies/*")
    movie_title = page.locator("h1").inner_text().split(" (")[0]
    press(page, page.locator(".movie button.like"))
    assert page.locator(".movie button.like").get_attribute("aria-pressed") == "true"

    page.locator("header nav a", has_text="For you").click()
    page.wait_for_url("**/for-you")
    cards = page.locator(".recommended .card")
    assert cards.count() >= 10
    assert cards.first.locator(".reasons li").count() >= 1
    recommended = cards.locator(".card-title").all_inner_texts()
    assert liked_title not in recommended and movie_title not in recommended
    liked = page.locator(".taste-list.liked a").all_inner_texts()
    assert [title.rsplit(" (", 1)[0] for title in liked] == [movie_title, liked_title]  # newest first
    assert page.locator(".taste-list.disliked li").count() == 1
    if javascript:
        covers_are_tidy(page)
        page.screenshot(path=str(DOCS / "screenshot-for-you.png"))

    press(page, page.locator(".taste-list.liked button").first)  # forget the newest like
    assert page.locator(".taste-list.liked li").count() == 1
    press(page, page.locator(".clear button"))
    assert page.locator(".taste-list").count() == 0 and page.locator(".recommended").count() == 0
    assert context.cookies() == []
    context.close()


def accessibility_violations(page) -> str:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return results.generate_report() if results.violations_count else ""


def test_no_page_has_an_accessibility_violation(server: ServerProcess, browser) -> None:
    """axe-core's rules (WCAG 2.x A and AA, best practices) on each kind of page."""
    movies = requests.get(f"{server.base_url}/api/movies", params={"limit": 3}, timeout=30).json()["results"]
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_cookies(
        [{"name": LIKED_COOKIE, "value": ".".join(str(m["external_id"]) for m in movies[:2]), "url": server.base_url}]
    )
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    reports = {}
    for path in (
        "/",
        f"/?q={QUERY.replace(' ', '+')}",
        f"/movies/{movies[2]['external_id']}",
        "/for-you",
        "/genres",
        "/browse?sort=added",
        "/genres/Drama?sort=rating&page=2",
    ):
        page.goto(server.base_url + path)
        page.wait_for_load_state("networkidle")
        reports[path] = accessibility_violations(page)
    context.close()
    assert not any(reports.values()), "\n\n".join(f"{path}: {report}" for path, report in reports.items() if report)


def test_screenshots_are_kept_with_the_docs() -> None:
    """The README shows the screenshots the browser test saves: keep it that way."""
    readme = (DOCS.parent / "README.md").read_text()
    for name in ("screenshot-search.png", "screenshot-movie.png", "screenshot-for-you.png"):
        assert f"docs/{name}" in readme
