"""A local stand-in for the Lambda Runtime API, the HTTP interface a custom runtime polls
(`invocation/next`, `invocation/{id}/response`, `invocation/{id}/error`, `init/error`),
with one function's bootstrap running against it. Standard library only.

    f = Function(bootstrap, env)      # starts the process
    f.wait_ready()                    # its init: until it first asks for an event
    status, body, ms = f.invoke(event_bytes)
    f.peak_rss_mb(); f.stop()

And the events the functions take: http_event (API Gateway), eventbridge_event.
"""

import json
import os
import queue
import subprocess
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:bench"


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        # A stopped function's connections end abruptly; that is not news.
        pass


class Function:
    def __init__(self, bootstrap, env, log=None, wrap=()):
        self.events = queue.Queue()
        self.results = {}
        self.answered = threading.Condition()
        self.first_poll = None
        self.init_cpu_ms = None
        self.ready = threading.Event()
        self.init_error = None
        self.server = self._serve()
        env = dict(env)
        env.update(
            {
                "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{self.server.server_address[1]}",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/bench",
                "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
            }
        )
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            list(wrap) + [bootstrap],
            env=env,
            stdout=log or subprocess.DEVNULL,
            stderr=log or subprocess.DEVNULL,
        )

    def _serve(self):
        function = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def reply(self, status, body=b"", headers=()):
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if not self.path.endswith("/runtime/invocation/next"):
                    return self.reply(404)
                if function.first_poll is None:
                    function.first_poll = time.monotonic()
                    function.init_cpu_ms = function.cpu_ms()
                    function.ready.set()
                request_id, event = function.events.get()
                function.results[request_id] = {"handed": time.monotonic()}
                deadline = int(time.time() * 1000) + 60_000
                self.reply(
                    200,
                    event,
                    [
                        ("Lambda-Runtime-Aws-Request-Id", request_id),
                        ("Lambda-Runtime-Deadline-Ms", str(deadline)),
                        ("Lambda-Runtime-Invoked-Function-Arn", FUNCTION_ARN),
                        ("Lambda-Runtime-Trace-Id", "Root=1-5759e988-bd862e3fe1be46a994272793"),
                        ("Content-Type", "application/json"),
                    ],
                )

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = self.path.split("/")
                if self.path.endswith("/init/error"):
                    function.init_error = body.decode(errors="replace")
                    function.ready.set()
                    return self.reply(202, b'{"status":"OK"}')
                if len(parts) < 2 or parts[-1] not in ("response", "error"):
                    return self.reply(404)
                request_id = parts[-2]
                with function.answered:
                    result = function.results.setdefault(request_id, {})
                    result["done"] = time.monotonic()
                    result["status"] = "ok" if parts[-1] == "response" else "error"
                    result["body"] = body
                    function.answered.notify_all()
                self.reply(202, b'{"status":"OK"}')

        server = QuietServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server

    def wait_ready(self, timeout=60):
        """The init time in milliseconds: from the process's start to its first poll."""
        deadline = time.monotonic() + timeout
        while not self.ready.wait(0.05):
            if self.proc.poll() is not None:
                raise RuntimeError(f"the function exited ({self.proc.returncode}) during init")
            if time.monotonic() > deadline:
                raise RuntimeError("the function never asked for an event")
        if self.init_error is not None:
            raise RuntimeError(f"init failed: {self.init_error}")
        return (self.first_poll - self.started) * 1000

    def invoke(self, event, timeout=60):
        """Hands `event` (bytes) to the function: (status, body bytes, duration in ms)."""
        request_id = str(uuid.uuid4())
        self.events.put((request_id, event))
        deadline = time.monotonic() + timeout
        with self.answered:
            while "status" not in self.results.get(request_id, {}):
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise RuntimeError(f"no answer to the event (exit {self.proc.poll()})")
                self.answered.wait(min(left, 0.5))
        r = self.results.pop(request_id)
        return r["status"], r["body"], (r["done"] - r["handed"]) * 1000

    def cpu_ms(self):
        """CPU time the process has used so far, summed over its live threads (ns in
        schedstat; /proc/PID/stat counts in 10 ms ticks): steadier than wall time on a shared
        machine, and what a fraction of a vCPU pays. Under BENCH_WRAP (perf, strace, for
        diagnosis) this and the RSS are the wrapper's."""
        total = 0
        for task in os.listdir(f"/proc/{self.proc.pid}/task"):
            try:
                with open(f"/proc/{self.proc.pid}/task/{task}/schedstat") as f:
                    total += int(f.read().split()[0])
            except (FileNotFoundError, ProcessLookupError):
                pass
        return total / 1e6

    def peak_rss_mb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self):
        # TERM first, so a wrapper (perf, strace) can write what it measured.
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.server.shutdown()
        self.server.server_close()


def read_env_file(path):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    with open(path) as f:
        for line in f:
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                env[k] = v
    env.setdefault("AWS_REGION", "us-east-1")
    env["RUST_LOG"] = "warn"
    return env


def http_event(method, path, body=None, content_type="application/json", staff=None):
    """API Gateway HTTP API (payload 2.0); `staff` as the JWT authorizer would name them."""
    path_only, _, query = path.partition("?")
    context = {
        "accountId": "123456789012",
        "apiId": "abc123",
        "domainName": "soporte.ingressio.example",
        "domainPrefix": "soporte",
        "http": {
            "method": method,
            "path": path_only,
            "protocol": "HTTP/1.1",
            "sourceIp": "192.0.2.1",
            "userAgent": "Mozilla/5.0",
        },
        "requestId": str(uuid.uuid4()),
        "routeKey": "$default",
        "stage": "$default",
        "time": "27/Nov/2026:16:00:00 +0000",
        "timeEpoch": int(time.time() * 1000),
    }
    if staff:
        context["authorizer"] = {
            "jwt": {"claims": {"email": staff, "token_use": "id"}, "scopes": None}
        }
    headers = {"host": "soporte.ingressio.example"}
    if body is not None:
        headers["content-type"] = content_type
    event = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path_only,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": context,
        "isBase64Encoded": False,
    }
    if body is not None:
        event["body"] = body
    return json.dumps(event).encode()


def eventbridge_event(detail_type, source, event_time, detail):
    """An EventBridge event as a rule's target receives it."""
    return json.dumps(
        {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": detail_type,
            "source": source,
            "account": "123456789012",
            "time": event_time,
            "region": "us-east-1",
            "resources": [],
            "detail": detail,
        }
    ).encode()
