"""PhysioNet download: checksum verification, resume, clear offline error (local HTTP server)."""

import functools
import hashlib
import http.server
import socket
import threading

import pytest

from ecgrecon.io.download import DownloadError, download_ptbxl


def _serve(site):
    """Serve ``site`` over HTTP on localhost: yields (base URL, site), then stops the server."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *a, **k: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/", site
    httpd.shutdown()


@pytest.fixture()
def server(tmp_path):
    """Serve a tiny PTB-XL-shaped tree with a SHA256SUMS.txt over HTTP on localhost."""
    site = tmp_path / "site"
    files = {
        "ptbxl_database.csv": b"ecg_id,patient_id\n1,1\n",
        "scp_statements.csv": b",description\nNORM,normal\n",
        "records100/00000/00001_lr.hea": b"00001_lr 12 100 1000\n",
        "records100/00000/00001_lr.dat": bytes(range(256)) * 4,
        "records500/00000/00001_hr.dat": b"not wanted",
    }
    for rel, data in files.items():
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_bytes(data)
    sums = "".join(f"{hashlib.sha256(d).hexdigest()}  {rel}\n" for rel, d in files.items())
    (site / "SHA256SUMS.txt").write_text(sums)
    yield from _serve(site)


def test_download_verifies_and_resumes(server, tmp_path):
    url, site = server
    out = tmp_path / "out"
    assert download_ptbxl(url, out, threads=2, log=lambda m: None) == 4
    assert (out / "records100/00000/00001_lr.dat").read_bytes() == (site / "records100/00000/00001_lr.dat").read_bytes()
    assert not (out / "records500").exists()
    # second call: everything verified, nothing fetched again
    assert download_ptbxl(url, out, log=lambda m: None) == 0
    # a corrupted local file is fetched again
    (out / "ptbxl_database.csv").write_bytes(b"corrupt")
    assert download_ptbxl(url, out, log=lambda m: None) == 1


def test_checksum_mismatch_is_refused(server, tmp_path):
    url, site = server
    (site / "records100/00000/00001_lr.hea").write_bytes(b"tampered\n")
    with pytest.raises(DownloadError, match=r"00001_lr\.hea: SHA256 .* does not match"):
        download_ptbxl(url, tmp_path / "out", log=lambda m: None)
    assert not (tmp_path / "out/records100/00000/00001_lr.hea").exists()


def test_offline_gives_clear_message(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DownloadError, match="cannot reach the server.*ptbxl_dir"):
        download_ptbxl(f"http://127.0.0.1:{port}/", tmp_path / "out", log=lambda m: None)


@pytest.fixture()
def nstdb_server(tmp_path):
    """Serve an NSTDB-shaped release (bw, em, ma + a record not wanted) with its SHA256SUMS.txt on localhost."""
    site = tmp_path / "nstdb_site"
    site.mkdir()
    files = {f"{k}.{ext}": f"{k} {ext}\n".encode() * 10 for k in ("bw", "em", "ma", "118e00") for ext in ("hea", "dat")}
    for rel, data in files.items():
        (site / rel).write_bytes(data)
    (site / "SHA256SUMS.txt").write_text("".join(f"{hashlib.sha256(d).hexdigest()}  {rel}\n" for rel, d in files.items()))
    yield from _serve(site)


def test_nstdb_download_fetches_the_three_noise_records_verified(nstdb_server, tmp_path):
    from ecgrecon.io.download import NSTDB_FILES, download_nstdb

    url, site = nstdb_server
    out = tmp_path / "nstdb"
    assert download_nstdb(url, out, log=lambda m: None) == 6
    assert sorted(p.name for p in out.iterdir()) == sorted(NSTDB_FILES)
    assert download_nstdb(url, out, log=lambda m: None) == 0
    (site / "em.dat").write_bytes(b"tampered")
    (out / "em.dat").unlink()
    with pytest.raises(DownloadError, match=r"em\.dat: SHA256 .* does not match"):
        download_nstdb(url, out, log=lambda m: None)


def test_nstdb_offline_error_names_what_is_missing(tmp_path):
    from ecgrecon.io.download import download_nstdb

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp_path / "bw.hea").write_text("x")
    with pytest.raises(DownloadError) as e:
        download_nstdb(f"http://127.0.0.1:{port}/", tmp_path, log=lambda m: None)
    msg = str(e.value)
    assert "Are you offline?" in msg and "Missing in" in msg and "em.hea" in msg and "bw.hea," not in msg
    assert "noise.source: synthetic" in msg and "\n" not in msg
