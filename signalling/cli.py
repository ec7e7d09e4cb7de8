"""The ``huddle`` command."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

from aiohttp import web

from sfu.network import PortRange

from . import tls
from .app import build_app
from .config import Config, ConfigError
from .event_loop import new_event_loop
from .security import RedactingAccessLogger
from .tokens import DEFAULT_TOKEN_TTL, MEDIA_SOURCES, ApiKeys, Grants, mint_token
from .turn import DEFAULT_TTL, CoturnOptions, TurnSettings, render_coturn_config
from .webhooks import webhook_url


def _add_turn_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--turn-secret",
        default=None,
        help="TURN shared secret (coturn's static-auth-secret); default: $HUDDLE_TURN_SECRET",
    )
    parser.add_argument(
        "--turn-url",
        action="append",
        default=[],
        metavar="URL",
        help="STUN/TURN URL handed to clients (repeatable), e.g. turn:turn.example.com:3478?transport=udp",
    )
    parser.add_argument(
        "--turn-ttl", type=int, default=DEFAULT_TTL, metavar="SECONDS", help="lifetime of TURN credentials"
    )


def _turn_settings(args: argparse.Namespace) -> TurnSettings:
    secret = args.turn_secret if args.turn_secret is not None else os.environ.get("HUDDLE_TURN_SECRET", "")
    if args.turn_ttl <= 0:
        raise SystemExit("huddle: --turn-ttl must be positive")
    if args.turn_url and not secret:
        raise SystemExit("huddle: --turn-url needs --turn-secret or HUDDLE_TURN_SECRET")
    return TurnSettings(secret=secret, urls=args.turn_url, ttl=args.turn_ttl)


def _add_key_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--api-keys-file",
        type=Path,
        default=None,
        metavar="PATH",
        help="'KEY: SECRET' lines that sign access tokens (also $HUDDLE_API_KEYS, 'KEY:SECRET,...')",
    )


def _api_keys(args: argparse.Namespace) -> ApiKeys:
    try:
        return ApiKeys.load(args.api_keys_file, os.environ.get("HUDDLE_API_KEYS"))
    except (OSError, ValueError) as exc:
        raise SystemExit(f"huddle: API keys: {exc}") from exc


def _sources(text: str) -> frozenset[str]:
    chosen = frozenset(s.strip() for s in text.split(",") if s.strip() and s.strip() != "none")
    unknown = chosen - set(MEDIA_SOURCES)
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown sources {sorted(unknown)}; choose from {list(MEDIA_SOURCES)}"
        )
    return chosen


def _port_range(text: str) -> PortRange:
    try:
        return PortRange.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{exc} (want LOW-HIGH, 1-65535)") from exc


def _ip_address(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not an IP address") from exc


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:  # its own parser: everything after "bench" is its argv
        from benchmarks.bench.cli import main as bench

        raise SystemExit(bench(argv[1:]))
    parser = argparse.ArgumentParser(prog="huddle", description="Self-hosted conferencing")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("bench", help="load-test a Huddle server (huddle bench --help)", add_help=False)
    serve = commands.add_parser("serve", help="run Huddle (signalling and SFU in one process)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--data-dir", type=Path, default=Path("data"), help="chat history folder")
    serve.add_argument(
        "--media-address",
        action="append",
        default=[],
        help="address the SFU offers for media (repeatable); default: all, or 127.0.0.1 on loopback",
    )
    serve.add_argument(
        "--media-ports",
        type=_port_range,
        default=None,
        metavar="LOW-HIGH",
        help="UDP ports the SFU binds media sockets in, e.g. 50000-50199 (one per connection); default: any",
    )
    serve.add_argument(
        "--media-public-address",
        type=_ip_address,
        default=None,
        metavar="IP",
        help="public address announced in the SFU's ICE candidates under 1:1 NAT (cloud VM, Docker)",
    )
    serve.add_argument("--empty-room-timeout", type=float, default=30.0, metavar="SECONDS")
    serve.add_argument("--max-participants", type=int, default=100, help="participants per room")
    serve.add_argument("--max-rooms", type=int, default=1000, help="rooms on this server")
    serve.add_argument(
        "--auth-failures",
        type=int,
        default=30,
        metavar="N",
        help="failed token checks one address may make at once (refilled over 15 s); past it, 429",
    )
    serve.add_argument(
        "--public-metrics",
        action="store_true",
        help="serve /metrics without a server admin token (for a scraper on a private network)",
    )
    serve.add_argument("--log-level", default="INFO")
    _add_turn_options(serve)
    _add_key_options(serve)
    serve.add_argument(
        "--webhook-url",
        action="append",
        default=[],
        type=webhook_url,
        metavar="URL",
        help="POST signed room/participant events here (repeatable)",
    )
    tls.add_tls_options(serve)

    keys = commands.add_parser("keys", help="print a new API key and secret (for HUDDLE_API_KEYS)")
    keys.set_defaults(command="keys")
    token = commands.add_parser("token", help="mint an access token with the configured API keys")
    _add_key_options(token)
    token.add_argument("--room", default=None, help="the room it admits to (omit only with --admin)")
    token.add_argument("--identity", required=True, help="who the participant is")
    token.add_argument("--name", default=None, help="display name")
    token.add_argument("--ttl", type=int, default=DEFAULT_TOKEN_TTL, metavar="SECONDS")
    token.add_argument("--api-key", default=None, help="which configured key signs it (default: the first)")
    token.add_argument(
        "--publish",
        type=_sources,
        default=frozenset(MEDIA_SOURCES),
        metavar="SOURCES",
        help="comma-separated sources it may publish, or 'none' (default: camera,microphone,screen)",
    )
    token.add_argument("--no-subscribe", action="store_true", help="receives no media")
    token.add_argument("--no-data", action="store_true", help="may not chat")
    token.add_argument("--admin", action="store_true", help="room admin (server admin without --room)")
    token.add_argument("--hidden", action="store_true", help="not shown to others; publishes nothing")

    turn = commands.add_parser(
        "turn", help="render a coturn configuration from these options and run turnserver (development)"
    )
    _add_turn_options(turn)
    turn.add_argument("--realm", default="huddle.local")
    turn.add_argument("--listening-ip", action="append", default=[], help="repeatable; default: all")
    turn.add_argument("--relay-ip", action="append", default=[], help="repeatable; default: coturn's choice")
    turn.add_argument("--external-ip", default=None, help="public address when coturn is behind NAT")
    turn.add_argument("--port", type=int, default=3478, help="TURN over UDP and TCP")
    turn.add_argument(
        "--tls-port", type=int, default=5349, help="TURN over TLS (with --cert/--pkey); 443 allowed"
    )
    turn.add_argument("--cert", type=Path, default=None)
    turn.add_argument("--pkey", type=Path, default=None)
    turn.add_argument("--min-port", type=int, default=49160, help="relay port range start")
    turn.add_argument("--max-port", type=int, default=49200, help="relay port range end")
    turn.add_argument(
        "--media-address",
        action="append",
        default=[],
        help="the SFU's media address: relaying to it is allowed although private ranges are denied",
    )
    turn.add_argument(
        "--allow-loopback", action="store_true", help="allow relaying to 127.0.0.1 (SFU on the same machine)"
    )
    turn.add_argument("--user-quota", type=int, default=12, help="allocations per username")
    turn.add_argument("--total-quota", type=int, default=1200, help="allocations in all")
    turn.add_argument("--log-file", type=Path, default=None, help="default: stdout")
    turn.add_argument("--config-out", type=Path, default=None, help="where to write turnserver.conf (0600)")
    turn.add_argument("--dry-run", action="store_true", help="write the file and print its path; run nothing")
    args = parser.parse_args(argv)
    if args.command == "turn":
        run_turn(args)
        return
    if args.command == "keys":
        key, secret = ApiKeys.generate()
        print(f"{key}: {secret}")
        return
    if args.command == "token":
        print(mint_from_args(args))
        return
    turn_settings = _turn_settings(args)

    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    config = Config(
        host=args.host,
        port=args.port,
        data_dir=args.data_dir,
        media_addresses=args.media_address,
        media_ports=args.media_ports,
        media_public_address=args.media_public_address,
        empty_room_timeout=args.empty_room_timeout,
        max_participants_per_room=args.max_participants,
        max_rooms=args.max_rooms,
        auth_failures=args.auth_failures,
        public_metrics=args.public_metrics,
        turn=turn_settings,
        api_keys=_api_keys(args),
        webhook_urls=args.webhook_url,
    )
    try:
        ssl_context, notices = tls.configure(config, args)
        app = build_app(config)
    except (ConfigError, ValueError) as exc:
        raise SystemExit(f"huddle: {exc}") from exc
    for notice in notices:
        print(notice, flush=True)
    if config.dev_tokens:
        print("Development mode: no API keys, so the page gets tokens from this server (loopback only).")
    shown = "127.0.0.1" if config.host in ("0.0.0.0", "::") else config.host
    scheme = "https" if config.tls else "http"
    print(f"Huddle is running: open {scheme}://{shown}:{config.port}/ in a browser", flush=True)
    web.run_app(
        app,
        host=config.host,
        port=config.port,
        ssl_context=ssl_context,
        access_log_class=RedactingAccessLogger,
        print=None,
        loop=new_event_loop(),
    )


def mint_from_args(args: argparse.Namespace) -> str:
    keys = _api_keys(args)
    if not keys:
        raise SystemExit("huddle token: no API keys (HUDDLE_API_KEYS or --api-keys-file)")
    key = args.api_key or keys.first()[0]
    if key not in keys.secrets:
        raise SystemExit(f"huddle token: no API key {key!r} configured")
    if args.room is None and not args.admin:
        raise SystemExit("huddle token: --room is required (only a server admin token has none)")
    grants = Grants(
        publish=frozenset() if args.hidden else args.publish,
        subscribe=not args.no_subscribe,
        data=not args.no_data,
        admin=args.admin,
        hidden=args.hidden,
    )
    return mint_token(key, keys.secrets[key], args.identity, args.room, args.name, grants, ttl=args.ttl)


def run_turn(args: argparse.Namespace) -> None:
    """``huddle turn``: render turnserver.conf and exec coturn's turnserver on it."""
    settings = _turn_settings(args)
    if not settings.secret:
        raise SystemExit("huddle turn: needs --turn-secret or HUDDLE_TURN_SECRET")
    if bool(args.cert) != bool(args.pkey):
        raise SystemExit("huddle turn: --cert and --pkey go together")
    options = CoturnOptions(
        realm=args.realm,
        listening_ips=args.listening_ip,
        relay_ips=args.relay_ip,
        external_ip=args.external_ip,
        port=args.port,
        tls_port=args.tls_port,
        cert=args.cert,
        pkey=args.pkey,
        min_port=args.min_port,
        max_port=args.max_port,
        allowed_peer_ips=args.media_address,
        allow_loopback=args.allow_loopback,
        user_quota=args.user_quota,
        total_quota=args.total_quota,
        log_file=args.log_file,
    )
    path = args.config_out or Path(tempfile.mkdtemp(prefix="huddle-turn-")) / "turnserver.conf"
    path.parent.mkdir(parents=True, exist_ok=True)
    # coturn's pid file and user database next to the configuration: no root paths needed,
    # and several development servers do not trample each other.
    options.pid_file = path.parent / "turnserver.pid"
    options.userdb = path.parent / "turndb"
    # The file holds the secret: create it readable by this user only.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(render_coturn_config(settings.secret, options))
    if args.dry_run:
        print(path, flush=True)
        return
    turnserver = shutil.which("turnserver")
    if turnserver is None:
        raise SystemExit("huddle turn: turnserver not found (Debian: apt-get install coturn)")
    print(f"huddle turn: running {turnserver} -c {path}", file=sys.stderr, flush=True)
    os.execv(turnserver, [turnserver, "-c", str(path)])


if __name__ == "__main__":
    main()
