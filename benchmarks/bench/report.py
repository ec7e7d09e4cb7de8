"""The report of one ``huddle bench`` invocation: built, checked against report_schema.json, written.

``write_report`` writes ``report.json``, ``summary.md`` (:mod:`.summary`) and the PNG charts
(:mod:`.charts`) into one folder.
"""

from __future__ import annotations

import json
import os
import platform
import re
import sys
import time
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from .charts import write_charts
from .scenarios import Scenario
from .summary import summary_markdown

SCHEMA_PATH = Path(__file__).with_name("report_schema.json")
TOOL = "huddle bench 1"
REDACTED = "***"
# Options whose value is a secret; the value may follow as the next argument or after "=".
SECRET_OPTIONS = ("--api-secret", "--token", "--metrics-token")
# A JSON Web Token: three base64url parts, the first one a JSON object ("{" is "ey" in base64).
JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


@cache
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text())


def validate(instance: Any, definition: str | None = None) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``instance`` fits the schema (or one of its $defs)."""
    root = schema()
    target = root if definition is None else {"$ref": f"#/$defs/{definition}", "$defs": root["$defs"]}
    jsonschema.Draft202012Validator(target, format_checker=jsonschema.FormatChecker()).validate(instance)


def redact_command(argv: list[str]) -> list[str]:
    """``argv`` with the values of secret options and anything that looks like a JWT replaced by ***."""
    redacted: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            redacted.append(REDACTED)
            hide_next = False
            continue
        option, equals, _value = arg.partition("=")
        if option in SECRET_OPTIONS:
            if equals:
                redacted.append(f"{option}={REDACTED}")
            else:
                redacted.append(arg)
                hide_next = True
            continue
        redacted.append(JWT.sub(REDACTED, arg))
    return redacted


def machine_info() -> dict[str, Any]:
    return {"cpus": os.cpu_count() or 1, "platform": platform.platform(), "python": sys.version.split()[0]}


def build_report(
    scenario: Scenario,
    runs: list[dict[str, Any]],
    command: list[str],
    comparison: dict[str, Any] | None = None,
    capacity: dict[str, Any] | None = None,
    started_at: float | None = None,
) -> dict[str, Any]:
    """The top-level report object; raises ``jsonschema.ValidationError`` if it does not fit the schema."""
    report: dict[str, Any] = {
        "version": 1,
        "tool": TOOL,
        "started_at": time.time() if started_at is None else started_at,
        "command": redact_command(list(command)),
        "machine": machine_info(),
        "scenario": scenario.to_json(),
        "runs": runs,
    }
    if comparison is not None:
        report["comparison"] = comparison
    if capacity is not None:
        report["capacity"] = capacity
    validate(report)
    return report


def write_report(report: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    """Validate, then write report.json, summary.md and the charts; returns name -> path."""
    validate(report)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "report.json", "summary": out_dir / "summary.md"}
    paths["json"].write_text(json.dumps(report, indent=2) + "\n")
    paths["summary"].write_text(summary_markdown(report))
    paths.update(write_charts(report, out_dir))
    return paths
