"""Deadline planning side by side: mesa against pandas CustomBusinessHour, businesstimedelta
and moment-business-time, on the same cases of the contract's calendar (Mon-Fri 09:00-18:00
Mexico City, mesa's own Mexican holidays given to every library, so the arithmetic is what
is compared). Every library must agree with mesa on every response deadline.

usage: planning.py MESA_BINARY NODE_DIR CASES OUT.json
"""

import json
import os
import random
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import businesstimedelta
import pandas as pd

MEXICO = ZoneInfo("America/Mexico_City")
# The contract's response times in business hours, by severity (rules/severity.rhai).
RESPONSE_HOURS = {1: 6, 2: 12, 3: 24, 4: 36}


def cases(n):
    rng = random.Random(20261127)
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    span = int((datetime(2028, 1, 1, tzinfo=timezone.utc) - start).total_seconds())
    return [(start + timedelta(seconds=rng.randrange(span)), rng.randint(1, 4)) for _ in range(n)]


def utc(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def main():
    mesa, node_dir, n, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    work = cases(n)
    lines = "".join(
        json.dumps({"received": r.strftime("%Y-%m-%dT%H:%M:%SZ"), "severity": s}) + "\n"
        for r, s in work
    )
    holidays = []
    for year in (2026, 2027, 2028):
        got = subprocess.run([mesa, "calendar", "holidays", "--year", str(year)],
                             check=True, capture_output=True, text=True).stdout
        holidays += [h["date"] for h in json.loads(got)]

    # mesa: the whole process, from reading JSON lines to writing every plan.
    began = time.perf_counter()
    done = subprocess.run([mesa, "sla", "plan", "--batch", "-"], input=lines,
                          check=True, capture_output=True, text=True)
    mesa_seconds = time.perf_counter() - began
    plans = [json.loads(l) for l in done.stdout.splitlines()]
    business_deadlines = 0
    expected = []
    for plan in plans:
        by_name = {m["name"]: m for m in plan["milestones"]}
        # Every clock but the 15 calendar minutes of the acknowledgement is business time.
        business_deadlines += len(plan["milestones"]) - 1
        expected.append(utc(by_name["response"]["due"]))

    local = [r.astimezone(MEXICO).replace(tzinfo=None) for r, _ in work]
    hours = [RESPONSE_HOURS[s] for _, s in work]

    holiday_dates = {datetime.strptime(d, "%Y-%m-%d").date() for d in holidays}

    def same_business_instant(t):
        # A deadline at a day's 18:00 close and one at the next business day's 09:00
        # opening are the same instant of business time: mesa gives the close (the
        # contract's last business day), some libraries the opening. Compared as opening.
        t = t.astimezone(MEXICO)
        if (t.hour, t.minute, t.second) != (18, 0, 0):
            return t
        d = t.date() + timedelta(days=1)
        while d.weekday() >= 5 or d in holiday_dates:
            d += timedelta(days=1)
        return datetime(d.year, d.month, d.day, 9, tzinfo=MEXICO)

    def agree(name, got):
        wrong = [(work[i][0], hours[i], g, expected[i]) for i, g in enumerate(got)
                 if same_business_instant(g) != same_business_instant(expected[i])]
        if wrong:
            r, h, g, e = wrong[0]
            raise SystemExit(f"{name} disagrees with mesa on {len(wrong)} of {len(got)} cases; "
                             f"first: received {r}, {h} business hours: {name} {g}, mesa {e}")

    # pandas: only the arithmetic is timed (the offsets are built once per severity).
    offsets = {h: pd.offsets.CustomBusinessHour(n=h, start="09:00", end="18:00", holidays=holidays)
               for h in set(hours)}
    stamps = [pd.Timestamp(t) for t in local]
    began = time.perf_counter()
    got = [stamps[i] + offsets[hours[i]] for i in range(len(stamps))]
    pandas_seconds = time.perf_counter() - began
    agree("pandas", [g.to_pydatetime().replace(tzinfo=MEXICO).astimezone(timezone.utc) for g in got])

    workday = businesstimedelta.WorkDayRule(start_time=__import__("datetime").time(9),
                                            end_time=__import__("datetime").time(18),
                                            working_days=[0, 1, 2, 3, 4])
    holiday_rule = businesstimedelta.HolidayRule(
        [datetime.strptime(d, "%Y-%m-%d").date() for d in holidays])
    rules = businesstimedelta.Rules([workday, holiday_rule])
    deltas = {h: businesstimedelta.BusinessTimeDelta(rules, hours=h) for h in set(hours)}
    began = time.perf_counter()
    got = [local[i] + deltas[hours[i]] for i in range(len(local))]
    btd_seconds = time.perf_counter() - began
    agree("businesstimedelta", [g.replace(tzinfo=MEXICO).astimezone(timezone.utc) for g in got])

    node_input = json.dumps({
        "holidays": holidays,
        "cases": [[t.strftime("%Y-%m-%dT%H:%M:%S"), h] for t, h in zip(local, hours)],
    })
    ran = subprocess.run(["node", "bench/planning_moment.js"], input=node_input, check=True,
                         capture_output=True, text=True, cwd=".",
                         env={**os.environ, "NODE_PATH": f"{node_dir}/node_modules", "TZ": "UTC"})
    moment = json.loads(ran.stdout)
    agree("moment-business-time",
          [datetime.fromisoformat(g).replace(tzinfo=MEXICO).astimezone(timezone.utc) for g in moment["due"]])

    per = lambda seconds, count: seconds / count * 1e6
    result = {
        "cases": n,
        "business_deadlines_planned_by_mesa": business_deadlines,
        "mesa_whole_process_seconds": mesa_seconds,
        "mesa_us_per_business_deadline": per(mesa_seconds, business_deadlines),
        "pandas_us_per_deadline": per(pandas_seconds, n),
        "businesstimedelta_us_per_deadline": per(btd_seconds, n),
        "moment_business_time_us_per_deadline": per(moment["seconds"], n),
        "all_agree_with_mesa": True,
    }
    result["mesa_vs_pandas"] = result["pandas_us_per_deadline"] / result["mesa_us_per_business_deadline"]
    with open(out, "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
