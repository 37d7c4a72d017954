"""Remote rasters in ``index build|add --images``: a COG over HTTP (a Range server on loopback)
and in S3 (moto's server mode with IAM authentication), read in place through GDAL.

The encoder is :class:`PixelHashEncoder` (32 bits of the sha256 of a tile's RGB pixels), so equal
codes mean equal pixels. The COG is 512 x 512 px, 3 bands (B04, B03, B02), 128 px blocks, tiled
with ``--tile 128`` (16 tiles): one variant is generated, one cut from the shared Sentinel-2 scene.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.windows import Window

from mlrsir.bench.remote import write_cog
from mlrsir.cli.main import main
from mlrsir.errors import DataError
from mlrsir.geo import remote
from mlrsir.geo.archive import read_tile, walk_inputs
from mlrsir.geo.radiometry import SENTINEL2_L1C
from mlrsir.index.store import CodeIndex
from mlrsir.inference.search import load_query_image, search_by_image
from tests.fakes.range_server import RangeServer
from tests.geo.test_index_scenes import PixelHashEncoder, build

from .conftest import S2_DIR

pytest.importorskip("moto.server", reason="moto[server] (test extra) is not installed")
pytest.importorskip("boto3", reason="boto3 (remote extra) is not installed")

from tests.fakes.s3_server import S3Server  # noqa: E402

SIDE, BLOCK, TILE = 512, 128, 128
BUCKET = "archive"


def synthetic_cog(folder: Path) -> Path:
    """A generated scene: smooth gradients plus noise, reflectance-like values 300 .. 4000."""
    rng = np.random.default_rng(26)
    yy, xx = np.mgrid[0:SIDE, 0:SIDE]
    base = 300 + 3000 * (np.sin(xx / 40.0) * np.cos(yy / 55.0) + 1) / 2
    data = np.stack([base + rng.integers(0, 700, base.shape) * k for k in (1.0, 0.8, 0.6)]).astype(np.uint16)
    return write_cog(folder / "synthetic_20200101.tif", data, Affine(10, 0, 500000, 0, -10, 4000000))


def s2_cog(folder: Path) -> Path:
    """The top-left 512 x 512 px of the shared Sentinel-2 crop, bands B04 B03 B02 (skip when absent)."""
    bands = S2_DIR / "bands"
    if not (bands / "s2_B04.tif").is_file():
        pytest.skip(f"real Sentinel-2 data not found at {bands}")
    planes = []
    for name in ("B04", "B03", "B02"):
        with rasterio.open(bands / f"s2_{name}.tif") as ds:
            window = Window(0, 0, SIDE, SIDE)
            planes.append(ds.read(1, window=window))
            transform, crs = ds.window_transform(window), ds.crs
    return write_cog(folder / "S2A_T18SVG_20160112.tif", np.stack(planes), transform, crs)


@pytest.fixture(params=["synthetic", "sentinel2"])
def cog(request, tmp_path) -> Path:
    folder = tmp_path / "served"
    folder.mkdir()
    return synthetic_cog(folder) if request.param == "synthetic" else s2_cog(folder)


@pytest.fixture
def aws_isolated(monkeypatch, tmp_path):
    """No AWS settings of the machine leak in (profiles, endpoints, credentials files)."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return monkeypatch


@pytest.fixture
def hash_run(monkeypatch, tmp_path):
    import mlrsir.inference.encoder as encoder_module
    from tests.fakes.encoder import make_run

    monkeypatch.setattr(encoder_module, "load_encoder", PixelHashEncoder)
    return make_run(tmp_path / "run")


def codes_by_window(index_dir: Path) -> dict[str, tuple[str, bytes]]:
    """``{"col,row,w,h": (scene path, packed code)}`` of every tile in an index."""
    return {w: (s, c) for w, (s, c, _g) in items_by_window(index_dir).items()}


def items_by_window(index_dir: Path) -> dict[str, tuple[str, bytes, dict]]:
    """``{"col,row,w,h": (scene path, packed code, geo)}`` of every tile in an index."""
    with CodeIndex.open(index_dir, readonly=True) as index:
        rows = list(index.iter_items())
    out = {}
    for row in rows:
        scene, window = row["path"].rsplit("#", 1)
        out[window] = (scene, row["code"], row["geo"])
    return out


# ---------------------------------------------------------------------------- URLs and settings
def test_urls_map_to_gdal_paths():
    assert remote.is_remote_url("HTTPS://h/x.tif") and remote.is_remote_url("s3://b/k.tif")
    assert not remote.is_remote_url("/data/x.tif") and not remote.is_remote_url(Path("s3:/b/k"))
    assert remote.gdal_path("https://h:8/a/x.tif?sig=1") == "/vsicurl/https://h:8/a/x.tif?sig=1"
    assert remote.gdal_path("s3://bucket/a/b.tif") == "/vsis3/bucket/a/b.tif"
    assert remote.gdal_path("/local/x.tif") == "/local/x.tif"
    assert remote.remote_name("https://h/a/T18_B04.tif?sig=1") == "T18_B04"
    assert remote.s3_parts("s3://bucket/prefix/") == ("bucket", "prefix/")


def test_remote_options_defaults_env_and_endpoint(aws_isolated):
    opts = remote.remote_options()
    assert opts["GDAL_DISABLE_READDIR_ON_OPEN"] == "EMPTY_DIR"
    assert opts["GDAL_HTTP_TIMEOUT"] == "30" and opts["GDAL_HTTP_MULTIPLEX"] == "YES"
    assert "AWS_S3_ENDPOINT" not in opts
    aws_isolated.setenv("GDAL_HTTP_TIMEOUT", "5")
    aws_isolated.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000")
    opts = remote.remote_options()
    assert opts["GDAL_HTTP_TIMEOUT"] == "5"
    assert (opts["AWS_S3_ENDPOINT"], opts["AWS_HTTPS"]) == ("127.0.0.1:9000", "NO")
    aws_isolated.delenv("AWS_ENDPOINT_URL")
    assert remote.boto_endpoint() is None
    aws_isolated.setenv("AWS_S3_ENDPOINT", "minio.local:9000")
    assert remote.boto_endpoint() == "https://minio.local:9000"
    aws_isolated.setenv("AWS_HTTPS", "NO")
    assert remote.boto_endpoint() == "http://minio.local:9000"


def test_apply_remote_defaults_keeps_open_settings_out_of_the_environment(aws_isolated):
    for name in ("GDAL_HTTP_TIMEOUT", "GDAL_DISABLE_READDIR_ON_OPEN", "GDAL_HTTP_MULTIPLEX"):
        aws_isolated.setenv(name, "-")  # recorded, so the end of the test restores the variable
        aws_isolated.delenv(name)
    aws_isolated.setenv("GDAL_HTTP_MAX_RETRY", "7")
    options = remote.apply_remote_defaults()
    assert options["GDAL_DISABLE_READDIR_ON_OPEN"] == "EMPTY_DIR" and options["GDAL_HTTP_MAX_RETRY"] == "7"
    assert os.environ["GDAL_HTTP_TIMEOUT"] == "30" and os.environ["GDAL_HTTP_MULTIPLEX"] == "YES"
    assert "GDAL_DISABLE_READDIR_ON_OPEN" not in os.environ


def test_http_folder_is_refused():
    with pytest.raises(DataError, match=r"http://h/scenes/: an HTTP folder cannot be listed"):
        remote.remote_inputs("http://h/scenes/")


# ---------------------------------------------------------------------------- HTTP
def test_http_codes_equal_local_and_rerun_skips(cog, hash_run, tmp_path, capsys):
    assert build(hash_run, [cog], tmp_path / "local", "--tile", TILE) == 0
    local = codes_by_window(tmp_path / "local")
    assert len(local) == (SIDE // TILE) ** 2
    size = cog.stat().st_size
    with RangeServer(cog.parent) as server:
        url = server.url(cog.name)
        assert build(hash_run, [url], tmp_path / "http", "--tile", TILE, "--io-workers", 0) == 0
        fetched = server.bytes_sent
        over_http = codes_by_window(tmp_path / "http")
        assert {w: c for w, (_s, c) in over_http.items()} == {w: c for w, (_s, c) in local.items()}
        # 4 concurrent readers (the default): the same codes; a block may be fetched twice by two threads
        server.reset()  # another URL of the same file (the query is ignored by the server): not in GDAL's cache
        assert build(hash_run, [url + "?w=4"], tmp_path / "http4", "--tile", TILE, "--io-workers", 4) == 0
        assert {w: c for w, (_s, c) in codes_by_window(tmp_path / "http4").items()} == {
            w: c for w, (_s, c) in over_http.items()
        }
        assert server.bytes_sent <= 1.1 * size, (server.bytes_sent, size)
        local_geo = {w: g for w, (_s, _c, g) in items_by_window(tmp_path / "local").items()}
        assert {w: g for w, (_s, _c, g) in items_by_window(tmp_path / "http").items()} == local_geo
        assert {s for s, _c in over_http.values()} == {url}  # the stored scene path is the URL
        with CodeIndex.open(tmp_path / "http", readonly=True) as index:
            assert index.info()["images_root"] == url
            query = f"{url}#{TILE},{TILE},{TILE},{TILE}"  # a remote tile as a query: read over HTTP, found first
            rows = search_by_image(index, PixelHashEncoder(), load_query_image(index, query), k=1)
            assert (rows[0]["path"], rows[0]["distance"]) == (query, 0)
        # a re-run reads no tile again: every tile already present
        server.reset()
        capsys.readouterr()
        add = ["index", "add", "--index", str(tmp_path / "http"), "--images", url, "--tile", str(TILE), "--quiet"]
        assert main(add) == 0
        out = capsys.readouterr().out
        assert "added 0 tiles of 1 scene(s)" in out and f"{len(local)} already present" in out
        assert server.bytes_sent < fetched
    # the whole scene's tiles need at most the file once (header, tile blocks; overviews unread)
    assert fetched <= size, (fetched, size)
    print(f"\nHTTP ingest of {cog.name}: {fetched} bytes fetched of {size} ({fetched / size:.0%})")


def test_http_quarter_reads_under_40_percent(cog, tmp_path):
    """The 4 tiles of the top-left quarter, read like the web's tile view, fetch < 40 % of the file."""
    size = cog.stat().st_size
    with RangeServer(cog.parent) as server:
        url = server.url(cog.name)
        for col in (0, TILE):
            for row in (0, TILE):
                read_tile(url, (col, row, TILE, TILE), None, SENTINEL2_L1C)
        assert 0 < server.bytes_sent < 0.4 * size, (server.bytes_sent, size)
        local = read_tile(str(cog), (TILE, TILE, TILE, TILE), None, SENTINEL2_L1C)
        assert np.array_equal(np.asarray(read_tile(url, (TILE, TILE, TILE, TILE), None, SENTINEL2_L1C)), local)
    print(f"\nquarter of {cog.name} over HTTP: {server.bytes_sent} of {size} bytes ({server.bytes_sent / size:.0%})")


def test_http_quicklook_reads_overviews_only(cog):
    """A decimated whole-scene view (the web's quick-look) comes from the COG's overviews."""
    from mlrsir.geo.archive import read_overview

    size = cog.stat().st_size
    local, _info = read_overview(str(cog), None, SENTINEL2_L1C, max_side=128)
    with RangeServer(cog.parent) as server:
        image, info = read_overview(server.url(cog.name), None, SENTINEL2_L1C, max_side=128)
        assert (info["width"], info["height"]) == (SIDE, SIDE) and image.size == (128, 128)
        assert np.array_equal(np.asarray(image), np.asarray(local))
        assert server.bytes_sent < 0.25 * size, (server.bytes_sent, size)


def test_http_404_and_403_named_and_skipped(hash_run, tmp_path, capsys):
    folder = tmp_path / "served"
    folder.mkdir()
    cog = synthetic_cog(folder)
    with RangeServer(folder, forbidden=("locked.tif",)) as server:
        good, missing, locked = server.url(cog.name), server.url("missing.tif"), server.url("locked.tif")
        assert build(hash_run, [missing, good, locked], tmp_path / "ix", "--tile", TILE) == 3
        out = capsys.readouterr().out
        assert f"skipped {missing}: remote raster not found (HTTP 404)" in out
        assert f"skipped {locked}: remote raster access denied (HTTP 403)" in out
        assert "added 16 tiles of 1 scene(s)" in out
        assert build(hash_run, [missing], tmp_path / "ix2", "--tile", TILE) == 2


def test_http_stalled_server_times_out(monkeypatch, tmp_path, capsys):
    """Every request has a time limit: a server that does not answer fails the scene, named, in bounded time."""
    folder = tmp_path / "served"
    folder.mkdir()
    cog = synthetic_cog(folder)
    monkeypatch.setenv("GDAL_HTTP_TIMEOUT", "1")
    monkeypatch.setenv("GDAL_HTTP_MAX_RETRY", "0")
    monkeypatch.setenv("MLRSIR_REMOTE_ATTEMPTS", "1")  # mlrsir's own retries off too
    from mlrsir.geo.scene import open_scene

    with RangeServer(folder, stall={cog.name: 4.0}) as server:
        url = server.url(cog.name)
        start = time.perf_counter()
        expected = re.escape(url) + r": remote raster request timed out: .*request 1 s, 0 retries"
        with pytest.raises(DataError, match=expected):
            open_scene(url)
        assert time.perf_counter() - start < 3.5


# ---------------------------------------------------------------------------- S3
@pytest.fixture
def s3_archive(cog, aws_isolated, tmp_path):
    """moto holding the COG twice (``scenes/`` and ``other/``) plus a non-raster object."""
    note = tmp_path / "README.txt"
    note.write_text("not a raster\n")
    objects = {f"scenes/{cog.name}": cog, f"other/{cog.name}": cog, "scenes/README.txt": note}
    with S3Server(BUCKET, objects) as server:
        for name, value in server.gdal_env().items():
            aws_isolated.setenv(name, value)
        yield server, cog


def test_s3_prefix_listing_and_codes_equal_local(s3_archive, hash_run, tmp_path):
    server, cog = s3_archive
    assert remote.list_s3_prefix(f"s3://{BUCKET}/scenes/") == [f"s3://{BUCKET}/scenes/{cog.name}"]
    _images, scenes = walk_inputs([f"s3://{BUCKET}/"], (".tif",))
    assert scenes == [f"s3://{BUCKET}/other/{cog.name}", f"s3://{BUCKET}/scenes/{cog.name}"]
    assert build(hash_run, [cog], tmp_path / "local", "--tile", TILE) == 0
    assert build(hash_run, [f"s3://{BUCKET}/scenes/"], tmp_path / "s3", "--tile", TILE) == 0
    local, in_s3 = codes_by_window(tmp_path / "local"), codes_by_window(tmp_path / "s3")
    assert {w: c for w, (_s, c) in in_s3.items()} == {w: c for w, (_s, c) in local.items()}
    assert {s for s, _c in in_s3.values()} == {f"s3://{BUCKET}/scenes/{cog.name}"}


def test_s3_wrong_credentials_named(s3_archive, aws_isolated, hash_run, tmp_path, capsys):
    server, cog = s3_archive
    url = f"s3://{BUCKET}/other/{cog.name}"  # never opened with good credentials in this process
    aws_isolated.setenv("AWS_ACCESS_KEY_ID", "AKIAWRONGWRONGWRONG1")
    with pytest.raises(DataError, match=r"s3://archive/scenes/: S3 listing refused \(HTTP 403, InvalidAccessKeyId"):
        remote.list_s3_prefix(f"s3://{BUCKET}/scenes/")
    assert build(hash_run, [url], tmp_path / "ix", "--tile", TILE) == 2
    out = capsys.readouterr().out
    assert f"skipped {url}: remote raster access denied (HTTP 403)" in out
    assert "check the AWS credentials" in out
    assert build(hash_run, [f"s3://{BUCKET}/scenes/"], tmp_path / "ix2", "--tile", TILE) == 2
    err = capsys.readouterr().err
    assert f"mlrsir: error: s3://{BUCKET}/scenes/: S3 listing refused (HTTP 403, InvalidAccessKeyId" in err
    assert not (tmp_path / "ix2").exists()  # refused before an index is created
    aws_isolated.setenv("AWS_ACCESS_KEY_ID", server.key_id)
    aws_isolated.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    with pytest.raises(DataError, match=r"SignatureDoesNotMatch.*check the AWS credentials"):
        remote.list_s3_prefix(f"s3://{BUCKET}/other/")


def test_s3_missing_key_is_404(s3_archive):
    from mlrsir.geo.scene import open_scene

    with pytest.raises(DataError, match=r"s3://archive/scenes/none.tif: remote raster not found \(HTTP 404\)"):
        open_scene(f"s3://{BUCKET}/scenes/none.tif")
    with pytest.raises(DataError, match=r"s3://archive/empty/: no raster files"):
        remote.list_s3_prefix(f"s3://{BUCKET}/empty/")


def test_s3_band_folder_is_one_scene(fake_s2, aws_isolated, hash_run, tmp_path):
    """A prefix of per-band files (B02 B03 B04 10 m, B05 B8A 20 m) is one scene, tiled as the local folder."""
    cog = synthetic_cog(tmp_path)
    objects = {f"s2/{fake_s2.name}/{p.name}": p for p in sorted(fake_s2.iterdir())}
    objects["s2/cogs/" + cog.name] = cog
    with S3Server(BUCKET, objects) as server:
        for name, value in server.gdal_env().items():
            aws_isolated.setenv(name, value)
        folder = f"s3://{BUCKET}/s2/{fake_s2.name}/"
        assert remote.remote_inputs(f"s3://{BUCKET}/s2/") == [folder, f"s3://{BUCKET}/s2/cogs/{cog.name}"]
        from mlrsir.geo.scene import open_scene

        scene = open_scene(folder)
        assert (scene.kind, scene.scene_id, scene.band_names) == (
            "folder",
            fake_s2.name,
            ["B02", "B03", "B04", "B05", "B8A"],
        )
        assert scene.datetime == "2020-03-15T10:10:21Z"  # from the folder name, as for the local folder
        assert build(hash_run, [fake_s2], tmp_path / "local", "--tile", 32) == 0
        assert build(hash_run, [folder], tmp_path / "s3", "--tile", 32) == 0
    local, in_s3 = codes_by_window(tmp_path / "local"), codes_by_window(tmp_path / "s3")
    assert len(local) == 12 and {w: c for w, (_s, c) in in_s3.items()} == {w: c for w, (_s, c) in local.items()}
    assert {s for s, _c in in_s3.values()} == {folder}


def test_band_folders_grouping():
    urls = [
        "s3://b/a/x_B02.tif",
        "s3://b/a/x_B03.tif",
        "s3://b/c/one_B04.tif",
        "s3://b/d/rgb.tif",
        "s3://b/d/y_B04.tif",
    ]
    assert remote.band_folders(urls) == ["s3://b/a/", "s3://b/c/one_B04.tif", "s3://b/d/rgb.tif", "s3://b/d/y_B04.tif"]


def test_prefix_listing_without_boto3_names_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "boto3", None)  # import boto3 -> ImportError
    with pytest.raises(DataError, match=r"listing an s3:// prefix needs boto3 \(pip install 'mlrsir\[remote\]'\)"):
        remote.remote_inputs("s3://bucket/prefix/")
    assert remote.remote_inputs("s3://bucket/key.tif") == ["s3://bucket/key.tif"]  # one object: no listing
