"""The built book as a reader sees it: every page opened in headless Chromium at 1280 and 412 px.

The book is built from the committed notebooks into a temporary folder and served on 127.0.0.1. A page fails
on a broken image, a table or code block cut off without a scroll bar, a NaN/None cell, a page wider than the
window, a formula left as raw TeX, a console error, or any request to another host (the book reads offline).
A screenshot of each page at each width is saved under book/_build/screenshots/ for a person to look at.
"""
from __future__ import annotations

import functools
import http.server
import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "book" / "_build" / "screenshots"
WIDTHS = (1280, 412)

# What a page must not show; each check returns a list of problems (empty: fine).
PAGE_CHECKS_JS = r"""
const problems = [];
const vw = window.innerWidth;
for (const img of document.images) {
  if (!img.complete || img.naturalWidth === 0) problems.push("broken image " + img.src);
}
for (const el of document.querySelectorAll("article table, article pre")) {
  const r = el.getBoundingClientRect();
  if (r.width === 0) continue;
  let a = el, clipped = null;
  while ((a = a.parentElement) && a !== document.body) {
    const ox = getComputedStyle(a).overflowX;
    if (ox === "auto" || ox === "scroll") { clipped = null; break; }
    const ar = a.getBoundingClientRect();
    if ((ox === "hidden" || ox === "clip") && r.right > ar.right + 1) { clipped = a; break; }
  }
  const ownScroll = ["auto", "scroll"].includes(getComputedStyle(el).overflowX);
  if (clipped && !ownScroll) problems.push(el.tagName + " cut off without a scroll bar: "
                                           + el.textContent.slice(0, 60));
  else if (!ownScroll && !a && r.right > vw + 1) problems.push(el.tagName + " runs past the window");
}
for (const c of document.querySelectorAll("td, th")) {
  const t = c.textContent.trim();
  if (["NaN", "nan", "None", "<NA>", "NaT"].includes(t)) problems.push("empty cell shown as " + t);
}
const sw = document.documentElement.scrollWidth;
if (sw > vw + 1) problems.push("page " + sw + " px wide in a " + vw + " px window");
const raw = document.querySelectorAll(".math:not(:has(mjx-container))");
if (raw.length) problems.push(raw.length + " formulas not rendered (raw TeX)");
return problems;
"""


def _browser_paths() -> tuple[str, str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.fail("Chromium and ChromeDriver are needed (bash scripts/install_browser.sh installs Debian's "
                    "chromium and chromium-driver as root)")
    return chromium, driver


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory):
    """The book built from the committed notebooks, served on 127.0.0.1; yields (base URL, page paths)."""
    out = tmp_path_factory.mktemp("book")
    jb = Path(sys.executable).with_name("jupyter-book")
    proc = subprocess.run([str(jb), "build", str(ROOT / "book"), "--path-output", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    html = out / "_build" / "html"
    pages = sorted(p.relative_to(html).as_posix() for p in html.rglob("*.html")
                   if p.parent.name in ("html", "chapters") and p.name not in ("search.html", "genindex.html"))
    handler = functools.partial(_QuietHandler, directory=str(html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", pages
    server.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def driver():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    chromium, chromedriver = _browser_paths()
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--hide-scrollbars=false", "--window-size=1280,900"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    d = webdriver.Chrome(service=Service(chromedriver), options=opts)
    d.set_page_load_timeout(60)
    yield d
    d.quit()


def _open(driver, url: str, width: int) -> list[str]:
    """Load `url` at `width` px; the problems the page shows, its console errors and its outside requests."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600})
    driver.get_log("browser"), driver.get_log("performance")  # drop what earlier pages logged
    driver.get(url)
    driver.execute_async_script("""const done = arguments[arguments.length - 1];
        const wait = () => (window.MathJax && MathJax.startup && MathJax.startup.promise)
            ? MathJax.startup.promise.then(() => done(true)) : done(false);
        document.readyState === "complete" ? wait() : window.addEventListener("load", wait);""")
    problems = list(driver.execute_script(PAGE_CHECKS_JS))
    problems += [f"console: {e['message'][:200]}" for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg.get("method") == "Network.requestWillBeSent":
            host = urlparse(msg["params"]["request"]["url"]).hostname
            if host not in (None, "127.0.0.1"):
                problems.append(f"request to another host: {msg['params']['request']['url'][:120]}")
    return problems


def test_every_page_reads_well_at_desktop_and_phone_widths(site, driver) -> None:
    base, pages = site
    assert any(p.startswith("chapters/") for p in pages), pages
    SHOTS.mkdir(parents=True, exist_ok=True)
    failures = {}
    for page in pages:
        for width in WIDTHS:
            problems = _open(driver, base + page, width)
            driver.save_screenshot(str(SHOTS / f"{Path(page).stem}-{width}.png"))
            if problems:
                failures[f"{page} at {width} px"] = sorted(set(problems))[:8]
    assert not failures, json.dumps(failures, indent=1)


def test_the_checks_catch_what_they_look_for(site, driver, tmp_path: Path) -> None:
    """The same checks on a page made to fail: a broken image, a NaN cell, a table wider than the window."""
    base, _ = site
    # the viewport tag as the book's pages have it: without it a mobile window lays out 980 px and zooms out
    bad = ("<html><head><meta name='viewport' content='width=device-width, initial-scale=1'></head><body><article>"
           "<img src='nope.png'><table style='width: 3000px'><tr><td>NaN</td>"
           + "<td>wide wide wide wide wide wide wide wide</td>" * 30 + "</tr></table></article></body></html>")
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": 412, "height": 900, "deviceScaleFactor": 1, "mobile": True})
    driver.get(base + "index.html")
    driver.execute_script("document.open(); document.write(arguments[0]); document.close();", bad)
    driver.execute_async_script("const done = arguments[arguments.length - 1]; setTimeout(done, 300);")
    problems = driver.execute_script(PAGE_CHECKS_JS)
    joined = " | ".join(problems)
    assert "broken image" in joined and "empty cell shown as NaN" in joined and "px wide" in joined, joined
