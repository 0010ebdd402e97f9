"""The book reads offline: every page includes each script once and loads nothing from another host.

sphinx-thebe adds its configuration script on every `env-before-read-docs`, which Jupyter Book fires twice
(the bibliography makes Sphinx read again), so each page carried two copies; this drops exact duplicates.
MathJax comes from the `sphinx-mathjax-offline` package, copied into the build (see _config.yml).
"""
from __future__ import annotations

from typing import Any


def _script_key(js: Any) -> tuple[str, tuple[tuple[str, str], ...]]:
    # an inline script is added with filename None once and '' the other time: both mean "no file"
    attributes = getattr(js, "attributes", {}) or {}
    return str(getattr(js, "filename", js) or ""), tuple(sorted((k, str(v)) for k, v in attributes.items()))


def dedupe_scripts(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    """Keep the first of each identical script (same file or body, same attributes)."""
    seen: set = set()
    kept = []
    for js in context.get("script_files", []):
        key = _script_key(js)
        if key not in seen:
            seen.add(key)
            kept.append(js)
    context["script_files"] = kept


def setup(app: Any) -> dict[str, Any]:
    app.connect("html-page-context", dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
