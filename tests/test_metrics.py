"""/metrics: open on a development server, a server admin token elsewhere unless --public-metrics."""

from __future__ import annotations

import aiohttp
import pytest

from benchmarks.bench.metrics import scrape
from benchmarks.bench.scenarios import Target
from benchmarks.bench.tokens import metrics_headers
from signalling.config import Config
from signalling.tokens import ApiKeys, Grants
from tests.conftest import free_port, start_server, token_for

KEYS = ApiKeys.parse("metrics-key: " + "m" * 40)


async def get_metrics(url: str, token: str | None = None) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as http, http.get(url + "/metrics", headers=headers) as response:
        return response.status, await response.text()


async def test_a_development_server_serves_metrics_to_anyone(server):
    status, text = await get_metrics(server.url)
    assert status == 200 and "huddle_rtp_packets_out_total" in text


@pytest.mark.parametrize("public", [False, True])
async def test_with_api_keys_metrics_need_a_server_admin_token(tmp_path, public):
    config = Config(port=free_port(), data_dir=tmp_path / "data", api_keys=KEYS, public_metrics=public)
    running, runner = await start_server(config)
    try:
        anonymous, body = await get_metrics(running.url)
        if public:
            assert anonymous == 200 and "process_cpu_seconds_total" in body
            return
        assert anonymous == 401 and '"token_missing"' in body
        participant = token_for(config, "r", grants=Grants())
        room_admin = token_for(config, "r", grants=Grants(admin=True))
        server_admin = token_for(config, None, grants=Grants(admin=True))
        assert (await get_metrics(running.url, participant))[0] == 403
        assert (await get_metrics(running.url, room_admin))[0] == 403
        assert (await get_metrics(running.url, "not-a-token"))[0] == 401
        status, text = await get_metrics(running.url, server_admin)
        assert status == 200 and "huddle_participants" in text
    finally:
        await runner.cleanup()


async def test_huddle_bench_mints_its_metrics_token_from_the_api_key(tmp_path):
    config = Config(port=free_port(), data_dir=tmp_path / "data", api_keys=KEYS)
    running, runner = await start_server(config)
    key, secret = KEYS.first()
    try:
        with_key = Target(url=running.url, api_key=key, api_secret=secret)
        without = Target(url=running.url, token_command="true")
        for target, readable in ((with_key, True), (without, False)):
            headers = metrics_headers(target, lifetime=60)
            async with aiohttp.ClientSession(headers=headers) as http:
                reading = await scrape(http, running.url + "/metrics")
            assert (reading is not None) == readable
    finally:
        await runner.cleanup()
