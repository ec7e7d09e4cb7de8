"""Huddle serving HTTPS/WSS itself: --self-signed and --tls-cert/--tls-key, on 127.0.0.1."""

from __future__ import annotations

import argparse
import asyncio
import ssl
import stat
import sys
from pathlib import Path

import aiohttp
import pytest
from cryptography import x509

from huddle_client import HuddleClient
from signalling import tls
from signalling.config import Config
from tests.conftest import LOOPBACK, ServerProcess, wait_until


class TlsServerProcess(ServerProcess):
    """``huddle serve`` over TLS: ServerProcess's readiness check speaks plain HTTP, so this one
    waits for the certificate and polls ``https://.../healthz`` trusting it."""

    def __init__(self, data_dir: Path, cert: Path, **kwargs) -> None:
        super().__init__(data_dir, **kwargs)
        self.url = f"https://127.0.0.1:{self.port}"
        self.cert = cert

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.cert)

    async def start(self, timeout: float = 20.0) -> None:
        output = self._log_path.open("ab") if self._log_path else None
        try:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                *("-m", "signalling.cli", "serve", "--port", str(self.port)),
                *("--data-dir", str(self.data_dir), "--log-level", self._log_level),
                *self._extra_args,
                stdout=output or asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.STDOUT if output else None,
                env=self._env,
            )
        finally:
            if output is not None:
                output.close()
        await wait_until(lambda: self.cert.exists() or self.process.returncode is not None, timeout)
        assert self.process.returncode is None, "huddle serve exited"
        connector = aiohttp.TCPConnector(ssl=self.client_context())
        async with aiohttp.ClientSession(connector=connector) as http:
            for _ in range(int(timeout * 10)):
                try:
                    async with http.get(self.url + "/healthz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                assert self.process.returncode is None, "huddle serve exited"
                await asyncio.sleep(0.1)
        raise RuntimeError("huddle serve (TLS) did not start")


@pytest.fixture
async def self_signed(tmp_path: Path):
    data = tmp_path / "data"
    process = TlsServerProcess(
        data,
        data / "tls" / "self-signed-cert.pem",
        extra_args=["--self-signed"],
        log_path=tmp_path / "out.log",
    )
    await process.start()
    try:
        yield process
    finally:
        await process.stop()


async def test_self_signed_serves_https_and_wss(self_signed: TlsServerProcess, tmp_path: Path):
    key = self_signed.data_dir / "tls" / "self-signed-key.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600

    cert = x509.load_pem_x509_certificate(self_signed.cert.read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in sans.get_values_for_type(x509.DNSName)
    assert "127.0.0.1" in {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)}
    output = (tmp_path / "out.log").read_text()
    assert f"SHA-256 fingerprint {tls.fingerprint(self_signed.cert)}" in output
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


async def test_untrusted_and_plain_http_clients_are_refused(self_signed: TlsServerProcess):
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await http.get(self_signed.url + "/healthz")
        with pytest.raises(aiohttp.ClientError):
            async with http.get(f"http://127.0.0.1:{self_signed.port}/healthz") as response:
                await response.read()


async def test_the_self_signed_certificate_is_made_once(self_signed: TlsServerProcess):
    first = tls.fingerprint(self_signed.cert)
    await self_signed.stop()
    await self_signed.start()
    assert tls.fingerprint(self_signed.cert) == first
    # a new listening address the certificate does not cover: a new one that does
    files = tls.ensure_self_signed(self_signed.data_dir / "tls", "192.0.2.7")
    cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"127.0.0.1", "192.0.2.7"} <= {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)}
    assert tls.fingerprint(files.cert) != first


async def test_own_certificate_and_key(tmp_path: Path):
    files = tls.ensure_self_signed(tmp_path / "mine", "127.0.0.1")
    process = TlsServerProcess(
        tmp_path / "data", files.cert, extra_args=["--tls-cert", str(files.cert), "--tls-key", str(files.key)]
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


def test_plain_http_on_an_exposed_address_warns_unless_behind_a_proxy():
    context, notices = _configure("192.0.2.10")
    assert context is None
    assert any(n.startswith("WARNING") and "HTTPS" in n and "camera" in n for n in notices)
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
