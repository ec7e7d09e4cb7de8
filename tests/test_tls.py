"""Huddle serving HTTPS/WSS itself: --self-signed and --tls-cert/--tls-key, on 127.0.0.1."""

from __future__ import annotations

import argparse
import ssl
import stat
from pathlib import Path

import aiohttp
import pytest
from cryptography import x509

from huddle_client import HuddleClient
from signalling import tls
from signalling.config import Config
from tests.conftest import LOOPBACK, ServerProcess, wait_until


@pytest.fixture
async def self_signed(tmp_path: Path):
    data = tmp_path / "data"
    process = ServerProcess(
        data,
        extra_args=["--self-signed"],
        log_path=tmp_path / "out.log",
        ca_file=data / "tls" / "self-signed-cert.pem",
    )
    await process.start()
    try:
        yield process
    finally:
        await process.stop()


async def test_self_signed_serves_https_and_wss(self_signed: ServerProcess, tmp_path: Path):
    key = self_signed.data_dir / "tls" / "self-signed-key.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600

    cert = x509.load_pem_x509_certificate(self_signed.ca_file.read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in sans.get_values_for_type(x509.DNSName)
    assert "127.0.0.1" in {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)}
    output = (tmp_path / "out.log").read_text()
    assert f"SHA-256 fingerprint {tls.fingerprint(self_signed.ca_file)}" in output
    assert f"open https://127.0.0.1:{self_signed.port}/" in output

    connector = aiohttp.TCPConnector(ssl=self_signed.client_context())
    async with aiohttp.ClientSession(connector=connector) as http, http.get(self_signed.url + "/") as page:
        assert page.status == 200
        assert page.headers["Strict-Transport-Security"].startswith("max-age=")
        assert (
            f"connect-src 'self' wss://127.0.0.1:{self_signed.port};"
            in page.headers["Content-Security-Policy"]
        )

    context = self_signed.client_context()
    alice = HuddleClient(self_signed.url, "Alice", host_addresses=LOOPBACK, ssl_context=context)
    bob = HuddleClient(self_signed.url, "Bob", host_addresses=LOOPBACK, ssl_context=context)
    try:
        await alice.join("secure")
        await bob.join("secure")
        assert bob.ws_url.startswith("wss://")
        await alice.send_chat("over wss")
        await wait_until(lambda: [m["text"] for m in bob.chat_messages] == ["over wss"])
    finally:
        await alice.close()
        await bob.close()


async def test_untrusted_and_plain_http_clients_are_refused(self_signed: ServerProcess):
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await http.get(self_signed.url + "/healthz")
        with pytest.raises(aiohttp.ClientError):
            async with http.get(f"http://127.0.0.1:{self_signed.port}/healthz") as response:
                await response.read()


async def test_the_self_signed_certificate_is_made_once(self_signed: ServerProcess):
    first = tls.fingerprint(self_signed.ca_file)
    await self_signed.stop()
    await self_signed.start()
    assert tls.fingerprint(self_signed.ca_file) == first
    # a new listening address the certificate does not cover: a new one that does
    files = tls.ensure_self_signed(self_signed.data_dir / "tls", "192.0.2.7")
    cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"127.0.0.1", "192.0.2.7"} <= {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)}
    assert tls.fingerprint(files.cert) != first


async def test_own_certificate_and_key(tmp_path: Path):
    files = tls.ensure_self_signed(tmp_path / "mine", "127.0.0.1")
    process = ServerProcess(
        tmp_path / "data",
        extra_args=["--tls-cert", str(files.cert), "--tls-key", str(files.key)],
        ca_file=files.cert,
    )
    await process.start()
    try:
        context = process.client_context()
        async with HuddleClient(process.url, "Carol", host_addresses=LOOPBACK, ssl_context=context) as carol:
            joined = await carol.join("mine")
        assert joined["participant_id"].startswith("PA_")
    finally:
        await process.stop()


def _configure(host: str, *argv: str) -> tuple[ssl.SSLContext | None, list[str]]:
    parser = argparse.ArgumentParser()
    tls.add_tls_options(parser)
    return tls.configure(Config(host=host), parser.parse_args(list(argv)))


def test_plain_http_on_an_exposed_address_is_refused_unless_behind_a_proxy():
    with pytest.raises(ValueError, match="refusing plain HTTP on 192.0.2.10"):
        _configure("192.0.2.10")
    assert _configure("192.0.2.10", "--behind-proxy") == (None, [])
    assert _configure("127.0.0.1") == (None, [])


def test_mismatched_tls_options_are_refused(tmp_path: Path):
    with pytest.raises(ValueError, match="go together"):
        _configure("127.0.0.1", "--tls-cert", "c.pem")
    with pytest.raises(ValueError, match="self-signed"):
        _configure("127.0.0.1", "--self-signed", "--tls-cert", "c.pem", "--tls-key", "k.pem")
    missing = str(tmp_path / "missing.pem")
    with pytest.raises(ValueError, match="cannot load"):
        _configure("127.0.0.1", "--tls-cert", missing, "--tls-key", missing)
