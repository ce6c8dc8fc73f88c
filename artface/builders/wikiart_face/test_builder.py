"""WikiART Face: the released zip and the Hub parquet as sources, and a rebuild over portrait URLs
served by a real local HTTP server (with the optional circle blur)."""
from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from artface.builders import load_builder
from artface.builders.wikiart_face.builder import ARTIST_IDS, MOVEMENTS, WikiArtFace, artists_of, circle_blur
from artface.testing.images import astronaut_face_crop, astronaut_scene, blank


def release_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("image_face/realism/ilya-repin_portrait-of-a-man-1.png", astronaut_face_crop(1, fmt="PNG"))
        zf.writestr("image_face/realism/ivan-kramskoy_unknown-woman.png", astronaut_face_crop(2, fmt="PNG"))
        zf.writestr("image_face/rococo/francois-boucher_madame-2.png", astronaut_face_crop(3, fmt="PNG"))
        zf.writestr("image_face/README.txt", "not an image")
    return buf.getvalue()


def test_movements_are_the_15_of_the_release():
    assert len(MOVEMENTS) == 15 and MOVEMENTS[0] == "abstract-expressionism" and "realism" in MOVEMENTS


def test_the_crawler_metadata_kept_in_the_folder_is_pinned_checked_and_reported(http_server, tmp_path):
    """metadata/ is upstream's (asahi417/wikiart-crawler at 3e3d7cf), pinned by its path in the folder:
    each build checks it and its report names it; the copies match upstream's files where they are here."""
    from artface.sources import UpstreamCheck, UpstreamChanged, read_pins

    pins = read_pins(WikiArtFace.FOLDER / "checksums.tsv")
    assert set(pins) == {f"metadata/{p.name}" for p in (WikiArtFace.FOLDER / "metadata").iterdir() if p.suffix != ".md"}
    shared = WikiArtFace.FOLDER.parents[3] / "shared" / "upstream" / "wikiart_face"
    if shared.is_dir():
        for name, pin in pins.items():
            assert (shared / name.split("/", 1)[1]).read_bytes() == (WikiArtFace.FOLDER / name).read_bytes()
    b = load_builder("wikiart_face", "urls", source=serve_portraits(http_server), cache_dir=str(tmp_path))
    b.records()
    read = {f["file"]: f["pin"] for f in b.report()["upstream_files"]}
    assert {n: read[n] for n in pins} == dict.fromkeys(pins, "pinned")

    edited = tmp_path / "folder"  # a maintainer edits a kept file without pinning it again
    (edited / "metadata").mkdir(parents=True)
    (edited / "metadata" / "realism.txt").write_text("someone-new\n")
    check = UpstreamCheck({"metadata/realism.txt": pins["metadata/realism.txt"]})
    with pytest.raises(UpstreamChanged, match="metadata/realism.txt changed upstream since artface pinned it"):
        check.check_vendored("wikiart_face", edited)


def test_released_zip_over_http(http_server, tmp_path):
    url = http_server.add("/releases/v0.0.0/image_face.zip", release_zip())
    b = load_builder("wikiart_face", "released", source=url, cache_dir=str(tmp_path))
    b.download_and_prepare()
    ds = b.as_dataset(split="train")
    rows = {r["id"]: r for r in ds}
    assert set(rows) == {"realism/ilya-repin_portrait-of-a-man-1", "realism/ivan-kramskoy_unknown-woman", "rococo/francois-boucher_madame-2"}
    r = rows["realism/ilya-repin_portrait-of-a-man-1"]
    assert ds.features["movement"].int2str(r["movement"]) == "realism" and r["artist"] == "ilya-repin"
    assert r["captions"] == ["a realism portrait by ilya-repin"] and r["image"].size == (256, 256)
    assert http_server.hits("/releases/v0.0.0/image_face.zip") == 1
    load_builder("wikiart_face", "released", source=url, cache_dir=str(tmp_path / "again")).records()
    assert http_server.hits("/releases/v0.0.0/image_face.zip") == 1, "the zip comes from the fetch cache"


def test_hub_parquet_layout_as_source(tmp_path):
    rows = [
        {"image": {"bytes": astronaut_face_crop(i, fmt="PNG"), "path": f"{i}.png"}, "id": f"57727{i}", "title": f"Portrait {i}",
         "url": f"https://www.wikiart.org/en/a/p-{i}", "artistUrl": "/en/ilya-repin", "artistName": "Ilya Repin",
         "completitionYear": 1880 + i, "styles": ["Realism"], "genres": ["portrait"], "group": None}
        for i in range(3)
    ]
    table = pa.Table.from_pylist(rows)
    (tmp_path / "data").mkdir()
    pq.write_table(table, tmp_path / "data" / "test-00000-of-00001.parquet")
    b = load_builder("wikiart_face", "released", source=str(tmp_path / "data"), cache_dir=str(tmp_path / "hf"))
    b.download_and_prepare()
    ds = b.as_dataset(split="train")
    r = ds[1]
    assert r["title"] == "Portrait 1" and r["year"] == 1881 and r["artist"] == "Ilya Repin"
    assert ds.features["movement"].int2str(r["movement"]) == "realism" and r["captions"] == ["a realism portrait by Ilya Repin"]
    assert np.array_equal(np.asarray(r["image"]), np.asarray(Image.open(io.BytesIO(rows[1]["image"]["bytes"]))))


def serve_portraits(server) -> str:
    lines = ["url,movement,artist,title"]
    for i, (movement, artist) in enumerate([("realism", "ilya-repin"), ("baroque", "rembrandt"), ("symbolism", "odilon-redon")]):
        url = server.add(f"/wikiart/images/{artist}/{i}.jpg", astronaut_scene(1.0 + 0.25 * i, (40 * i, 30), (700, 700), "JPEG"))
        lines.append(f"{url},{movement},{artist},Portrait {i}")
    lines.append(f"{server.url}/wikiart/images/gone.jpg,realism,ilya-repin,Lost")
    lines.append(f"{server.add('/wikiart/images/landscape.jpg', blank(400))},realism,ilya-repin,A field")
    return server.add("/lists/portraits.csv", ("\n".join(lines) + "\n").encode())


#: records per split that contract_source() builds into, per config (pixel configs: max_records=5)
CONTRACT_SPLITS = {"released": {"train": 3}, "rebuild": {"train": 5}, "urls": {"train": 5}, "crawl": {"train": 3}}


def contract_source(tmp_path, server, config: str) -> dict:
    """released: the release zip as the user downloaded it (local); rebuild/urls: a portrait CSV."""
    if config == "crawl":
        return serve_wikiart_api(server, key=None)
    if config == "released":
        tmp_path.mkdir(parents=True, exist_ok=True)
        (tmp_path / "image_face.zip").write_bytes(release_zip())
        return {"source": str(tmp_path / "image_face.zip")}
    return {"source": serve_portraits(server)}


def test_rebuild_with_and_without_blur(http_server, tmp_path):
    src = serve_portraits(http_server)
    plain = load_builder("wikiart_face", "rebuild", source=src, cache_dir=str(tmp_path / "a"), fetch_retries=0)
    plain.download_and_prepare()
    rep = plain.report()
    assert rep["written"] == 3 and rep["failed_by_reason"] == {"http_404": 1, "no_face": 1}
    blurred = load_builder("wikiart_face", "rebuild", source=src, blur=True, cache_dir=str(tmp_path / "b"), fetch_retries=0)
    blurred.download_and_prepare()
    a, b = plain.as_dataset(split="train")[0], blurred.as_dataset(split="train")[0]
    pa_, pb = np.asarray(a["image"], float), np.asarray(b["image"], float)
    assert pa_.shape == (256, 256, 3)
    assert np.abs(pa_[108:148, 108:148] - pb[108:148, 108:148]).max() == 0, "the centre circle stays sharp"
    assert np.abs(pa_[:20, :20] - pb[:20, :20]).mean() > 0.5, "the corners are blurred"
    assert a["captions"] == ["a realism portrait by ilya-repin"] and a["kps5"] is not None
    streamed = list(load_builder("wikiart_face", "rebuild", source=src, blur=True, cache_dir=str(tmp_path / "c"),
                                 fetch_retries=0).as_streaming_dataset(split="train"))
    assert [r["id"] for r in streamed] == [r["id"] for r in blurred.as_dataset(split="train")]
    assert np.array_equal(np.asarray(streamed[0]["image"]), pb.astype(np.uint8))


def test_urls_config_and_bad_lists(http_server, tmp_path):
    src = serve_portraits(http_server)
    rows = list(load_builder("wikiart_face", "urls", source=src, cache_dir=str(tmp_path)).as_streaming_dataset(split="train"))
    assert len(rows) == 5 and rows[0]["title"] == "Portrait 0"
    bad = http_server.add("/lists/bad.csv", b"url,movement\nhttp://x/y.jpg,cubism\n")
    with pytest.raises(ValueError, match="line 2: unknown movement 'cubism'"):
        load_builder("wikiart_face", "urls", source=bad, cache_dir=str(tmp_path / "b")).records()
    with pytest.raises(ValueError, match="cannot tell what"):
        load_builder("wikiart_face", "urls", source="http://x/list.txt", cache_dir=str(tmp_path / "c")).records()


def test_circle_blur_geometry():
    img = Image.fromarray(np.random.default_rng(0).integers(0, 255, (256, 256, 3), dtype=np.uint8))
    out = np.asarray(circle_blur(img), float)
    src = np.asarray(img, float)
    assert np.array_equal(out[128, 40:216], src[128, 40:216])  # within radius 100 of the centre
    assert np.abs(out[0:10, 0:10] - src[0:10, 0:10]).mean() > 20


# -- the WikiArt API, as the original crawler used it, from a local server that speaks it -------------

KEY = "SeCrEtSeSsIoNkEy"


def serve_wikiart_api(server, key: str | None = KEY) -> dict:
    """pre-raphaelite-brotherhood: julia-margaret-cameron has two pages (portraits, a landscape, a portrait
    whose image is gone); john-ruskin's images are withheld (placeholder); the other artists are unknown
    to the API (404). With ``key``, every API route wants the session key that the login gives."""
    k = f"&authSessionKey={key}" if key else ""
    server.add("/en/Api/2/login?accessCode=acc&secretCode=sec", json.dumps({"SessionKey": key}).encode())
    jmc, ruskin = ARTIST_IDS["julia-margaret-cameron"], ARTIST_IDS["john-ruskin"]
    paintings = {
        "p1": ("portrait", server.add("/img/p1.jpg", astronaut_scene(1.0, (40, 30), (700, 700), "JPEG"))),
        "p2": ("landscape", server.add("/img/p2.jpg", blank(400))),
        "p3": ("portrait", server.url + "/img/gone.jpg"),
        "p4": ("portrait", server.add("/img/p4.jpg", astronaut_scene(1.3, (10, 20), (800, 760), "JPEG"))),
    }
    for pid, (genre, image) in paintings.items():
        detail = {"id": pid, "title": f"Study {pid}", "url": f"study-{pid}", "artistUrl": "julia-margaret-cameron",
                  "completitionYear": 1867, "genres": [genre], "styles": ["Romanticism"], "image": image}
        server.add(f"/en/api/2/Painting?id={pid}{k}", json.dumps(detail).encode())
    page = lambda ids, token: json.dumps({"data": [{"id": i, "image": paintings[i][1]} for i in ids],  # noqa: E731
                                          "paginationToken": token, "hasMore": token is not None}).encode()
    server.add(f"/en/api/2/PaintingsByArtist?id={jmc}{k}", page(["p1", "p2"], "tok-2"))
    server.add(f"/en/api/2/PaintingsByArtist?id={jmc}&paginationToken=tok-2{k}", page(["p3", "p4"], None))
    withheld = json.dumps({"data": [{"id": "r1", "image": "https://uploads.wikiart.org/Content/images/FRAME-600x480.jpg"}],
                           "hasMore": False}).encode()
    server.add(f"/en/api/2/PaintingsByArtist?id={ruskin}{k}", withheld)
    return {"source": server.url, "movements": ["pre-raphaelite-brotherhood"]}


def test_crawl_the_wikiart_api_like_the_original_crawler(http_server, tmp_path, monkeypatch):
    monkeypatch.setenv("WIKIART_ACCESS_CODE", "acc")
    monkeypatch.setenv("WIKIART_SECRET_CODE", "sec")
    opts = serve_wikiart_api(http_server)
    b = load_builder("wikiart_face", "crawl", size=64, fetch_retries=0, cache_dir=str(tmp_path / "hf"), **opts)
    b.download_and_prepare()
    rep = b.report()
    ids = [r["id"] for r in b.as_dataset(split="train")]
    assert ids == ["pre-raphaelite-brotherhood/julia-margaret-cameron/p1", "pre-raphaelite-brotherhood/julia-margaret-cameron/p4"]
    assert rep["failed_by_reason"] == {"http_404": 1}, "the portrait whose image is gone is a failure, the landscape no record"
    artists = len(artists_of("pre-raphaelite-brotherhood"))
    assert rep["skipped"]["artist_images_withheld"] == 1
    assert rep["skipped"]["artist_not_in_the_api"] + rep["skipped"].get("artist_without_id", 0) == artists - 2
    row = b.as_dataset(split="train")[0]
    assert row["title"] == "Study p1" and row["genres"] == ["portrait"] and row["year"] == 1867
    assert row["source_url"] == "https://www.wikiart.org/en/julia-margaret-cameron/study-p1"
    assert row["landmarks_source"].endswith("+face_mesh") and row["image"].size == (64, 64)
    jmc = ARTIST_IDS["julia-margaret-cameron"]
    assert http_server.hits(f"/en/api/2/PaintingsByArtist?id={jmc}&paginationToken=tok-2&authSessionKey={KEY}") == 1
    for f in Path(os.environ["ARTFACE_CACHE"]).rglob("*"):  # the session key is never written
        assert not f.is_file() or KEY.encode() not in f.read_bytes(), f
    assert KEY not in json.dumps(rep)


def test_crawl_without_login_and_with_api_errors(http_server, tmp_path, monkeypatch):
    monkeypatch.delenv("WIKIART_ACCESS_CODE", raising=False)
    from artface.sources import SourceError

    jmc = ARTIST_IDS["julia-margaret-cameron"]
    http_server.add(f"/en/api/2/PaintingsByArtist?id={jmc}", kind="status", status=500)
    b = load_builder("wikiart_face", "crawl", source=http_server.url, movements=["pre-raphaelite-brotherhood"],
                     cache_dir=str(tmp_path / "hf"))
    with pytest.raises(SourceError, match=r"the WikiArt API failed at .*PaintingsByArtist.*http_500"):
        b.records()
    with pytest.raises(ValueError, match="unknown movements"):
        load_builder("wikiart_face", "crawl", source=http_server.url, movements=["cubism"], cache_dir=str(tmp_path / "c")).records()


ACCESS, SECRET, SESSION = "acc ess/+&=Ä1", "s3cr3t key?#", "sess/ion+key=Ü"


def _forms(secret: str) -> set[str]:
    from urllib.parse import quote, quote_plus

    return {secret, quote(secret), quote(secret, safe=""), quote_plus(secret)}


def test_crawl_credentials_never_appear_in_any_message(http_server, tmp_path):
    import subprocess
    import sys
    from urllib.parse import quote

    env = dict(os.environ, WIKIART_ACCESS_CODE=ACCESS, WIKIART_SECRET_CODE=SECRET)
    cmd = [sys.executable, "-m", "artface.cli", "build", "wikiart_face", "--config", "crawl", "--source", http_server.url,
           "--set", "movements=pre-raphaelite-brotherhood", "--set", "fetch_retries=0", "--set", "size=64"]
    # the login is refused: the error names no code, in any spelling
    http_server.add(f"/en/Api/2/login?accessCode={quote(ACCESS)}&secretCode={quote(SECRET)}", kind="status", status=500)
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 1 and "login failed" in res.stderr, (res.stdout[-1500:], res.stderr[-1500:])
    # logged in, then the API fails on a listing: the session key is in the URL, never in the message
    http_server.add(f"/en/Api/2/login?accessCode={quote(ACCESS)}&secretCode={quote(SECRET)}",
                    json.dumps({"SessionKey": SESSION}).encode())
    http_server.add("/en/api/2/PaintingsByArtist", kind="dynamic", respond=lambda path: (500, b"server trouble"))
    res2 = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert res2.returncode == 1 and "***" in res2.stderr
    out = Path(os.environ["ARTFACE_OUT"])
    written = " ".join(p.read_text(errors="replace") for p in out.rglob("*") if p.is_file()) if out.exists() else ""
    for text in (res.stdout + res.stderr, res2.stdout + res2.stderr, written):
        for secret in (ACCESS, SECRET, SESSION):
            assert not any(f in text for f in _forms(secret)), (secret, text[-500:])


def test_a_hostile_api_is_bounded_and_its_bad_parts_counted(http_server, tmp_path, monkeypatch):
    from artface.builders.wikiart_face import api as api_module

    monkeypatch.setattr(api_module, "MAX_PAGES", 20)
    jmc, ruskin = ARTIST_IDS["julia-margaret-cameron"], ARTIST_IDS["john-ruskin"]
    image = http_server.add("/img/p.jpg", astronaut_scene(1.0, (40, 30), (700, 700), "JPEG"))

    def endless(path: str):  # every page says there is more, with a fresh token
        n = int(path.rsplit("paginationToken=t", 1)[1]) if "paginationToken=t" in path else 0
        return 200, json.dumps({"data": [{"id": f"e{n}", "image": image}], "paginationToken": f"t{n + 1}",
                                "hasMore": True}).encode()

    http_server.add("/en/api/2/PaintingsByArtist", kind="dynamic", respond=lambda p: endless(p) if jmc in p else
                    (200, b"<html>not json</html>") if ruskin in p else (404, b""))
    details = {"e0": {"genres": "portrait"}, "e1": {"genres": ["portrait"], "completitionYear": 10**12}}

    def painting(path: str):
        pid = path.rsplit("=", 1)[1]
        d = {"id": pid, "title": "t", "url": pid, "genres": ["portrait"], "image": image, **details.get(pid, {})}
        return 200, json.dumps(d).encode()

    http_server.add("/en/api/2/Painting", kind="dynamic", respond=painting)
    build = load_builder("wikiart_face", "crawl", source=http_server.url, movements=["pre-raphaelite-brotherhood"],
                         size=64, fetch_retries=0).build().build
    rep = build.report
    assert rep["skipped"]["listing_over_max_pages"] == 1 and rep["skipped"]["malformed_listing_page"] == 1
    assert rep["skipped"]["malformed_painting"] == 1  # genres not a list: that painting, not the crawl
    assert rep["failed_by_reason"].get("bad_value") == 1  # a year of 10^12: that record's failure
    assert rep["total"] == 19 and build.num_rows() + rep["failed"] == 19
    listing_requests = [p for _, p in http_server.log if p.endswith("PaintingsByArtist")]
    assert len(listing_requests) <= 20 + 1 + len(artists_of("pre-raphaelite-brotherhood")), "paging is bounded"

    # max_per_artist bounds the detail requests too
    http_server.log.clear()
    capped = load_builder("wikiart_face", "crawl", source=http_server.url, movements=["pre-raphaelite-brotherhood"],
                          size=64, fetch_retries=0, max_per_artist=2).build().build
    assert capped.report["total"] == 2
    detail_requests = [p for _, p in http_server.log if p.endswith("/Painting")]
    assert len(detail_requests) <= 3, detail_requests
