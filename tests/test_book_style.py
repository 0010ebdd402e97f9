"""The book's stylesheet for wide tables is in place (book/_static/wide-tables.css, issue #18).

That every table fits the text column at 1280 px was checked in a browser (headless Chromium, all
chapters); this guards the wiring: the file exists, the Jupyter Book config links it, and it styles
the tables of cell outputs and lets their containers scroll sideways.
"""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_book_links_the_wide_tables_stylesheet() -> None:
    config = (ROOT / "book" / "_config.yml").read_text()  # a link to ../_config.yml
    css_files = re.search(r"^    html_css_files: \[(.*)\]$", config, re.M)
    assert css_files and '"wide-tables.css"' in css_files.group(1)
    css = (ROOT / "book" / "_static" / "wide-tables.css").read_text()
    assert "div.cell_output table" in css and "font-size" in css
    assert "overflow-x: auto" in css
