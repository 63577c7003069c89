"""What one ticket costs on AWS, counted from what the functions actually ask of AWS.

The release bootstraps run warm against the Runtime API stand-in (bench/lambda_stub.py)
with the local AWS of `local-aws`, through a proxy that counts every AWS request by service
and operation. DynamoDB requests get `ReturnConsumedCapacity: TOTAL` added, so the read
and write units are the ones the emulator charges the way DynamoDB does (item sizes,
transactions at twice the units; a write refused by its condition is not counted). One ticket is taken through
its whole life as people would: submitted on the web form's API, acknowledged, opened by
staff, diagnosed, replied to, answered, closed, and the satisfaction survey answered; every
mail is sent by the outbox function, invoked with the records the table's stream would give
it under the template's filter (new pending outbox items, ten a batch), and its SES delivery
event handled by mail-feedback. Rewrites of items still pending (a claim, a failed send),
which the filter leaves out, are counted apart. The SLA sweep's cost per run is counted apart (it runs every minute).

    .venv/bin/python bench/aws_cost.py <target/lambda> <env-file> <out.json>

Prices: AWS list prices, us-east-1, on-demand, x86_64, as published in 2025 (DynamoDB
on-demand after its 1 November 2024 reduction); free tiers left out. Durations are
measured here against the emulators, which answer more slowly than AWS: the GB-seconds
are an overestimate.
"""

import http.client
import json
import math
import os
import sys
import threading
import time
import atexit
import email
import email.policy
import urllib.parse
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from lambda_stub import Function, eventbridge_event, http_event, read_env_file

PRICES_AS_OF = "2025 list prices, us-east-1, on-demand (free tiers left out)"
PRICES = {
    "lambda_request": 0.20 / 1e6,
    "lambda_gb_second": 0.0000166667,
    "dynamodb_write_unit": 0.625 / 1e6,
    "dynamodb_read_unit": 0.125 / 1e6,
    "s3_put_class": 0.005 / 1e3,  # PUT, COPY, POST, LIST
    "s3_get_class": 0.0004 / 1e3,  # GET, HEAD and the rest
    "ses_message": 0.10 / 1e3,
    "eventbridge_event": 1.00 / 1e6,  # custom events, per 64 KB chunk
    "scheduler_invocation": 1.00 / 1e6,
    "api_gateway_http_request": 1.00 / 1e6,
    "sns_publish": 0.50 / 1e6,
}
MEMORY_GB = 256 / 1024  # the template's MemorySize
SWEEPS_PER_MONTH = 60 * 24 * 30  # rate(1 minute)
STREAM_BATCH = 10  # the outbox trigger's BatchSize

DYNAMO_READS = {"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"}
DYNAMO_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}


class Counter:
    """AWS requests by phase of the ticket's life."""

    def __init__(self):
        self.lock = threading.Lock()
        self.phase = "setup"
        self.by_phase = {}
        self.ses_message_ids = []
        self.outbox_seen = set()
        self.stream_batches = []  # the outbox keys of each batch the stream would deliver

    def add(self, key, amount=1):
        with self.lock:
            phase = self.by_phase.setdefault(self.phase, {})
            phase[key] = phase.get(key, 0) + amount

    def take(self, phase):
        with self.lock:
            return self.by_phase.pop(phase, {})


def service_of(headers):
    auth = headers.get("Authorization", "")
    # Credential=AKID/20261127/us-east-1/dynamodb/aws4_request
    try:
        return auth.split("Credential=")[1].split(",")[0].split("/")[3]
    except IndexError:
        return "unknown"


def pending_outbox_keys(op, body):
    """The keys of the outbox items this write leaves pending."""
    items = []
    if op == "PutItem":
        items.append(body.get("Item", {}))
    elif op == "TransactWriteItems":
        items += [t["Put"]["Item"] for t in body.get("TransactItems", []) if "Put" in t]
    elif op == "BatchWriteItem":
        for requests in body.get("RequestItems", {}).values():
            items += [r["PutRequest"]["Item"] for r in requests if "PutRequest" in r]
    return [
        i["pk"]["S"]
        for i in items
        if i.get("kind", {}).get("S") == "outbox" and i.get("status", {}).get("S") == "pending"
    ]


def proxy(upstream, counter):
    target = urllib.parse.urlparse(upstream)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def forward(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            service = service_of(self.headers)
            op = None
            request_json = None
            if service == "dynamodb":
                op = self.headers.get("X-Amz-Target", "").split(".")[-1]
                request_json = json.loads(body or b"{}")
                if op in DYNAMO_READS | DYNAMO_WRITES:
                    request_json["ReturnConsumedCapacity"] = "TOTAL"
                    body = json.dumps(request_json).encode()
            headers = {k: v for k, v in self.headers.items() if k.lower() != "content-length"}
            headers["Content-Length"] = str(len(body))
            conn = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
            conn.request(self.command, self.path, body=body, headers=headers)
            response = conn.getresponse()
            answer = response.read()
            self.count(service, op, request_json, body, response.status, answer)
            self.send_response(response.status)
            for k, v in response.getheaders():
                if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
            conn.close()

        def count(self, service, op, request_json, body, status, answer):
            if service == "dynamodb":
                counter.add(f"dynamodb {op}")
                if status == 200 and answer:
                    consumed = json.loads(answer).get("ConsumedCapacity")
                    units = sum(
                        c.get("CapacityUnits", 0)
                        for c in (consumed if isinstance(consumed, list) else [consumed or {}])
                    )
                    kind = "read" if op in DYNAMO_READS else "write"
                    counter.add(f"dynamodb {kind} units", units)
                    counter.add(f"dynamodb {op} units", units)
                if status == 200 and op in DYNAMO_WRITES:
                    # The stream's INSERT records pass the filter; a rewrite of an item still
                    # pending is a MODIFY, which it leaves out.
                    with counter.lock:
                        keys = pending_outbox_keys(op, request_json)
                        new = [k for k in keys if k not in counter.outbox_seen]
                        counter.outbox_seen.update(keys)
                        batches = [new[i:i + STREAM_BATCH] for i in range(0, len(new), STREAM_BATCH)]
                        counter.stream_batches += batches
                    if batches:
                        counter.add("outbox stream batches", len(batches))
                    if len(keys) > len(new):
                        counter.add("pending rewrites the filter leaves out", 1)
            elif service == "s3":
                kind = "put class" if self.command in ("PUT", "POST") else "get class"
                counter.add(f"s3 {kind}")
            elif service == "ses":
                counter.add("ses " + self.path.split("?")[0].rstrip("/").split("/")[-1])
                if self.path.startswith("/v2/email/outbound-emails") and status == 200:
                    counter.add("ses messages")
                    message_id = json.loads(answer).get("MessageId")
                    if message_id:
                        with counter.lock:
                            counter.ses_message_ids.append(message_id)
            elif service == "events":
                entries = len(json.loads(body or b"{}").get("Entries", []))
                counter.add("eventbridge events", entries)
            elif service == "sns":
                counter.add("sns publish")
            else:
                counter.add(f"{service} {self.command}")

        do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = forward

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


def delivery_event(message_id, to):
    return eventbridge_event(
        "Email Delivered",
        "aws.ses",
        "2026-11-27T16:00:05Z",
        {
            "eventType": "Delivery",
            "mail": {
                "timestamp": "2026-11-27T16:00:03.000Z",
                "messageId": message_id,
                "destination": [to],
            },
            "delivery": {
                "timestamp": "2026-11-27T16:00:05.000Z",
                "recipients": [to],
                "processingTimeMillis": 900,
                "smtpResponse": "250 2.0.0 OK",
            },
        },
    )


def main():
    lambda_dir, env_file, out = sys.argv[1:4]
    env = read_env_file(env_file)
    counter = Counter()
    moto = env["AWS_ENDPOINT_URL"]
    # One ticket's life on an emulator that already holds others would count their mail too.
    already_sent = len(sent_mails(moto))
    if already_sent:
        raise SystemExit(
            f"this local AWS has already sent {already_sent} mails: the cost model needs a "
            "fresh one (restart local-aws; bench/run starts its own)"
        )
    env["AWS_ENDPOINT_URL"] = proxy(env["AWS_ENDPOINT_URL"], counter)
    env["AWS_ENDPOINT_URL_DYNAMODB"] = proxy(env["AWS_ENDPOINT_URL_DYNAMODB"], counter)
    env.pop("RULES_BUCKET", None)  # the rules' fetch is a cold start's, not a ticket's
    log = open(os.path.join(os.path.dirname(out) or ".", "aws_cost.log"), "w")
    functions = {}
    # Stopped however the run ends (a failed step exits): no bootstrap is left running.
    atexit.register(lambda: [f.stop() for f in functions.values()])
    for name in ("http-api", "outbox", "mail-feedback", "sla-sweep"):
        functions[name] = Function(
            os.path.join(lambda_dir, name, "bootstrap"),
            dict(env, AWS_LAMBDA_FUNCTION_NAME=name),
            log,
        )
        functions[name].wait_ready()
    invocations = {}
    durations = {}

    def invoke(phase, name, event):
        status, body, ms = functions[name].invoke(event)
        if status != "ok":
            raise SystemExit(f"{phase}: {name} failed: {body[:400]!r}")
        invocations.setdefault(phase, {}).setdefault(name, 0)
        invocations[phase][name] += 1
        durations.setdefault(phase, 0.0)
        durations[phase] += math.ceil(ms)  # Lambda bills by the millisecond
        return json.loads(body)

    def http(phase, method, path, body=None, content_type="application/json", staff=None):
        answer = invoke(phase, "http-api", http_event(method, path, body, content_type, staff))
        if answer.get("statusCode", 500) >= 400:
            raise SystemExit(f"{phase}: {method} {path} → {answer.get('statusCode')}: {answer.get('body', '')[:400]}")
        return answer

    def deliver(phase):
        """The table's stream: the outbox function once per batch of new pending items
        (those its own writes add too), then each sent mail's delivery event."""
        for _ in range(50):
            with counter.lock:
                if not counter.stream_batches:
                    break
                batch = counter.stream_batches.pop(0)
            invoke(phase, "outbox", stream_event(batch))
        with counter.lock:
            sent, counter.ses_message_ids = counter.ses_message_ids, []
        for message_id in sent:
            invoke(phase, "mail-feedback", delivery_event(message_id, customer))

    phases = []

    def step(phase, action):
        counter.phase = phase
        result = action(phase)
        deliver(phase)
        phases.append(phase)
        return result

    customer = f"cliente-{uuid.uuid4().hex[:8]}@norte.mx"
    submission = {
        "company": "Grupo Norte",
        "contact_name": "Luis Gómez",
        # An address of its own: the acknowledgement cap per address is not what is counted.
        "email": customer,
        "phone": "81 1234 5678",
        "support_type": "falla_servicio",
        # A typical report, not an outage (a severity-1 page would add an SNS message).
        "description": "El reporte semanal de asistencias sale con horas extra duplicadas "
        "para dos empleados de la sucursal Monterrey.",
        "idempotency_key": str(uuid.uuid4()),
    }
    created = step(
        "intake (form API) and acknowledgement",
        lambda p: http(p, "POST", "/tickets", json.dumps(submission)),
    )
    folio = json.loads(created["body"])["folio"]
    staff = "luisa@ingressio.com"

    def act(action):
        return lambda p: http(
            p, "POST", f"/staff/tickets/{folio}/actions", json.dumps(action), staff=staff
        )

    step("staff opens the ticket", lambda p: http(p, "GET", f"/staff/tickets/{folio}", staff=staff))
    step("staff diagnoses", act({"action": "diagnose", "summary": "El servidor local perdió la hora.", "cause": "infrastructure"}))
    step("staff replies", act({"action": "reply", "message": "Estamos revisando la sincronización."}))
    step("staff answers", act({"action": "answer", "message": "Corregimos la hora; los lectores ya registran."}))
    step("staff closes (survey sent)", act({"action": "close", "note": "Resuelto"}))

    def survey(phase):
        link = None
        for line in sent_mail_lines(moto):
            if "/csat/" in line:
                link = line[line.index("/csat/"):].split()[0]
                break
        if link is None:
            raise SystemExit("no survey link in the sent mail")
        http(phase, "GET", link, content_type="text/html")
        http(phase, "POST", link, "satisfied=si&comment=Muy+bien", "application/x-www-form-urlencoded")

    step("customer answers the survey", survey)

    counter.phase = "sla sweep (one run)"
    invoke("sla sweep (one run)", "sla-sweep", sweep_event())
    sweep = counter.take("sla sweep (one run)")

    report = summarise(phases, counter, invocations, durations, sweep)
    with open(out, "w") as f:
        json.dump(report, f, indent=1)


def sent_mails(moto):
    """Every mail sent, as raw text, oldest first (moto keeps what SES was given)."""
    data = json.loads(urllib.request.urlopen(f"{moto}/moto-api/data.json").read())
    return [m.get("raw_data", "") for m in data.get("ses", {}).get("RawMessage", [])]


def sent_mail_lines(moto):
    """The text lines of every mail sent, newest first."""
    lines = []
    for raw in reversed(sent_mails(moto)):
        message = email.message_from_string(raw, policy=email.policy.default)
        body = message.get_body(preferencelist=("plain",))
        lines += (body.get_content() if body else "").splitlines()
    return lines


def stream_event(keys):
    """DynamoDB Streams records (NEW_IMAGE) of new pending outbox items, as Lambda's
    event source mapping hands them to the function."""
    records = []
    for n, pk in enumerate(keys):
        image = {
            "pk": {"S": pk},
            "sk": {"S": "OUTBOX"},
            "kind": {"S": "outbox"},
            "status": {"S": "pending"},
        }
        records.append(
            {
                "eventID": uuid.uuid4().hex,
                "eventName": "INSERT",
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": "us-east-1",
                "dynamodb": {
                    "ApproximateCreationDateTime": int(time.time()),
                    "Keys": {"pk": image["pk"], "sk": image["sk"]},
                    "NewImage": image,
                    "SequenceNumber": str(1000 + n),
                    "SizeBytes": 120,
                    "StreamViewType": "NEW_IMAGE",
                },
                "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/mesa/stream/2026-01-01T00:00:00.000",
            }
        )
    return json.dumps({"Records": records}).encode()


def sweep_event():
    return eventbridge_event("Scheduled Event", "aws.scheduler", "2026-11-27T16:00:00Z", {})


def charges_of(counts, invocations, billed_ms):
    """The cost of each kind of charge, in dollars."""
    c = PRICES
    return {
        "dynamodb writes": counts.get("dynamodb write units", 0) * c["dynamodb_write_unit"],
        "dynamodb reads": counts.get("dynamodb read units", 0) * c["dynamodb_read_unit"],
        "ses": counts.get("ses messages", 0) * c["ses_message"],
        "lambda requests": sum(invocations.values()) * c["lambda_request"],
        "lambda compute": billed_ms / 1000 * MEMORY_GB * c["lambda_gb_second"],
        "api gateway": invocations.get("http-api", 0) * c["api_gateway_http_request"],
        "eventbridge": counts.get("eventbridge events", 0) * c["eventbridge_event"],
        "sns": counts.get("sns publish", 0) * c["sns_publish"],
        "s3": counts.get("s3 put class", 0) * c["s3_put_class"]
        + counts.get("s3 get class", 0) * c["s3_get_class"],
    }


def cost_of(counts, invocations, billed_ms):
    return sum(charges_of(counts, invocations, billed_ms).values())


def summarise(phases, counter, invocations, durations, sweep):
    rows = []
    total_counts, total_inv, total_ms = {}, {}, 0.0
    for phase in phases:
        counts = counter.by_phase.get(phase, {})
        inv = invocations.get(phase, {})
        ms = durations.get(phase, 0.0)
        rows.append({"phase": phase, "counts": counts, "invocations": inv, "billed_ms": ms,
                     "cost_usd": cost_of(counts, inv, ms)})
        for k, v in counts.items():
            total_counts[k] = total_counts.get(k, 0) + v
        for k, v in inv.items():
            total_inv[k] = total_inv.get(k, 0) + v
        total_ms += ms
    per_ticket = cost_of(total_counts, total_inv, total_ms)
    sweep_inv = invocations.get("sla sweep (one run)", {})
    per_sweep = cost_of(sweep, sweep_inv, durations.get("sla sweep (one run)", 0.0)) + PRICES[
        "scheduler_invocation"
    ]
    fixed = per_sweep * SWEEPS_PER_MONTH
    print(f"\nOne ticket's life ({PRICES_AS_OF}):")
    for r in rows:
        c = r["counts"]
        print(
            f"  {r['phase']:42} lambda {sum(r['invocations'].values()):2}  "
            f"WCU {c.get('dynamodb write units', 0):5.1f}  RCU {c.get('dynamodb read units', 0):5.1f}  "
            f"SES {c.get('ses messages', 0):.0f}  events {c.get('eventbridge events', 0):.0f}  "
            f"S3 {c.get('s3 put class', 0) + c.get('s3 get class', 0):.0f}  "
            f"${r['cost_usd'] * 1e6:8.1f} per million"
        )
    print(f"  {'total per ticket':42} ${per_ticket:.6f}")
    rewrites = total_counts.get("pending rewrites the filter leaves out", 0)
    print(f"  writes of items still pending, left out by the stream filter: {rewrites:.0f}"
          " (each was an outbox invocation before the filter took only new items)")
    print(
        f"  SLA sweep: per run WCU {sweep.get('dynamodb write units', 0):.1f} RCU "
        f"{sweep.get('dynamodb read units', 0):.1f}; {SWEEPS_PER_MONTH} runs a month: ${fixed:.2f}"
    )
    monthly = {n: round(per_ticket * n + fixed, 2) for n in (1_000, 100_000, 1_000_000)}
    for n, usd in monthly.items():
        print(f"  {n:>9,} tickets a month: ${usd:,.2f}")
    # What dominates: the cost of each kind of charge over the whole life.
    shares = charges_of(total_counts, total_inv, total_ms)
    print("  per ticket by charge: " + ", ".join(
        f"{k} {v / per_ticket:.0%}" for k, v in sorted(shares.items(), key=lambda kv: -kv[1])
    ))
    return {
        "prices": PRICES,
        "prices_as_of": PRICES_AS_OF,
        "memory_gb": MEMORY_GB,
        "phases": rows,
        "per_ticket": {"counts": total_counts, "invocations": total_inv, "billed_ms": total_ms,
                       "cost_usd": per_ticket, "by_charge_usd": shares},
        "sweep_per_run": {"counts": sweep, "cost_usd": per_sweep, "runs_per_month": SWEEPS_PER_MONTH,
                          "monthly_usd": fixed},
        "monthly_usd": monthly,
    }


if __name__ == "__main__":
    main()
