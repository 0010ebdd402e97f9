"""`lfwsiamese.fetch`: offline, on a tiny fake LFW-a (3 people) laid out like the GitHub archive."""
from __future__ import annotations

import hashlib
import io
import re
import socket
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lfwsiamese.data import protocols as P
from lfwsiamese.data.download import download_path
from lfwsiamese.data.fetch import fetch
from lfwsiamese.errors import DataError

PEOPLE = {"Alice_Smith": 2, "Bob_Jones": 3, "Carol_White": 1}
PREFIX = "repo-abc/lfw2/lfw2"


def _jpeg(seed: int) -> bytes:
    arr = np.random.default_rng(seed).integers(0, 256, size=(8, 8), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr, "L").save(buf, format="JPEG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def images() -> dict[str, bytes]:
    """relpath -> JPEG bytes."""
    out, seed = {}, 0
    for name, n in PEOPLE.items():
        for i in range(1, n + 1):
            out[f"{name}/{name}_{i:04d}.jpg"] = _jpeg(seed)
            seed += 1
    return out


@pytest.fixture(scope="module")
def manifest(images: dict[str, bytes]) -> dict[str, str]:
    return {rel: hashlib.sha256(b).hexdigest() for rel, b in images.items()}


@pytest.fixture(scope="module")
def archives(tmp_path_factory: pytest.TempPathFactory, images: dict[str, bytes]) -> dict[str, Path]:
    """The fake dataset as a folder, a .zip and a .tar.gz, each with an unrelated README beside the images."""
    root = tmp_path_factory.mktemp("src")
    folder = root / "repo-abc"
    for rel, b in images.items():
        p = root / PREFIX / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b)
    (folder / "README.md").write_text("not an image\n")
    zpath = root / "lfw.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("repo-abc/README.md", "not an image\n")
        for rel, b in images.items():
            zf.writestr(f"{PREFIX}/{rel}", b)
    tpath = root / "lfw.tar.gz"
    with tarfile.open(tpath, "w:gz") as tf:
        tf.add(folder, arcname="repo-abc")
    return {"folder": folder, "zip": zpath, "tar.gz": tpath}


def _assert_fetched(target: Path, images: dict[str, bytes]) -> None:
    got = {str(p.relative_to(target / "lfw2")): p.read_bytes() for p in (target / "lfw2").rglob("*.jpg")}
    assert got == images
    for name, digest in P.OFFICIAL_SHA256.items():
        assert P.sha256_file(target / "splits" / name) == digest
    for alias, name in P.ALIASES.items():
        assert (target / "splits" / alias).read_bytes() == (target / "splits" / name).read_bytes()
    assert not list(target.parent.glob(".*.fetch-*"))


def _assert_nothing_left(target: Path) -> None:
    assert not target.exists()
    assert not [p for p in target.parent.iterdir() if ".fetch-" in p.name]


# ------------------------------------------------------------------------------------------ local sources


@pytest.mark.parametrize("kind", ["zip", "tar.gz", "folder"])
def test_fetch_from_local_source(tmp_path, archives, images, manifest, kind):
    target = tmp_path / "data" / "lfwa"  # parent missing: created
    assert fetch(target, source=archives[kind], manifest=manifest, progress=False) == target.resolve()
    _assert_fetched(target, images)


def test_fetch_from_folder_holding_person_folders_directly(tmp_path, archives, images, manifest):
    target = tmp_path / "lfwa"
    fetch(target, source=archives["folder"] / "lfw2" / "lfw2", manifest=manifest, progress=False)
    _assert_fetched(target, images)


def test_source_is_never_written(tmp_path, archives, manifest):
    before = {p: p.stat().st_mtime_ns for p in archives["folder"].rglob("*")}
    fetch(tmp_path / "lfwa", source=archives["folder"], manifest=manifest, progress=False)
    assert {p: p.stat().st_mtime_ns for p in archives["folder"].rglob("*")} == before


def test_target_inside_source_folder_is_refused(tmp_path, images, manifest, archives):
    src = tmp_path / "src"
    for rel, b in images.items():
        (src / "lfw2" / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / "lfw2" / rel).write_bytes(b)
    with pytest.raises(DataError, match="never writes into its source"):
        fetch(src / "lfwa", source=src, manifest=manifest, progress=False)
    assert not (src / "lfwa").exists()


def test_source_inside_target_is_refused_even_with_force(tmp_path, archives, manifest):
    target = tmp_path / "lfwa"
    target.mkdir()
    (target / "lfw.zip").write_bytes(archives["zip"].read_bytes())
    with pytest.raises(DataError, match="inside the target"):
        fetch(target, source=target / "lfw.zip", manifest=manifest, progress=False, force=True)
    assert (target / "lfw.zip").is_file()


def test_in_place_writes_only_splits(tmp_path, archives, images, manifest):
    target = tmp_path / "lfwa"
    fetch(target, source=archives["zip"], manifest=manifest, progress=False)
    import shutil
    shutil.rmtree(target / "splits")
    fetch(target, source=target, manifest=manifest, progress=False)
    _assert_fetched(target, images)
    with pytest.raises(DataError, match="already exists; use --force"):
        fetch(target, source=target, manifest=manifest, progress=False)
    fetch(target, source=target / "lfw2", manifest=manifest, progress=False, force=True)
    _assert_fetched(target, images)


def test_missing_source(tmp_path, manifest):
    with pytest.raises(DataError, match="no such file or folder"):
        fetch(tmp_path / "lfwa", source=tmp_path / "nope.zip", manifest=manifest, progress=False)
    _assert_nothing_left(tmp_path / "lfwa")


def test_unknown_source_format(tmp_path, manifest):
    src = tmp_path / "lfw.rar"
    src.write_bytes(b"Rar!\x1a\x07\x00" + b"\x00" * 600)
    with pytest.raises(DataError, match=r"not a folder, \.zip"):
        fetch(tmp_path / "lfwa", source=src, manifest=manifest, progress=False)
    _assert_nothing_left(tmp_path / "lfwa")


# ------------------------------------------------------------------------------------------ existing target


def test_existing_target_needs_force(tmp_path, archives, images, manifest):
    target = tmp_path / "lfwa"
    (target / "lfw2" / "Old_Person").mkdir(parents=True)
    (target / "lfw2" / "Old_Person" / "Old_Person_0001.jpg").write_bytes(b"old")
    with pytest.raises(DataError, match="already exists.*--force"):
        fetch(target, source=archives["zip"], manifest=manifest, progress=False)
    assert (target / "lfw2" / "Old_Person" / "Old_Person_0001.jpg").read_bytes() == b"old"
    fetch(target, source=archives["zip"], manifest=manifest, progress=False, force=True)
    assert not (target / "lfw2" / "Old_Person").exists()
    _assert_fetched(target, images)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lfwa"]  # old copy deleted


def test_empty_existing_target_is_filled(tmp_path, archives, images, manifest):
    target = tmp_path / "lfwa"
    target.mkdir()
    fetch(target, source=archives["tar.gz"], manifest=manifest, progress=False)
    _assert_fetched(target, images)


def test_failed_force_keeps_old_target(tmp_path, archives, manifest):
    target = tmp_path / "lfwa"
    fetch(target, source=archives["zip"], manifest=manifest, progress=False)
    bad = dict(manifest, **{"Bob_Jones/Bob_Jones_0002.jpg": "0" * 64})
    with pytest.raises(DataError, match="checksum"):
        fetch(target, source=archives["zip"], manifest=bad, progress=False, force=True)
    assert (target / "lfw2" / "Bob_Jones" / "Bob_Jones_0002.jpg").is_file()
    assert not [p for p in tmp_path.iterdir() if ".fetch-" in p.name or ".old-" in p.name]


# ------------------------------------------------------------------------------------------ refusals


def _tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]], images: dict[str, bytes]) -> Path:
    """A tar.gz holding the good images first (so refusal happens after some were staged), then `members`."""
    with tarfile.open(path, "w:gz") as tf:
        for rel, b in images.items():
            ti = tarfile.TarInfo(f"{PREFIX}/{rel}")
            ti.size = len(b)
            tf.addfile(ti, io.BytesIO(b))
        for ti, b in members:
            if b is not None:
                ti.size = len(b)
            tf.addfile(ti, io.BytesIO(b) if b is not None else None)
    return path


def _link(name: str, kind: bytes, to: str) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.linkname = to
    return ti


@pytest.mark.parametrize(
    "member, match",
    [
        ((tarfile.TarInfo("/tmp/evil/Eve/Eve_0001.jpg"), b"x"), "absolute path"),
        ((tarfile.TarInfo("repo-abc/../../Eve/Eve_0001.jpg"), b"x"), r"'\.\.' path component"),
        ((tarfile.TarInfo("../README.md"), b"x"), r"'\.\.' path component"),
        ((_link("repo-abc/lfw2/lfw2/Eve/Eve_0001.jpg", tarfile.SYMTYPE, "/etc/passwd"), None), "symbolic link"),
        ((_link("repo-abc/notes", tarfile.SYMTYPE, "../../.."), None), "symbolic link"),
        ((_link("repo-abc/lfw2/lfw2/Eve/Eve_0001.jpg", tarfile.LNKTYPE, "repo-abc/README.md"), None), "hard link"),
    ],
    ids=["absolute", "dotdot-image", "dotdot-other", "symlink-image", "symlink-other", "hardlink"],
)
def test_unsafe_tar_member_refused(tmp_path, images, manifest, member, match):
    src = _tar(tmp_path / "evil.tar.gz", [member], images)
    target = tmp_path / "lfwa"
    with pytest.raises(DataError, match=match) as ei:
        fetch(target, source=src, manifest=manifest, progress=False)
    assert "refusing the whole archive" in str(ei.value) and repr(member[0].name) in str(ei.value)
    _assert_nothing_left(target)


@pytest.mark.parametrize(
    "name, attr, match",
    [
        ("repo-abc/../Eve/Eve_0001.jpg", 0o100644, r"'\.\.' path component"),
        ("/abs/Eve/Eve_0001.jpg", 0o100644, "absolute path"),
        ("repo-abc/lfw2/lfw2/Eve/Eve_0001.jpg", 0o120777, "symbolic link"),
    ],
    ids=["dotdot", "absolute", "symlink"],
)
def test_unsafe_zip_member_refused(tmp_path, images, manifest, name, attr, match):
    src = tmp_path / "evil.zip"
    with zipfile.ZipFile(src, "w") as zf:
        for rel, b in images.items():
            zf.writestr(f"{PREFIX}/{rel}", b)
        info = zipfile.ZipInfo(name)
        info.external_attr = attr << 16
        zf.writestr(info, b"x")
    target = tmp_path / "lfwa"
    with pytest.raises(DataError, match=match):
        fetch(target, source=src, manifest=manifest, progress=False)
    _assert_nothing_left(target)


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_truncated_archive(tmp_path, archives, manifest, kind):
    raw = archives[kind].read_bytes()
    src = tmp_path / f"cut.{kind}"
    src.write_bytes(raw[: len(raw) // 2])
    target = tmp_path / "lfwa"
    with pytest.raises(DataError, match="truncated or corrupt archive"):
        fetch(target, source=src, manifest=manifest, progress=False)
    _assert_nothing_left(target)


@pytest.mark.parametrize("kind", ["zip", "tar.gz", "folder"])
def test_checksum_mismatch(tmp_path, archives, manifest, kind):
    bad = dict(manifest, **{"Alice_Smith/Alice_Smith_0002.jpg": "f" * 64})
    target = tmp_path / "lfwa"
    with pytest.raises(DataError, match=r"1 image\(s\) fail the sha256 checksum \(Alice_Smith/Alice_Smith_0002\.jpg\)"):
        fetch(target, source=archives[kind], manifest=bad, progress=False)
    _assert_nothing_left(target)


def test_missing_and_extra_images(tmp_path, archives, manifest):
    fewer = {k: v for k, v in manifest.items() if not k.startswith("Carol")}
    more = dict(manifest, **{"Dan_Brown/Dan_Brown_0001.jpg": "0" * 64})
    target = tmp_path / "lfwa"
    with pytest.raises(DataError, match=r"1 image\(s\) not part of LFW-a \(Carol_White/Carol_White_0001\.jpg\)"):
        fetch(target, source=archives["zip"], manifest=fewer, progress=False)
    with pytest.raises(DataError, match=r"1 of 7 LFW-a images missing \(Dan_Brown/Dan_Brown_0001\.jpg\)"):
        fetch(target, source=archives["zip"], manifest=more, progress=False)
    _assert_nothing_left(target)


def test_duplicate_member_matching_copy_wins(tmp_path, images, manifest):
    src = tmp_path / "dup.zip"
    rel = "Bob_Jones/Bob_Jones_0001.jpg"
    with zipfile.ZipFile(src, "w") as zf:
        for r, b in images.items():
            zf.writestr(f"{PREFIX}/{r}", b)
        zf.writestr(f"repo-abc/thumbs/{rel}", b"a different, smaller copy")
    target = tmp_path / "lfwa"
    fetch(target, source=src, manifest=manifest, progress=False)
    _assert_fetched(target, images)


# ------------------------------------------------------------------------------------------ download


class _Server(ThreadingHTTPServer):
    payload: bytes = b""
    honour_range: bool = True
    ranges: list


class _Handler(BaseHTTPRequestHandler):
    """Serves the payload at /lfw.zip with single open-ended Range support (SimpleHTTPRequestHandler has none)."""

    server: _Server

    def do_GET(self) -> None:  # noqa: N802
        if self.path != "/lfw.zip":
            self.send_error(404)
            return
        data = self.server.payload
        rng = self.headers.get("Range")
        self.server.ranges.append(rng)
        m = re.fullmatch(r"bytes=(\d+)-", rng or "")
        if m and self.server.honour_range:
            start = int(m.group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = data[start:]
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            body = data
            self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server(tmp_path, monkeypatch, archives):
    monkeypatch.setenv("LFWSIAMESE_CACHE", str(tmp_path / "cache"))
    for var in ("no_proxy", "NO_PROXY"):
        monkeypatch.setenv(var, "*")
    srv = _Server(("127.0.0.1", 0), _Handler)
    srv.payload = archives["zip"].read_bytes()
    srv.ranges = []
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}/lfw.zip"
    yield srv
    srv.shutdown()
    srv.server_close()


def test_download(tmp_path, server, images, manifest):
    target = tmp_path / "lfwa"
    fetch(target, url=server.url, manifest=manifest, progress=False)
    _assert_fetched(target, images)
    assert server.ranges == [None]
    final = download_path(server.url)
    assert final.read_bytes() == server.payload
    assert final.parent == tmp_path / "cache" / "downloads"
    assert not final.with_name(final.name + ".part").exists()
    # a second fetch uses the cached download
    fetch(tmp_path / "again", url=server.url, manifest=manifest, progress=False)
    assert server.ranges == [None]


@pytest.mark.parametrize("honour_range", [True, False], ids=["206-append", "200-start-over"])
def test_download_resumes_partial(tmp_path, server, images, manifest, honour_range):
    server.honour_range = honour_range
    final = download_path(server.url)
    part = final.with_name(final.name + ".part")
    part.parent.mkdir(parents=True)
    half = len(server.payload) // 2
    part.write_bytes(server.payload[:half])
    target = tmp_path / "lfwa"
    fetch(target, url=server.url, manifest=manifest, progress=False)
    assert server.ranges == [f"bytes={half}-"]
    assert final.read_bytes() == server.payload
    assert not part.exists()
    _assert_fetched(target, images)


def test_download_complete_part_answered_416(tmp_path, server, images, manifest):
    final = download_path(server.url)
    part = final.with_name(final.name + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(server.payload)
    fetch(tmp_path / "lfwa", url=server.url, manifest=manifest, progress=False)
    assert final.read_bytes() == server.payload
    _assert_fetched(tmp_path / "lfwa", images)


def test_download_http_error(tmp_path, server, manifest):
    target = tmp_path / "lfwa"
    with pytest.raises(DataError, match=r"downloading .*/missing\.zip failed: HTTP Error 404.*--from PATH"):
        fetch(target, url=server.url.replace("lfw.zip", "missing.zip"), manifest=manifest, progress=False)
    _assert_nothing_left(target)


def test_download_connection_refused(tmp_path, monkeypatch, manifest):
    monkeypatch.setenv("LFWSIAMESE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("no_proxy", "*")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    target = tmp_path / "lfwa"
    with pytest.raises(DataError, match=r"failed: .*--from PATH"):
        fetch(target, url=f"http://127.0.0.1:{port}/lfw.zip", manifest=manifest, progress=False)
    _assert_nothing_left(target)


def test_corrupt_download_is_dropped_from_cache(tmp_path, server, manifest):
    server.payload = server.payload[: len(server.payload) // 2]  # a server that sends a cut file in full
    target = tmp_path / "lfwa"
    with pytest.raises(DataError, match="truncated or corrupt archive.*rerun to download it again"):
        fetch(target, url=server.url, manifest=manifest, progress=False)
    assert not download_path(server.url).exists()
    _assert_nothing_left(target)


# ------------------------------------------------------------------------------------------ CLI


def test_cli_bad_archive_one_line_error(tmp_path, capsys, archives):
    from lfwsiamese.cli import main

    target = tmp_path / "lfwa"
    rc = main(["data", "fetch", "--data", str(target), "--from", str(archives["zip"]), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert "LFW-a images missing" in err and "not part of LFW-a" in err
    _assert_nothing_left(target)


def test_cli_truncated_archive(tmp_path, capsys, archives):
    from lfwsiamese.cli import main

    src = tmp_path / "cut.zip"
    src.write_bytes(archives["zip"].read_bytes()[:100])
    rc = main(["data", "fetch", "--data", str(tmp_path / "lfwa"), "--from", str(src), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "truncated or corrupt archive" in err
