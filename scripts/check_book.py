"""Open every page of the built book in headless Chromium and check that it works offline.

For each page: it loads, every image has decoded pixels, math (if any) was typeset by the local
MathJax without errors, no raw Python object repr (`<IPython.core.display.Markdown object>`) or
absolute path of the machine that built it shows, no table is wider than the text column and no code
block is cut off at 1280 px, no notebook code shows (the report shows outputs), and no figure is scaled
down at 1280 px nor below half its size at 390 px (a phone), where its text would be too small to read. Across pages: where
the landing page's status table says nothing remains ("–") for an experiment, its page lists no
configuration of it as not yet recorded. Saves screenshots of each page, at 1280 px and at 390 px
(`<page>-phone.png`), to book/_build/screenshots/.
Exits 1 on any failure. Needs Debian's chromium and chromium-driver, and selenium.

    .venv/bin/python scripts/check_book.py [book/_build/html]
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

SKIP = {"search.html", "genindex.html", "index.html"}  # index.html only redirects to the first page
MATH_TIMEOUT_S = 30
ABSOLUTE_PATH = "(?:" + "|".join(re.escape(str(p)) for p in {Path.cwd().resolve(), Path.home()}) + r")(?![\w.-])(?:/[^\s'\"]*)?"


def browser() -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1280,1600", "--allow-file-access-from-files"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


FIGURE_MAX_PX = 760  # the text column at 1280 px
PHONE_PX, PHONE_MIN_SCALE = 390, 0.5  # a figure's 9-point text at 120 dpi stays above 7 px when scaled to half


def figure_scales(driver) -> list[tuple[str, float]]:
    """(source, displayed width / drawn width) of each figure in the article."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('article img, main img')).filter(i => i.naturalWidth > 200)"
        ".map(i => [i.src.slice(-40), i.getBoundingClientRect().width / i.naturalWidth])")


def check_page(driver, page: Path, shots: Path) -> list[str]:
    problems = []
    driver.get(page.resolve().as_uri())
    deadline = time.time() + MATH_TIMEOUT_S
    while driver.execute_script("return document.readyState") != "complete" and time.time() < deadline:
        time.sleep(0.1)
    has_math = driver.execute_script("return document.querySelectorAll('.math, div.math, span.math').length") > 0
    if has_math:
        while time.time() < deadline and not driver.execute_script("return document.querySelectorAll('mjx-container').length"):
            time.sleep(0.2)
        if not driver.execute_script("return document.querySelectorAll('mjx-container').length"):
            problems.append("math present but not rendered by MathJax")
        if driver.execute_script("return document.querySelectorAll('mjx-merror').length"):
            problems.append("MathJax reported errors")
    broken = driver.execute_script(
        "return Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)")
    problems += [f"image did not load: {src}" for src in broken]
    if not driver.execute_script("return document.querySelector('main, article, .bd-article') !== null"):
        problems.append("no article content")
    text = driver.execute_script("return (document.querySelector('main, article, .bd-article') || document.body).innerText")
    problems += [f"raw object repr shown: {m}" for m in sorted(set(re.findall(r"<[\w.]+ object(?: at 0x[0-9a-f]+)?>|\b(?:Posix|Windows)Path\(", text)))]
    problems += [f"absolute path shown: {m}" for m in sorted(set(re.findall(ABSOLUTE_PATH, text)))]
    wide = driver.execute_script(
        "return Array.from(document.querySelectorAll('article table, main table')).filter(t => {"
        " const c = t.closest('.bd-article') || t.parentElement; return t.scrollWidth > c.clientWidth + 1; }).length")
    if wide:
        problems.append(f"{wide} table(s) wider than the text column at 1280 px")
    cut = driver.execute_script(
        "return Array.from(document.querySelectorAll('article pre, main pre'))"
        ".filter(p => p.offsetParent !== null && p.scrollWidth > p.clientWidth + 1).length")
    if cut:
        problems.append(f"{cut} code block(s) cut off at 1280 px")
    code = driver.execute_script(
        "return Array.from(document.querySelectorAll('div.cell div.cell_input')).map(c => c.innerText.split('\\n')[0])")
    problems += [f"code shown (the report shows outputs only: nb_remove_code_source): {first}" for first in code]
    problems += [f"figure scaled to {scale:.0%} at 1280 px (draw it at most {FIGURE_MAX_PX} px wide): {src}"
                 for src, scale in figure_scales(driver) if scale < 0.9]
    images = driver.execute_script("return document.images.length")
    height = driver.execute_script("return document.body.scrollHeight")
    driver.set_window_size(1280, min(max(height, 800), 8000))
    driver.save_screenshot(str(shots / f"{page.stem}.png"))
    driver.set_window_size(PHONE_PX, 1600)
    time.sleep(0.3)
    problems += [f"figure scaled to {scale:.0%} at {PHONE_PX} px, its text too small to read: {src}"
                 for src, scale in figure_scales(driver) if scale < PHONE_MIN_SCALE]
    height = driver.execute_script("return document.body.scrollHeight")
    driver.set_window_size(PHONE_PX, min(max(height, 800), 8000))
    driver.save_screenshot(str(shots / f"{page.stem}-phone.png"))
    driver.set_window_size(1280, 1600)
    print(f"{'FAIL' if problems else 'ok  '} {page.name}: {images} images, math {'rendered' if has_math and not problems else 'none' if not has_math else 'BROKEN'}")
    return problems


# A status row of the landing page -> (its page, how that page's 'Not yet recorded' paragraph names its nets)
STATUS_PAGES = [(r"Table 6: ResNet-(\d+)", "table6.html", "ResNet-{0} ("),
                (r"Figure 6: deeper plain", "fig6_cifar.html", "plain-"),
                (r"Figure 6: deeper ResNets", "fig6_cifar.html", "ResNet-"),
                (r"Shortcut options", "shortcuts.html", "ResNet-"),
                (r"Figure 7", "layer_responses.html", "")]


def status_contradictions(driver, html: Path) -> list[str]:
    """Rows of the landing page's status table that say nothing remains ("–") while the experiment's own
    page lists a net of theirs as not yet recorded (the paragraph "Not yet recorded (...): <nets>")."""
    intro = html / "notebooks" / "intro.html"
    if not intro.exists():
        return []
    driver.get(intro.resolve().as_uri())
    rows = driver.execute_script(
        "return Array.from(document.querySelectorAll('article table tbody tr, main table tbody tr'))"
        ".map(r => Array.from(r.cells).map(c => c.innerText.trim()))")
    problems = []
    for row in rows:
        if len(row) < 4 or row[-1] not in ("–", "-"):
            continue
        for pattern, page, net in STATUS_PAGES:
            match = re.match(pattern, row[0])
            if not match or not (html / "notebooks" / page).exists():
                continue
            driver.get((html / "notebooks" / page).resolve().as_uri())
            missing = driver.execute_script("return Array.from(document.querySelectorAll('p'))"
                                            ".map(p => p.innerText).filter(t => t.startsWith('Not yet recorded'))")
            if any(net.format(*match.groups()) in text for text in missing):
                problems.append(f"'{row[0]}': nothing remains, says the landing page, but {page} lists runs of it "
                                f"not yet recorded")
    return problems


def main(root: str = "book/_build/html") -> int:
    html = Path(root)
    pages = sorted(p for p in html.rglob("*.html") if p.name not in SKIP and "_static" not in p.parts)
    if not pages:
        print(f"no pages under {html}; build the book first: bash scripts/report.sh")
        return 1
    shots = html.parent / "screenshots"
    shots.mkdir(exist_ok=True)
    driver = browser()
    failures = {}
    try:
        for page in pages:
            problems = check_page(driver, page, shots)
            if problems:
                failures[page.name] = problems
        contradictions = status_contradictions(driver, html)
        if contradictions:
            failures["intro.html (status)"] = contradictions
    finally:
        driver.quit()
    for name, problems in failures.items():
        for problem in problems:
            print(f"{name}: {problem}")
    print(f"{len(pages) - len(failures)} passed, {len(failures)} failed; screenshots in {shots}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
