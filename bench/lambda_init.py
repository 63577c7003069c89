"""Each Lambda function's cold start, peak memory and size, against a local stand-in for
the Lambda Runtime API (the HTTP interface a custom runtime polls: `invocation/next`,
`invocation/{id}/response`, `invocation/{id}/error`, `init/error`).

For every function and every start: the bootstrap is started with the environment the
tests give the functions (the local AWS of `local-aws`), the time until it first asks for
an event is its init; it is then handed one real event (the fixtures of tests/fixtures, a
ticket submission for the HTTP API) and, once it has answered, its peak resident memory
(VmHWM) is read from /proc. Twice: with no published rules (the bundle built into the
function) and with a bundle published to the rules bucket (fetched from S3 at init).

    .venv/bin/python bench/lambda_init.py <target/lambda> <env-file> <fixtures> <rules> \
        <starts> <out.json>

The Runtime API stand-in is bench/lambda_stub.py; publishing uses boto3 from .venv.
BENCH_ONLY=<function> measures one function; BENCH_WRAP="perf record -g -o f" (or strace)
runs each bootstrap under a tool, to see where its init goes.
"""

import json
import os
import statistics
import sys
import uuid

from lambda_stub import Function, http_event, read_env_file

FUNCTIONS = {
    "http-api": None,  # a ticket submission, built below
    "intake-email": "ses-receipt.json",
    "outbox": "dynamodb-stream.json",
    "sla-sweep": "eventbridge-schedule.json",
    "mail-feedback": "ses-delivery-event.json",
}


def ticket_submission():
    """A customer's JSON ticket submission on the web form's API."""
    body = {
        "company": "Grupo Norte",
        "contact_name": "Luis Gómez",
        "email": f"cliente-{uuid.uuid4().hex[:8]}@norte.mx",
        "phone": "81 1234 5678",
        "support_type": "falla_servicio",
        "description": "Desde las 8 ningún checador de la planta registra entradas.",
        "idempotency_key": str(uuid.uuid4()),
    }
    return http_event("POST", "/tickets", json.dumps(body))


def publish_rules(env, rules_dir):
    """Publishes rules/ (one comment added, so it is not the built-in bundle) to the rules
    bucket as `mesa rules publish` would: one JSON object of path → text."""
    import boto3  # from .venv (tests/tools/requirements.txt)
    from botocore.config import Config

    files = {}
    for root, dirs, names in os.walk(rules_dir):
        # As Bundle::from_dir: hidden folders and the severity evaluation sets left out.
        dirs[:] = [
            d for d in dirs
            if not d.startswith(".")
            and os.path.relpath(os.path.join(root, d), rules_dir) != os.path.join("tests", "severity-eval")
        ]
        for name in names:
            if name.startswith("."):
                continue
            path = os.path.join(root, name)
            with open(path, encoding="utf-8") as f:
                files[os.path.relpath(path, rules_dir).replace(os.sep, "/")] = f.read()
    files["billing.rhai"] += "\n// Publicado para la medición.\n"
    s3 = boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name=env["AWS_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        config=Config(s3={"addressing_style": "path"}),
    )
    s3.put_object(
        Bucket=env["RULES_BUCKET"],
        Key=env.get("RULES_KEY", "rules/bundle.json"),
        Body=json.dumps(files).encode(),
    )


def cold_start(bootstrap, env, event, log):
    """One cold start: (init ms, its CPU ms, peak RSS MB after handling `event`)."""
    function = Function(bootstrap, env, log, os.environ.get("BENCH_WRAP", "").split())
    try:
        init_ms = function.wait_ready()
        status, body, _ = function.invoke(event)
        if status != "ok":
            raise SystemExit(f"{bootstrap}: the event failed: {body[:500]!r}")
        return init_ms, function.init_cpu_ms, function.peak_rss_mb()
    finally:
        function.stop()


def main():
    lambda_dir, env_file, fixtures, rules_dir, starts, out = sys.argv[1:7]
    starts = int(starts)
    base_env = read_env_file(env_file)
    results = []
    log = open(os.path.join(os.path.dirname(out) or ".", "lambda_init.log"), "w")
    for rules in ("built-in", "published"):
        env = dict(base_env)
        if rules == "built-in":
            env.pop("RULES_BUCKET", None)
        else:
            publish_rules(env, rules_dir)
        for name, fixture in FUNCTIONS.items():
            if os.environ.get("BENCH_ONLY") not in (None, "", name):
                continue
            bootstrap = os.path.join(lambda_dir, name, "bootstrap")
            env["AWS_LAMBDA_FUNCTION_NAME"] = name
            inits, cpus, rss = [], [], []
            for _ in range(starts):
                if fixture is None:
                    event = ticket_submission()
                else:
                    with open(os.path.join(fixtures, fixture), "rb") as f:
                        event = f.read()
                init_ms, cpu_ms, peak = cold_start(bootstrap, env, event, log)
                inits.append(init_ms)
                cpus.append(cpu_ms)
                rss.append(peak)
            inits.sort()
            row = {
                "function": name,
                "rules": rules,
                "starts": starts,
                "init_ms_median": round(statistics.median(inits), 1),
                "init_ms_max": round(inits[-1], 1),
                "init_cpu_ms_median": round(statistics.median(cpus), 1),
                "peak_rss_mb": round(max(rss), 1),
                "bootstrap_mb": round(os.path.getsize(bootstrap) / 1e6, 1),
            }
            results.append(row)
            print(
                f"{name:14} rules {rules:9}  init median {row['init_ms_median']:6.1f} ms"
                f" (max {row['init_ms_max']:6.1f}; CPU {row['init_cpu_ms_median']:5.1f})  peak RSS {row['peak_rss_mb']:5.1f} MB"
                f"  bootstrap {row['bootstrap_mb']:5.1f} MB",
                flush=True,
            )
    with open(out, "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
