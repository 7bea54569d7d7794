"""The issue's targets, each as name / measured / target / met, so runs can be compared.

A target whose path is not on this branch yet has measured and met set to null and says why.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench import memos_import

Target = dict[str, Any]
SCENARIOS = ("1_credential", "100_credentials")


def _target(name: str, measured: Any, target: str, met: bool) -> Target:
    return {"name": name, "measured": measured, "target": target, "met": met}


def _skipped(name: str, target: str, reason: str) -> Target:
    return {"name": name, "measured": None, "target": target, "met": None, "skipped": reason}


def _per_scenario(calls: dict[str, Any], key: str, value: Callable[[dict[str, Any]], float]) -> float:
    return max(value(calls[key][scenario]) for scenario in SCENARIOS)


def _latency_target(latency: dict[str, Any], key: str, name: str, limit: float) -> Target:
    ratio = latency[key]["median_vs_floor"]
    return _target(name, ratio, f"<= {limit}", ratio <= limit)


def evaluate(results: dict[str, Any]) -> list[Target]:
    latency, calls = results["latency"], results["calls"]
    targets = [
        _latency_target(latency, key, name, limit)
        for key, name, limit in (
            (
                "access_token",
                "access token verified before in this container: warm median / jwt.decode floor",
                0.3,
            ),
            (
                "access_token_first_seen",
                "access token seen for the first time: warm median / jwt.decode floor",
                1.3,
            ),
            ("garbage", "garbage token: warm median / jwt.decode floor", 0.5),
            ("forged", "forged signature: warm median / jwt.decode floor", 1.2),
        )
    ]
    warm_calls = _per_scenario(
        calls,
        "access_token",
        lambda run: run["secretsmanager"] + run["dynamodb_writes"] + run["rereads_within_revocation_lag"],
    )
    targets.append(
        _target(
            "access token: AWS calls on warm requests (user seen within the revocation lag)",
            warm_calls,
            "0",
            warm_calls == 0,
        )
    )
    for key, label in (("pat", "PAT"), ("session", "session")):
        reads_name = f"{label}: DynamoDB reads per request"
        writes_name = f"{label}: writes per credential per minute"
        if "skipped" in calls[key]:
            targets.append(_skipped(reads_name, "<= 1", calls[key]["skipped"]))
            targets.append(_skipped(writes_name, "<= 1", calls[key]["skipped"]))
            continue
        reads = _per_scenario(calls, key, lambda run: run["dynamodb_reads_per_request"])
        writes = _per_scenario(calls, key, lambda run: run["max_writes_per_credential_per_minute"])
        targets.append(_target(reads_name, reads, "<= 1", reads <= 1))
        targets.append(_target(writes_name, writes, "<= 1", writes <= 1))
    garbage = _per_scenario(
        calls,
        "garbage",
        lambda run: (
            run["secretsmanager"]
            + run["dynamodb_reads"]
            + run["dynamodb_writes"]
            + sum(run["cold_first_request"].values())
        ),
    )
    targets.append(_target("garbage token: AWS calls (cold or warm)", garbage, "0", garbage == 0))
    lambda_venv = results["cold_start"]["lambda_venv"]
    for function, limit in (("authorizer", 1.3), ("api", 1.5)):
        name = f"{function} cold import / boto3 + one client (Lambda-like venv)"
        if "skipped" in lambda_venv:
            targets.append(_skipped(name, f"<= {limit}", lambda_venv["skipped"]))
            continue
        ratio = lambda_venv[f"{function}_vs_boto3"]
        targets.append(_target(name, ratio, f"<= {limit}", ratio <= limit))
    built = results["packages"]
    lean_name = "authorizer package: pydantic, bcrypt, zxcvbn or event-handler code it holds"
    if "skipped" in built:
        targets.append(_skipped(lean_name, "none", built["skipped"]))
    else:
        held = built["AuthorizerFunction"]["holds_api_only_code"]
        targets.append(_target(lean_name, ", ".join(held) or "none", "none", not held))
    targets += memos_import.evaluate(results.get("memos_import"))
    rss = results["memory"]["peak_rss_mb"]
    targets.append(_target("peak RSS after 10,000 authorizer invocations (MB)", rss, "< 100", rss < 100))
    return targets
