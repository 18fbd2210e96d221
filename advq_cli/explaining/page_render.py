"""The report's HTML: one file holding its data, its script and style, and plotly.js.

plotly.js comes from the ``plotly`` package (the bundle its own ``to_html`` inlines); the
page's script (``assets/report.js``) draws every chart from the embedded data with it and
does the rest (detail panel, gallery, downloads) in plain JavaScript. A Content Security
Policy forbids every request, so a page that tried to fetch anything would fail in view.
"""

from __future__ import annotations

import html
import json
from importlib.resources import files
from pathlib import Path
from typing import Any

from ..atomic import atomic_write_text

POLICY = (
    "default-src 'none'; img-src data: blob:; style-src 'unsafe-inline'; "
    "script-src 'unsafe-inline' 'unsafe-eval'; font-src data:"
)
"""Nothing from the network: images are data URIs, scripts and styles are inline."""


def write_page(out: Path, data: dict[str, Any], title: str) -> None:
    """Write the page atomically."""
    atomic_write_text(out, page(data, title))


def page(data: dict[str, Any], title: str) -> str:
    from plotly.offline import get_plotlyjs

    assets = files("advq_cli.explaining") / "assets"
    return TEMPLATE.format(
        policy=POLICY,
        title=html.escape(title),
        style=assets.joinpath("report.css").read_text(encoding="utf-8"),
        data=script_safe(json.dumps(data, allow_nan=False, separators=(",", ":"))),
        plotly=script_safe(get_plotlyjs()),
        script=script_safe(assets.joinpath("report.js").read_text(encoding="utf-8")),
    )


def script_safe(text: str) -> str:
    """Text that cannot end its ``<script>`` element early (``</`` is written ``<\\/``, the same
    inside JSON and JavaScript strings)."""
    return text.replace("</", "<\\/")


TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{policy}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
{style}
</style>
</head>
<body>
<header><h1>{title}</h1>
<nav><a href="#summary">Summary</a> <a href="#map">Data map</a> <a href="#classes">Per class</a>
<a href="#measures">Measures</a> <a href="#subsets">Subsets and evaluations</a></nav></header>
<div id="layout">
<main>
<section id="summary"><h2>Summary</h2><div id="summary-body"></div><div id="agreement-plot" class="plot"></div></section>
<section id="map"><h2>Data map</h2><p id="map-note"></p><div id="map-plot" class="plot tall"></div>
<p><button id="download-selection" disabled>Select points (box or lasso) to export their indices</button>
<span id="selection-note"></span></p></section>
<section id="classes"><h2>Per class</h2><div id="class-plot" class="plot"></div>
<div id="gallery-controls"></div><p id="gallery-note"></p><div id="gallery"></div>
<p id="pager"><button id="page-previous">&larr; previous</button> <span id="page-label"></span>
<button id="page-next">next &rarr;</button></p></section>
<section id="measures"><h2>Measures against the problem rank</h2><div id="measures-table"></div>
<p><label>Measure <select id="measure-choice"></select></label></p><div id="measure-plot" class="plot"></div></section>
<section id="subsets"><h2>Stored subsets</h2><div id="subsets-table"></div>
<h2>Evaluations</h2><div id="evaluations-table"></div></section>
</main>
<aside id="detail"><h2>Example</h2><p class="hint">Hover or click a point of the data map, or a picture of the gallery.</p></aside>
</div>
<script type="application/json" id="advq-data">{data}</script>
<script>{plotly}</script>
<script>{script}</script>
</body>
</html>
"""
