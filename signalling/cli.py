"""The ``huddle`` command."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from aiohttp import web

from .app import build_app
from .config import Config
from .event_loop import new_event_loop


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="huddle", description="Self-hosted conferencing")
    commands = parser.add_subparsers(dest="command", required=True)
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
    serve.add_argument("--empty-room-timeout", type=float, default=30.0, metavar="SECONDS")
    serve.add_argument("--max-participants", type=int, default=100, help="participants per room")
    serve.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)

    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    config = Config(
        host=args.host,
        port=args.port,
        data_dir=args.data_dir,
        media_addresses=args.media_address,
        empty_room_timeout=args.empty_room_timeout,
        max_participants_per_room=args.max_participants,
    )
    app = build_app(config)
    shown = "127.0.0.1" if config.host in ("0.0.0.0", "::") else config.host
    print(f"Huddle is running: open http://{shown}:{config.port}/ in a browser", flush=True)
    web.run_app(app, host=config.host, port=config.port, print=None, loop=new_event_loop())


if __name__ == "__main__":
    main()
