"""`artface show` in a real browser: Debian's chromium, headless, driven by Playwright.

A small KaoKore `aligned` build with failures of three reasons (404, corrupt image, no face) and a
hostile tag, the page made by the command line, opened from disk with no server: no console errors,
every image loads, the gallery and failure counts are the report's, filters change what is shown,
a row opens all its columns, and third-party text stays text.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from artface.build import Build
from artface.testing.images import astronaut_face_crop, blank


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        message = "Debian's chromium is not installed (.ci/run installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI must test the page, never skip it
        pytest.skip(message)
    return path


HOSTILE = '<img src=x onerror="document.title=\'pwned\'"><b>bold</b>'


def make_build(server, root: Path) -> tuple[str, Path]:
    urls, labels, tags = [], ["image,gender,status,set"], []
    for i in range(10):
        path = f"/iiif/{i}.tif/0,0,256,256/256,256/0/default.jpg"
        if i == 3:
            urls.append(server.add(path, kind="status", status=404))
        elif i == 5:
            urls.append(server.add(path, b"\xff\xd8\xff\xe0 not a jpeg"))
        elif i == 7:
            urls.append(server.add(path, blank()))
        else:
            urls.append(server.add(path, astronaut_face_crop(i)))
        labels.append(f"{i:08d}.jpg,{i % 2},{i % 4},{'test' if i >= 8 else 'train'}")
        tags.append(f"{i:08d}.jpg:原典={HOSTILE if i == 1 else 'scroll'};向き={'横' if i % 3 else '正面'}")
    root.mkdir(parents=True)
    (root / "urls.txt").write_text("\n".join(urls) + "\n")
    (root / "labels.csv").write_text("\n".join(labels) + "\n")
    (root / "original_tags.txt").write_text("\n".join(tags) + "\n")
    return str(root), root


def test_show_page_in_a_real_browser(http_server, tmp_path):
    exe = chromium()
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    src, _ = make_build(http_server, tmp_path / "src")
    cli = [sys.executable, "-m", "artface.cli"]
    opts = ["kaokore", "--config", "aligned", "--source", src, "--set", "size=96", "--set", "fetch_retries=0"]
    built = subprocess.run([*cli, "build", *opts], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    res = subprocess.run([*cli, "show", *opts], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    index = Path(res.stdout.strip().rsplit(": ", 1)[1])
    assert index.is_file() and index.name == "index.html"
    build = Build.open(index.parent.parent)
    rep = build.report
    assert rep["failed_by_reason"] == {"http_404": 1, "corrupt_image": 1, "no_face": 1} and rep["written"] == 7

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(index.as_uri())
        page.wait_for_load_state("load")
        # every image loads (lazy ones made eager first), none from the network
        page.evaluate("document.querySelectorAll('img').forEach(i => { i.loading = 'eager'; })")
        page.wait_for_function("[...document.images].every(i => i.complete)")
        broken = page.evaluate("[...document.images].filter(i => !(i.naturalWidth > 0)).map(i => i.src)")
        assert not broken, broken
        srcs = page.evaluate("[...document.images].map(i => i.src)")
        assert srcs and all(s.startswith("file://") for s in srcs)
        # the counts are the report's
        assert page.text_content("#gallery-count").startswith(f"{rep['written']} of {rep['written']} faces")
        assert page.locator("#grid .card").count() == rep["written"]
        assert page.locator("#failure-list .card").count() == rep["failed"]
        assert {page.get_attribute(f"#failure-list .card >> nth={k}", "data-failure") for k in range(3)} == \
            {f["id"] for f in rep["failures"]}
        assert page.locator("#chart-list img").count() >= 2
        # a filter changes what is shown
        page.select_option("#f-split", "test")
        test_rows = build.num_rows("test")
        assert page.text_content("#gallery-count").startswith(f"{test_rows} of {rep['written']}")
        assert page.locator("#grid .card").count() == test_rows
        page.select_option("#f-split", "")
        page.select_option("#f-label-face_direction", "side")
        side = sum(1 for r in build.dataset("train").to_list() + build.dataset("test").to_list() if r["face_direction"] == "side")
        assert page.locator("#grid .card").count() == side
        page.select_option("#f-label-face_direction", "")
        # a row opens all its columns
        page.click("#grid .card >> nth=0")
        page.wait_for_selector("#row-dialog[open]")
        shown = page.text_content("#row-table")
        for col in ("landmarks_source", "kps5", "image_url", "caption_en"):
            assert col in shown
        page.click("#row-dialog button")
        # third-party text stays text
        assert page.title() != "pwned" and page.locator("#grid b").count() == 0
        assert HOSTILE in page.text_content("#grid")
        page.screenshot(path=str(tmp_path / "show.png"), full_page=True)
        browser.close()
    assert not errors, errors
    data = (index.parent / "data.js").read_text()
    assert "</script" not in data.lower(), "no string can end the data script"
    assert json.loads(data.split("=", 1)[1].rstrip().rstrip(";"))["summary"]["written"] == rep["written"]


def test_show_pairs_from_dedup_and_url_only_thumbnails_from_the_fetch_cache(http_server, tmp_path):
    import io

    from PIL import Image

    from artface.builders import load_builder
    from artface.dedup import dedup
    from artface.show import show

    src, root = make_build(http_server, tmp_path / "src")
    # a planted copy: record 9 is record 0 re-encoded
    buf = io.BytesIO()
    Image.open(io.BytesIO(astronaut_face_crop(0))).save(buf, "JPEG", quality=60)
    http_server.add("/iiif/9.tif/0,0,256,256/256,256/0/default.jpg", buf.getvalue())
    original = load_builder("kaokore", "original", source=src, fetch_retries=0).build().build
    dedup([original], tmp_path / "dd")
    index = show(original, tmp_path / "page", dedup=tmp_path / "dd")
    data = json.loads((index.parent / "data.js").read_text().split("=", 1)[1].rstrip().rstrip(";"))
    pairs = {tuple(sorted((p["a"]["id"], p["b"]["id"]))): p for p in data["dups"]["pairs"]}
    assert ("00000000", "00000009") in pairs
    pair = pairs[("00000000", "00000009")]
    assert {pair["a"]["split"], pair["b"]["split"]} == {"train", "test"} and all((index.parent / pair[s]["t"]).is_file() for s in "ab")
    # URL-only: no pixels in the build, thumbnails only from what this machine fetched (never from the network)
    urls = load_builder("kaokore", "urls", source=src).build().build
    index = show(urls, tmp_path / "urls-page")
    rows = json.loads((index.parent / "data.js").read_text().split("=", 1)[1].rstrip().rstrip(";"))["rows"]
    assert {r["id"] for r in rows if r["t"]} == {f"{i:08d}" for i in (0, 1, 2, 4, 6, 7, 8, 9)}, "fetched by the original build"


CARD_CASES = [("kaokore", "urls", "urls"), ("metfaces", "aligned", "pixels"), ("metfaces", "urls", "urls"),
              ("aahq", "aligned", "urls"), ("wikiart_face", "urls", "urls"), ("all", "aligned", "pixels")]


@pytest.mark.parametrize("name,config,mode", CARD_CASES)
def test_every_card_section_is_visible_in_a_browser(name, config, mode, http_server, tmp_path):
    """Cards rendered as the Hub renders Markdown (raw HTML passes through): every heading is visible
    text, so no tag in a template or in third-party text swallows the rest of the card."""
    import importlib

    from markdown_it import MarkdownIt

    from artface.publish import publish

    exe = chromium()
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    options = importlib.import_module(f"artface.builders.{name}.test_builder").contract_source(tmp_path / "src", http_server, config)
    dest = tmp_path / "repo"
    publish(name, config, mode, to=str(dest), size=64, max_records=3, **options)
    text = (dest / "README.md").read_text()
    body = text.split("---", 2)[2]
    headings = [ln.lstrip("#").strip() for ln in body.splitlines() if ln.startswith("#")]
    html = MarkdownIt("commonmark", {"html": True}).enable("table").render(body)
    page = tmp_path / "card.html"
    page.write_text(f"<!doctype html><html><head><meta charset='utf-8'></head><body>{html}</body></html>")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        tab = browser.new_page()
        tab.goto(page.as_uri())
        shown = tab.evaluate("document.body.innerText")
        rendered = tab.evaluate("[...document.querySelectorAll('h1,h2,h3')].map(h => h.innerText.trim())")
        browser.close()
    assert headings and rendered == headings, "a heading was swallowed or not rendered"
    assert all(h in shown for h in headings)


def test_serve_prints_a_loopback_url_that_serves_the_page(http_server, tmp_path):
    import signal
    import time
    import urllib.request

    src, _ = make_build(http_server, tmp_path / "src")
    cli = [sys.executable, "-m", "artface.cli"]
    opts = ["kaokore", "--config", "urls", "--source", src]
    assert subprocess.run([*cli, "build", *opts], capture_output=True, timeout=120).returncode == 0
    proc = subprocess.Popen([*cli, "show", *opts, "--serve"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = None
        deadline = time.time() + 60
        while url is None and time.time() < deadline:
            line = proc.stdout.readline()
            if line.startswith("serving on "):
                url = line.split()[2]
        assert url and url.startswith("http://127.0.0.1:"), url
        with urllib.request.urlopen(url + "index.html", timeout=10) as r:
            assert r.status == 200 and b'<script src="data.js">' in r.read()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    assert proc.returncode == 130
