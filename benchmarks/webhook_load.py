"""webhook_load: throughput and latency of ``dwh webhook serve`` under concurrent signed deliveries.

The receiver runs as it is deployed, ``python -m dwh_dagster.cli webhook serve`` (uvicorn) in its
own process group, on 127.0.0.1, for the webhook project of the tests
(``dwh_dagster_tests/webhooks/support.py``: trigger ``hook_hmac``, HMAC-SHA256 over
``<timestamp>.<body>``), with its SQLite store in a fresh DAGSTER_HOME. The load is the one of
``dwh_dagster_tests/webhooks/test_load.py``: ``--deliveries`` requests (2,000 by default) of about
``--payload-bytes`` each from ``--clients`` threads (16), each over its own keep-alive
``http.client`` connection; a tenth are replays (the same request again) and a tenth forgeries
(bad signatures carrying a genuine delivery's id), shuffled.

Timed: each round's wall time from the first request sent to the last answer read (deliveries/s
counts every request, whatever its answer), and each request's latency (send to answer read), as
p50 / p90 / p99 / max, overall and by answer status; the receiver's CPU time (``/proc/<pid>/stat``,
per delivery: what it costs whatever else runs on the machine, the load clients included) and its
RSS, sampled every 20 ms.
``--repeats`` rounds after one warm-up round, each round with fresh delivery ids; medians across
rounds. After the last round the store must hold exactly one event per genuine delivery id, with
its payload; every genuine request and replay must have been answered 202 and every forgery 401,
else the benchmark stops (exit 2). No target: the figures are for benchmarks/README.md.

    uv run python benchmarks/webhook_load.py [--deliveries N] [--clients N] [--repeats N]
        [--payload-bytes N] [--no-warm-up] [--smoke] [--out PATH] [--keep]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import zlib
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import machine
from machine import load_average, run_in_work_folder
from machine import machine_info as shared_machine_info

from dwh_dagster_tests.webhooks.support import (
    HMAC_SECRET,
    HMAC_VAR,
    clean_env,
    make_dagster_home,
    serve,
    stored_events,
    write_webhook_project,
)
from dwh_dagster_tests.webhooks.test_load import (
    PAYLOAD_BYTES,
    TRIGGER,
    Outcome,
    RssSampler,
    percentile,
    plan_deliveries,
    send_load,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "benchmarks" / "results" / "webhook_load.json"
DELIVERIES = 2000
CLIENTS = 16
REPEATS = 3
SMOKE_DELIVERIES = 200
SMOKE_CLIENTS = 4
EXPECTED = {"new": 202, "replay": 202, "forged": 401}


class BenchmarkError(machine.BenchmarkError):
    """A request got another answer than expected, or the store is wrong: the benchmark stops."""


def machine_info() -> dict[str, Any]:
    return shared_machine_info(("uvicorn", "starlette", "httptools", "uvloop"))


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (``/proc/<pid>/stat``), its threads included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def latencies_ms(outcomes: Sequence[Outcome]) -> dict[str, float]:
    values = [o.latency * 1000 for o in outcomes]
    return {
        "p50": round(percentile(values, 0.50), 2),
        "p90": round(percentile(values, 0.90), 2),
        "p99": round(percentile(values, 0.99), 2),
        "max": round(max(values), 2),
    }


def check_answers(outcomes: Sequence[Outcome], count: int) -> None:
    if len(outcomes) != count:
        raise BenchmarkError(f"{len(outcomes)} answers for {count} requests")
    wrong = [o for o in outcomes if o.status != EXPECTED[o.delivery.kind]]
    if wrong:
        sample = [(o.delivery.kind, o.delivery.delivery_id, o.status, o.answer) for o in wrong[:5]]
        raise BenchmarkError(f"{len(wrong)} unexpected answers, for example {sample}")
    created = Counter(
        o.delivery.delivery_id for o in outcomes if o.status == 202 and not o.answer["duplicate"]
    )
    genuine = {o.delivery.delivery_id for o in outcomes if o.delivery.kind == "new"}
    if set(created) != genuine or set(created.values()) != {1}:
        raise BenchmarkError("not exactly one created event per genuine delivery id")


def measure_round(
    port: int, pid: int, count: int, clients: int, payload_bytes: int, prefix: str
) -> dict[str, Any]:
    plan = plan_deliveries(
        count, payload_bytes=payload_bytes, prefix=prefix, seed=zlib.crc32(prefix.encode())
    )
    cpu_before = process_cpu_seconds(pid)
    with RssSampler(pid) as rss:
        started = time.perf_counter()
        outcomes = send_load(port, plan, clients=clients)
        seconds = time.perf_counter() - started
    receiver_cpu = process_cpu_seconds(pid) - cpu_before
    check_answers(outcomes, count)
    first, last = rss.quarters_mb() if len(rss.samples) >= 8 else (None, None)
    by_status: dict[int, list[Outcome]] = {}
    for o in outcomes:
        by_status.setdefault(o.status, []).append(o)
    return {
        "prefix": prefix,
        "seconds": round(seconds, 3),
        "deliveries_per_second": round(count / seconds, 1),
        "receiver_cpu_seconds": round(receiver_cpu, 3),
        "receiver_cpu_ms_per_delivery": round(receiver_cpu * 1000 / count, 3),
        "latency_ms": latencies_ms(outcomes),
        "latency_ms_by_status": {str(s): latencies_ms(v) for s, v in sorted(by_status.items())},
        "statuses": {str(s): len(v) for s, v in sorted(by_status.items())},
        "duplicates": sum(1 for o in outcomes if o.status == 202 and o.answer["duplicate"]),
        "sent_again": sum(1 for o in outcomes if o.attempts > 1),  # kept-alive connection closed under it
        "rss_mb": {
            "first_quarter": None if first is None else round(first, 1),
            "last_quarter": None if last is None else round(last, 1),
            "peak": round(rss.peak_mb(), 1) if rss.samples else None,
        },
        "genuine": sorted({o.delivery.delivery_id for o in outcomes if o.delivery.kind == "new"}),
        "payloads": {o.delivery.delivery_id: o.delivery.body for o in outcomes if o.delivery.kind == "new"},
    }


def verify_store(store: Path, rounds: Sequence[dict[str, Any]]) -> int:
    """Exactly one event per genuine delivery id of every round, with its payload; their number."""
    import json

    expected: dict[str, bytes] = {}
    for r in rounds:
        expected.update(r["payloads"])
    events = stored_events(store, TRIGGER)
    keys = Counter(k for _, k, _ in events)
    if set(keys) != set(expected) or set(keys.values()) != {1}:
        raise BenchmarkError(f"the store holds {len(events)} events for {len(expected)} delivery ids")
    for _, key, payload in events:
        if json.dumps(payload).encode() != expected[key]:
            raise BenchmarkError(f"event {key} holds another payload than was sent")
    return len(events)


def summarize(rounds: Sequence[dict[str, Any]]) -> dict[str, Any]:
    def median(path: Sequence[str]) -> float:
        values = []
        for r in rounds:
            value: Any = r
            for key in path:
                value = value[key]
            values.append(value)
        return round(statistics.median(values), 2)

    statuses = sorted({s for r in rounds for s in r["statuses"]})
    return {
        "deliveries_per_second": median(["deliveries_per_second"]),
        "seconds": median(["seconds"]),
        "receiver_cpu_ms_per_delivery": median(["receiver_cpu_ms_per_delivery"]),
        "latency_ms": {q: median(["latency_ms", q]) for q in ("p50", "p90", "p99", "max")},
        "latency_ms_by_status": {
            s: {q: median(["latency_ms_by_status", s, q]) for q in ("p50", "p99")} for s in statuses
        },
        "statuses": {s: rounds[0]["statuses"][s] for s in statuses},
    }


def benchmark(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    machine = machine_info()
    defs = write_webhook_project(work / "project")
    home = make_dagster_home(work / "dagster_home")
    store = home / "dwh_webhooks.sqlite"
    env = clean_env(home, **{HMAC_VAR: HMAC_SECRET})
    rounds: list[dict[str, Any]] = []
    warm: dict[str, Any] | None = None
    with serve(defs, env, work / "logs") as receiver:
        pid = receiver.process.pid
        names = (["warm-up"] if args.warm_up else []) + [f"round-{i + 1}" for i in range(args.repeats)]
        for name in names:
            figures = measure_round(
                receiver.port, pid, args.deliveries, args.clients, args.payload_bytes, name
            )
            lat = figures["latency_ms"]
            print(
                f"{name:<8} {figures['deliveries_per_second']:>8,.1f} deliveries/s  "
                f"p50 {lat['p50']:.2f} ms  p99 {lat['p99']:.2f} ms  max {lat['max']:.2f} ms  "
                f"statuses {figures['statuses']}  RSS {figures['rss_mb']}",
                file=sys.stderr,
            )
            if name == "warm-up":
                warm = figures
            else:
                rounds.append(figures)
    stored = verify_store(store, ([warm] if warm else []) + rounds)
    for r in [*rounds, *([warm] if warm else [])]:
        r.pop("payloads")
        r.pop("genuine")
    return {
        "benchmark": "webhook_load",
        "machine": {**machine, "load_average_end": load_average()},
        "deliveries": args.deliveries,
        "clients": args.clients,
        "payload_bytes": args.payload_bytes,
        "replay_share": 0.1,
        "forged_share": 0.1,
        "repeats": args.repeats,
        "warm_up": args.warm_up,
        "figures": summarize(rounds),
        "rounds": rounds,
        "warm_up_round": warm,
        "stored_events": stored,
        "store_verified": True,
        "targets": [],
    }


def render(report: dict[str, Any]) -> str:
    f = report["figures"]
    lines = [
        f"webhook_load: {report['deliveries']:,} deliveries of ~{report['payload_bytes']:,} bytes from "
        f"{report['clients']} keep-alive clients (10% replays, 10% bad signatures), median of "
        f"{report['repeats']} rounds",
        "",
        f"{'round':<10}{'deliveries/s':>14}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}"
        f"{'receiver CPU ms/delivery':>26}{'RSS first/last quarter, peak MB':>34}",
    ]
    for r in report["rounds"]:
        lat, rss = r["latency_ms"], r["rss_mb"]
        memory = f"{rss['first_quarter']} / {rss['last_quarter']}, {rss['peak']}"
        lines.append(
            f"{r['prefix']:<10}{r['deliveries_per_second']:>14,.1f}{lat['p50']:>9.2f}{lat['p90']:>9.2f}"
            f"{lat['p99']:>9.2f}{lat['max']:>9.2f}{r['receiver_cpu_ms_per_delivery']:>26.3f}"
            f"{memory:>34}"
        )
    lat = f["latency_ms"]
    lines.append(
        f"{'median':<10}{f['deliveries_per_second']:>14,.1f}{lat['p50']:>9.2f}{lat['p90']:>9.2f}"
        f"{lat['p99']:>9.2f}{lat['max']:>9.2f}{f['receiver_cpu_ms_per_delivery']:>26.3f}"
    )
    lines += ["", "by status (a round's count; median p50 / p99 ms):"]
    for status, count in f["statuses"].items():
        s = f["latency_ms_by_status"][status]
        lines.append(f"  {status}: {count:>6,}   p50 {s['p50']:.2f}   p99 {s['p99']:.2f}")
    machine = report["machine"]
    lines += [
        "",
        f"store: {report['stored_events']:,} events, exactly one per genuine delivery id, payloads as sent: "
        f"{report['store_verified']}",
        "requests sent again because the receiver closed a kept-alive connection: "
        + ", ".join(str(r["sent_again"]) for r in report["rounds"]),
        f"{machine['cpu_count']} CPUs, load average {machine['load_average']} at start, "
        f"{machine['load_average_end']} at the end",
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--deliveries", type=int, default=DELIVERIES, help=f"requests a round (default {DELIVERIES:,})"
    )
    parser.add_argument(
        "--clients", type=int, default=CLIENTS, help=f"concurrent clients (default {CLIENTS})"
    )
    parser.add_argument(
        "--repeats", type=int, default=REPEATS, help=f"measured rounds (median; default {REPEATS})"
    )
    parser.add_argument(
        "--payload-bytes",
        type=int,
        default=PAYLOAD_BYTES,
        help=f"bytes of a genuine body (default {PAYLOAD_BYTES})",
    )
    parser.add_argument("--no-warm-up", dest="warm_up", action="store_false", help="no warm-up round")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help=f"{SMOKE_DELIVERIES} deliveries from {SMOKE_CLIENTS} clients, 1 round, no warm-up (for CI)",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON output (default: {DEFAULT_OUT})")
    parser.add_argument(
        "--strict", action="store_true", help="exit 1 when a target is missed (there is none)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the work dir")
    args = parser.parse_args(argv)
    if args.smoke:
        args.deliveries, args.clients, args.repeats, args.warm_up = SMOKE_DELIVERIES, SMOKE_CLIENTS, 1, False
    if args.repeats < 1 or args.deliveries < 10 or args.clients < 1:
        parser.error("--repeats and --clients must be at least 1, --deliveries at least 10")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    return run_in_work_folder(
        "dwh-webhook-load-", args.keep, lambda work: benchmark(args, work), render, args.out, args.strict
    )


if __name__ == "__main__":
    sys.exit(main())
