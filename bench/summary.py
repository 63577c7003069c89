"""Prints bench/run's table from the figures it wrote, checks them against the goals of
docs/performance.md, and writes them together as results.json.

usage: summary.py OUT_DIR
"""

import json
import os
import platform
import sys
from datetime import datetime, timezone


def main():
    out = sys.argv[1]
    planning = json.load(open(os.path.join(out, "planning.json")))
    serve = json.load(open(os.path.join(out, "serve.json")))
    sweep = [json.loads(l) for l in open(os.path.join(out, "sweep.jsonl")) if l.strip()]
    drain_table = [l.rstrip() for l in open(os.path.join(out, "outbox_drain.txt")) if l.startswith("|")]

    rows = []

    def row(figure, value, goal="", met=None):
        mark = "" if met is None else ("met" if met else "MISSED")
        rows.append((figure, value, goal, mark))

    p = planning
    row("planning: mesa, whole process, per business-time deadline",
        f"{p['mesa_us_per_business_deadline']:.2f} µs")
    row("planning: pandas CustomBusinessHour, arithmetic only", f"{p['pandas_us_per_deadline']:.1f} µs")
    row("planning: businesstimedelta, arithmetic only", f"{p['businesstimedelta_us_per_deadline']:.1f} µs")
    row("planning: moment-business-time, arithmetic only",
        f"{p['moment_business_time_us_per_deadline']:.1f} µs")
    row("planning: mesa against pandas", f"{p['mesa_vs_pandas']:.0f}×", "≥ 100×", p["mesa_vs_pandas"] >= 100)
    row(f"planning: results agree on {p['cases']} cases", "yes" if p["all_agree_with_mesa"] else "NO",
        "all", p["all_agree_with_mesa"])

    raw = serve["raw_one_row_commits_per_second"]
    row("SQLite raw one-row durable commits (same disk)", f"{raw:.0f}/s")
    base = {r["connections"]: r for r in serve.get("baseline_intake", [])}
    for r in serve["intake"]:
        c = r["connections"]
        value = f"{r['per_second']:.0f}/s, p99 {r['p99_ms']:.1f} ms"
        if c in base:
            b = base[c]
            value += f" (baseline {b['per_second']:.0f}/s, p99 {b['p99_ms']:.1f} ms)"
        if c == 32:
            row(f"intake at {c} connections", value, "≥ 3000/s, p99 < 50 ms",
                r["per_second"] >= 3000 and r["p99_ms"] < 50)
            row("intake at 32 connections against raw commits", f"{r['per_second'] / raw:.2f}×", "≥ 5×",
                r["per_second"] / raw >= 5)
        else:
            row(f"intake at {c} connection{'s' if c > 1 else ''}", value)

    d = serve["drain"]
    row(f"burst: {d['burst_seconds']} s at 32 connections",
        f"{d['tickets']} tickets, {d['acknowledged_by_burst_end']} acknowledged by its end")
    row("burst: last acknowledgement after the burst", f"{d['seconds_after_burst_to_last_ack']:.0f} s")
    row("burst: longest wait of a ticket for its acknowledgement", f"≤ {d['longest_ack_wait_at_most_seconds']:.0f} s",
        "≤ 900 s", d["longest_ack_wait_at_most_seconds"] <= 900)
    delivery_rate = d["tickets"] / d["longest_ack_wait_at_most_seconds"]
    row("burst: delivery keeps pace with intake", f"{delivery_rate:.0f}/s against {d['intake_per_second']:.0f}/s",
        "delivery ≥ intake", delivery_rate >= d["intake_per_second"])

    for s in sweep:
        row(f"sweep at {s['open_tickets']} open tickets, {s['due']} due",
            f"{s['sweep_ms']:.1f} ms, {s['tickets_read']} tickets read",
            "reads only the due", s["tickets_read"] == s["due"])
    if sweep:
        row("store: ticket creations on one SQLite file (group commit)",
            f"{max(s['fill_tickets_per_second'] for s in sweep):.0f}/s")

    for line in drain_table[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        row(f"outbox loop, mail server answering in {cells[0]}", f"{cells[2]} (one at a time {cells[1]})")

    lambda_init = json.load(open(os.path.join(out, "lambda_init.json")))
    for r in lambda_init:
        row(f"Lambda {r['function']} init to first poll, rules {r['rules']}",
            f"{r['init_ms_median']:.1f} ms median (CPU {r['init_cpu_ms_median']:.1f} ms, max {r['init_ms_max']:.0f})",
            "< 30 ms", r["init_ms_median"] < 30)
    for name in dict.fromkeys(r["function"] for r in lambda_init):
        rs = [r for r in lambda_init if r["function"] == name]
        rss = max(r["peak_rss_mb"] for r in rs)
        size = rs[0]["bootstrap_mb"]
        row(f"Lambda {name} peak RSS handling one event", f"{rss:.1f} MB", "< 40 MB", rss < 40)
        row(f"Lambda {name} bootstrap", f"{size:.1f} MB", "< 10 MB", size < 10)

    cost = json.load(open(os.path.join(out, "aws_cost.json")))
    t = cost["per_ticket"]
    row("AWS: one ticket's life, Lambda invocations", f"{sum(t['invocations'].values())}")
    row("AWS: one ticket's life, DynamoDB units",
        f"{t['counts'].get('dynamodb write units', 0):.0f} write, {t['counts'].get('dynamodb read units', 0):.1f} read")
    row("AWS: one ticket's life, SES messages", f"{t['counts'].get('ses messages', 0):.0f}")
    row("AWS: outbox invocations the INSERT-only stream filter saves per ticket",
        f"{t['counts'].get('pending rewrites the filter leaves out', 0):.0f}")
    row("AWS: cost per ticket", f"${t['cost_usd']:.6f} ({cost['prices_as_of']})")
    top = max(t["by_charge_usd"].items(), key=lambda kv: kv[1])
    row("AWS: largest share of it", f"{top[0]} {top[1] / t['cost_usd']:.0%}")
    row("AWS: SLA sweep every minute", f"${cost['sweep_per_run']['monthly_usd']:.2f} a month")
    for n, usd in cost["monthly_usd"].items():
        row(f"AWS: {int(n):,} tickets a month", f"${usd:,.2f}")

    width = max(len(r[0]) for r in rows)
    vwidth = max(len(r[1]) for r in rows)
    print()
    for figure, value, goal, mark in rows:
        print(f"{figure:<{width}}  {value:<{vwidth}}  {goal:<22} {mark}")
    results = {
        "at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "planning": planning,
        "serve": serve,
        "sweep": sweep,
        "outbox_drain": drain_table,
        "lambda_init": lambda_init,
        "aws_cost": cost,
        "table": [dict(zip(("figure", "value", "goal", "verdict"), r)) for r in rows],
    }
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(results, f, indent=2, ensure_ascii=False)
    print(f"\nwritten: {os.path.join(out, 'results.json')}")


if __name__ == "__main__":
    main()
