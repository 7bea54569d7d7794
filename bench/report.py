"""The bench's results as Markdown tables: printed by `make bench`, pasted into README."""

from __future__ import annotations

from typing import Any

from bench.bcrypt_cost import MEMORY_SIZES_MB, lambda_ms
from bench.cases import CASES

# The API function's memory in template.yaml (ApiFunction), where sign-ups run.
LIST_MEMORY_MB = 512


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join("" if cell is None else str(cell) for cell in row) + " |" for row in rows]
    return lines


def _calls(run: dict[str, Any]) -> str:
    return f"{run['secretsmanager']} / {run['dynamodb_reads']} / {run['dynamodb_writes']}"


def paths(results: dict[str, Any]) -> list[str]:
    latency, calls, costs = results["latency"], results["calls"], results["costs"]
    floor = latency["floor"]
    rows: list[list[Any]] = [
        ["jwt.decode (floor)", floor["median_us"], floor["p99_us"], "1.00", "", "", "", ""]
    ]
    for case in CASES:
        if not case.available:
            rows.append([case.title, case.skip_reason, "", "", "", "", "", ""])
            continue
        timing, counts = latency[case.key], calls[case.key]
        rows.append(
            [
                case.title,
                timing["median_us"],
                timing["p99_us"],
                f"{timing['median_vs_floor']:.2f}",
                _calls(counts["1_credential"]),
                _calls(counts["100_credentials"]),
                max(
                    counts[s]["max_writes_per_credential_per_minute"]
                    for s in ("1_credential", "100_credentials")
                ),
                f"{costs[case.key]['total']:.2f}",
            ]
        )
    header = [
        "path",
        "median µs",
        "p99 µs",
        "x floor",
        "SM / DDB reads / writes per 1,000 req, 1 credential",
        "same, 100 credentials",
        "max writes / credential / min",
        "$ per million (100 credentials)",
    ]
    return _table(header, rows)


def cold_start(results: dict[str, Any]) -> list[str]:
    rows = []
    for name, env in results["cold_start"].items():
        if "skipped" in env:
            rows.append([name, env["skipped"], "", "", "", "", "", ""])
            continue
        rows.append(
            [
                name,
                env["boto3_ms"],
                env["authorizer_ms"],
                env["authorizer_vs_boto3"],
                env["api_ms"],
                env["api_vs_boto3"],
                env["api_first_request_ms"],
                env["api_first_request_vs_boto3"],
            ]
        )
    header = ["environment", "boto3 + client ms", "authorizer ms", "x boto3", "API ms", "x boto3"]
    return _table([*header, "API + first request ms", "x boto3"], rows)


def packages(results: dict[str, Any]) -> list[str]:
    built = results["packages"]
    if "skipped" in built:
        return [f"Packages: skipped ({built['skipped']})"]
    rows = [
        [function, package["size_mb"], ", ".join(package["holds_api_only_code"]) or "none"]
        for function, package in built.items()
    ]
    return _table(["function", "package MB (no .pyc)", "pydantic / bcrypt / zxcvbn / event handler"], rows)


def bcrypt_costs(results: dict[str, Any]) -> list[str]:
    rows = [
        [
            row["cost"],
            row["local_ms"],
            *(row["estimated_lambda_ms_by_memory_mb"][str(size)] for size in MEMORY_SIZES_MB),
            row["smallest_memory_mb_within_budget"] or "none listed",
        ]
        for row in results["bcrypt"]["rows"]
    ]
    budget = results["bcrypt"]["budget_ms"]
    header = [
        "cost",
        "local ms",
        *(f"{size} MB (est.)" for size in MEMORY_SIZES_MB),
        f"smallest ≤ {budget} ms",
    ]
    return _table(header, rows)


def common_passwords(results: dict[str, Any]) -> list[str]:
    measured = results["common_passwords"]
    rows = [
        [
            variant.replace("_", " "),
            measured[variant]["first_check_ms"],
            round(lambda_ms(measured[variant]["first_check_ms"], LIST_MEMORY_MB)),
            measured[variant]["warm_check_us"],
            measured[variant]["rss_added_mb"],
        ]
        for variant in ("with_pyc", "without_pyc")
    ]
    header = [
        f"list of {measured['entries']:,}",
        "first check (loads it) ms",
        f"same on {LIST_MEMORY_MB} MB (est.) ms",
        "warm check µs",
        "RSS added MB",
    ]
    return _table(header, rows)


def targets(results: dict[str, Any]) -> list[str]:
    rows = [
        [t["name"], t["measured"] if t["met"] is not None else t.get("skipped"), t["target"], _met(t["met"])]
        for t in results["targets"]
    ]
    return _table(["target", "measured", "target", "met"], rows)


def _met(met: bool | None) -> str:
    return "skipped" if met is None else ("yes" if met else "NO")


def render(results: dict[str, Any]) -> str:
    memory = results["memory"]
    sections = [
        "Warm authorizer, per credential path:",
        *paths(results),
        "",
        "Cold start (fresh interpreter: import + build clients):",
        *cold_start(results),
        "",
        "Each function's package (src/Makefile, as sam build runs it):",
        *packages(results),
        "",
        f"Peak RSS after {memory['invocations']:,} authorizer invocations: {memory['peak_rss_mb']} MB "
        f"({memory['peak_rss_before_invocations_mb']} MB before the first).",
        "",
        "Sign-in: bcrypt hash time by cost, and estimated on Lambda by memory size:",
        *bcrypt_costs(results),
        "",
        "Sign-up and password change: the common-password list, loaded once per container:",
        *common_passwords(results),
        "",
        "Targets:",
        *targets(results),
    ]
    return "\n".join(sections)
