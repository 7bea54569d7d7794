"""The CloudWatch metrics the handlers published, read back from their EMF lines on stdout
(powertools' Metrics prints one document per invocation)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from handlers.observability import METRICS_NAMESPACE, Metric


def json_lines(lines: list[str]) -> list[dict[str, Any]]:
    """The JSON documents among printed or logged lines."""
    return [json.loads(line) for line in lines if line.startswith("{")]


def emitted_metrics(lines: list[str]) -> list[tuple[str, dict[str, Any]]]:
    """(metric name, the EMF document) for every metric the handlers published."""
    found: list[tuple[str, dict[str, Any]]] = []
    for document in json_lines(lines):
        for directive in document.get("_aws", {}).get("CloudWatchMetrics", []):
            assert directive["Namespace"] == METRICS_NAMESPACE
            found.extend((metric["Name"], document) for metric in directive["Metrics"])
    return found


def counted(capsys: pytest.CaptureFixture[str], metric: Metric) -> int:
    """How many times the handlers published `metric` since stdout was last read."""
    names = [name for name, _ in emitted_metrics(capsys.readouterr().out.splitlines())]
    return names.count(metric)
