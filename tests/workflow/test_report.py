"""snakemake --report: one self-contained HTML file with every preview and the rule graph."""

import base64
import json
import re
from html.parser import HTMLParser

import pytest

from .snakemake_runner import snakemake, write_config

pytestmark = [pytest.mark.workflow, pytest.mark.slow]

#: Attributes through which a browser loads something when the page opens.
_LOADING = {"script": "src", "link": "href", "img": "src", "iframe": "src", "source": "src",
            "embed": "src", "object": "data", "video": "src", "audio": "src"}


class _Resources(HTMLParser):
    """The resource addresses of the tags of a page, and its inline styles."""

    def __init__(self):
        super().__init__()
        self.addresses, self.styles, self._in_style = [], [], False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if _LOADING.get(tag) in attrs:
            self.addresses.append((tag, attrs[_LOADING[tag]] or ""))
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.styles.append(data)


def _script_json(html, script_id, name):
    """The JSON value assigned to ``var name`` in ``<script id=script_id>``."""
    match = re.search(rf'<script id="{script_id}">\s*var {name} = (.*?);\s*</script>', html, flags=re.S)
    assert match, f"no {name} in the report"
    return json.loads(match.group(1))


def test_report_is_offline_with_every_preview_and_the_rule_graph(tmp_path):
    write_config(tmp_path, demo={"outdir": "demo", "seed": 3, "full_frame": False, "program": "default"})
    snakemake(tmp_path, "demo")
    result = snakemake(tmp_path, "demo", "--report", "report.html")
    report = tmp_path / "report.html"
    assert report.is_file(), result.stderr[-3000:]
    html = report.read_text()

    # self-contained: nothing the page loads comes from elsewhere
    page = _Resources()
    page.feed(html)
    external = [(tag, a) for tag, a in page.addresses if not a.startswith("data:")]
    assert external == []
    for style in page.styles:
        assert not re.search(r"@import|url\(\s*['\"]?(https?:)?//", style), style[:200]

    # one preview per rate, embedded byte for byte, with its caption
    rates = sorted((tmp_path / "demo" / "uncal").glob("*_rate.fits"))
    assert len(rates) >= 5
    results = _script_json(html, "results", "results")
    previews = {key: value for key, value in results.items() if key.endswith("_rate.png")}
    made = sorted(str(p.relative_to(tmp_path)).replace(".fits", ".png") for p in rates)
    assert sorted(previews) == made, result.stderr[-3000:]
    for key, entry in previews.items():
        header, _, payload = entry["data_uri"].partition(";base64,")
        assert header.startswith("data:image/png"), header
        assert base64.b64decode(payload) == (tmp_path / key).read_bytes(), key
        assert "asinh stretch" in entry["caption"] and key.removesuffix("_rate.png") in entry["caption"]
    categories = _script_json(html, "categories", "categories")
    assert sorted(categories["detector1"]["rate previews"]) == sorted(previews)

    # the rule graph: the rules that made the products, and the workflow description
    graph = _script_json(html, "rulegraph", "rulegraph_spec")
    nodes = next(d["values"] for d in graph["data"] if d["name"] == "node-data")
    assert {"detector1", "associations", "demo"} <= {node["rule"] for node in nodes}
    assert "count-rate image" in json.dumps(_script_json(html, "workflow-desc", "workflow_desc"))
