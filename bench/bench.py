"""make bench: every function and a bare baseline, measured side by side in one run.

Each release binary runs against this script's own minimal Lambda Runtime API (next /
response / error), so nothing else is timed, and talks to the local DynamoDB emulator
through a counting proxy, so DynamoDB calls are counted, not read off the code. The
emulator is AWS's DynamoDB Local (Java, in memory); moto serves EventBridge.

Figures per binary (target/bench/results.json):
  binary_bytes   stripped release size, host target (binary_bytes_arm64 when built)
  init_ms        median over COLD_STARTS spawns: process start -> its first `next`
                 (the spawns of all binaries interleaved, round by round)
  first_ms       the first invocation after init (includes connecting to DynamoDB)
  warm_p50_ms, warm_p99_ms   over WARM invocations, realistic data (5 devices, 20 sessions)
  warm_cpu_ms    CPU time of the binary (all its threads) per warm invocation: its own
                 work, without the emulator's time nor this harness's
  dynamodb_calls DynamoDB requests made by the first invocation (the full path)
  read_units, write_units   the capacity units DynamoDB Local reported for them
  max_rss_kb     peak resident memory of the process (VmHWM, read before it is killed)
The stream consumer (publish-events) is measured the same way, twice: with a batch of
10 and of 100 records (BENCH_STREAM_BATCHES), each an `INSERT` of a security event
exactly as the store wrote it during this run (read back from the table's stream,
shaped and filtered as Lambda's event source mapping does: scripts/stream_pump.py),
its target moto's EventBridge behind the same counting proxy. Its rows add `records`,
`eventbridge_calls` (PutEvents requests of the first invocation) and the times per
record.
The account-size axis (BENCH_ACCOUNTS, default "1x5,20x50,50x100": live sessions x
devices) runs every route a signed-in user calls, the cascades once each, and the
authorizer on an account of each size (seeded by copying a real sign-in's items, on a
table of its own), BENCH_ACCOUNT_WARM (50) warm invocations each: DynamoDB calls, read
and write units (the proxy asks each request for its consumed capacity,
ReturnConsumedCapacity TOTAL, and sums what DynamoDB Local reports), own time.
The DPoP axis (results["dpop"]): GET /devices, the session heartbeat and the
authorizer for one session bound to a device key (a fresh ES256 proof per invocation,
scripts/dpop_proof.py) beside the same calls of an unbound session, WARM invocations
each through account_route: calls, read and write units (the bound ones add the
proof's single-use memory), own time; `proof_own_ms` is bound less unbound own time:
the proof's verification and its write's client side. `verification` is the check
alone, in process (shared/examples/proof_cost.rs): microseconds per proof beside
microseconds per HS256 access token, and their ratio.
The emulator is not DynamoDB (another process on the same two cores, no network):
compare each function with the baseline, which pays the same cost for its one call. The time each binary waited on the emulator during init and warm
invocations is kept apart (emulator_init_ms, emulator_warm_p50_ms) so that the binaries'
own times can be compared too.
"""

import copy
import hashlib
import http.client
import http.server
import json
import os
import queue
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from mint_token import mint  # noqa: E402
import dpop_proof  # noqa: E402

TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
RELEASE = TARGET / "release"
OUT = TARGET / "bench"
COLD_STARTS = int(os.environ.get("BENCH_COLD_STARTS", 20))
WARM = int(os.environ.get("BENCH_WARM", 300))
SCALE = [int(n) for n in os.environ.get("BENCH_SCALE", "1,100,1000").split(",")]
# Records per invocation of the stream consumer: a small batch, and a full one (the
# template's BatchSize).
STREAM_BATCHES = [int(n) for n in os.environ.get("BENCH_STREAM_BATCHES", "10,100").split(",")]
# The account-size axis: "<live sessions>x<devices>" per account. 1, 20 and 50 sessions
# (50: MAX_ACTIVE_SESSIONS_PER_USER's default); 5, 50 and 100 devices (100: the largest
# device limit, MAX_DEVICES_PER_USER). Fewer warm invocations than the main table.
ACCOUNTS = [tuple(int(n) for n in size.split("x"))
            for size in os.environ.get("BENCH_ACCOUNTS", "1x5,20x50,50x100").split(",") if size]
ACCOUNT_WARM = int(os.environ.get("BENCH_ACCOUNT_WARM", 50))
# The sweep axis: revoked sessions a sign-in loop left in one account (each sign-in past
# the cap evicts one), read before and after the sign-ins that sweep them (25 each).
SWEPT = int(os.environ.get("BENCH_SWEPT", 500))
TABLE = "flashback-sessions-bench"
SECRET = "bench-secret-bench-secret-0123456789abcdef"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Without it, keep-alive answers wait on delayed ACKs (~40 ms each).
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def read_body(self):
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a killed function leaves a broken connection behind: expected


class RuntimeApi(Server):
    """The Lambda Runtime API, as much of it as a function uses."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), RuntimeHandler)
        self.events = queue.Queue()
        self.answers = queue.Queue()
        self.first_next = None
        self.closed = False
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def address(self):
        return f"127.0.0.1:{self.server_address[1]}"

    def invoke(self, event):
        """Queues one event and waits for its answer: (seconds, status code, body)."""
        started = time.perf_counter()
        self.events.put((str(uuid.uuid4()), event))
        kind, body = self.answers.get(timeout=60)
        elapsed = time.perf_counter() - started
        if kind != "response":
            raise RuntimeError(f"function error: {body[:300]!r}")
        answer = json.loads(body)
        if isinstance(answer, dict) and "batchItemFailures" in answer:
            # The stream consumer: a partial-batch response stands in for a status.
            failures = answer["batchItemFailures"]
            status = f"retry from {failures[0]['itemIdentifier']}" if failures else "all published"
            return elapsed, status, None
        # An authorizer answers no HTTP status: its decision stands in for it.
        return elapsed, answer.get("statusCode", answer.get("isAuthorized")), answer.get("body")

    def close(self):
        self.closed = True
        self.shutdown()
        self.server_close()


class RuntimeHandler(Handler):
    def do_GET(self):
        api = self.server
        if not self.path.endswith("/runtime/invocation/next"):
            return self.reply(404)
        if api.first_next is None:
            api.first_next = time.perf_counter()
        while not api.closed:
            try:
                request_id, event = api.events.get(timeout=0.05)
            except queue.Empty:
                continue
            deadline = int(time.time() * 1000) + 30_000
            return self.reply(200, json.dumps(event).encode(), [
                ("Content-Type", "application/json"),
                ("Lambda-Runtime-Aws-Request-Id", request_id),
                ("Lambda-Runtime-Deadline-Ms", str(deadline)),
                ("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:000000000000:function:bench"),
                ("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000"),
            ])

    def do_POST(self):
        body = self.read_body()
        kind = "response" if self.path.endswith("/response") else "error"
        self.reply(202)
        self.server.answers.put((kind, body))


class CountingProxy(Server):
    """Forwards DynamoDB requests to DynamoDB Local and EventBridge requests to moto,
    counting them."""

    def __init__(self, dynamodb_port, moto_port):
        super().__init__(("127.0.0.1", 0), ProxyHandler)
        self.upstream_ports = {"dynamodb": dynamodb_port, "eventbridge": moto_port}
        self.count = 0
        self.intervals = []
        self.services = {}
        self.units = {"read": 0.0, "write": 0.0}
        self.lock = threading.Lock()
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def take(self):
        """Requests forwarded since the last take, seconds spent waiting on at least
        one of them, the requests per service ({"dynamodb": n, "eventbridge": n}) and
        the DynamoDB capacity units the emulator reported ({"read": u, "write": u})."""
        with self.lock:
            taken = (self.count, covered(self.intervals), self.services, self.units)
            self.count, self.intervals, self.services = 0, [], {}
            self.units = {"read": 0.0, "write": 0.0}
            return taken


def covered(intervals):
    """Seconds during which at least one request was waiting: requests a binary sends
    at once (a route reading two partitions concurrently) are not counted twice."""
    total, end = 0.0, None
    for start, stop in sorted(intervals):
        if end is None or start > end:
            total += stop - start
            end = stop
        elif stop > end:
            total += stop - end
            end = stop
    return total


# DynamoDB operations that take ReturnConsumedCapacity, and which units they consume.
# A transaction's ConditionCheck is a write unit, as DynamoDB bills it.
CAPACITY_OPERATIONS = {
    "GetItem": "read", "BatchGetItem": "read", "Query": "read", "Scan": "read",
    "TransactGetItems": "read",
    "PutItem": "write", "UpdateItem": "write", "DeleteItem": "write",
    "BatchWriteItem": "write", "TransactWriteItems": "write",
}


def with_consumed_capacity(body):
    """The request body asking for the total consumed capacity (DynamoDB Local
    computes it as DynamoDB would; it does not check the request's signature)."""
    try:
        request = json.loads(body)
    except ValueError:
        return body
    if request.get("ReturnConsumedCapacity", "NONE") == "NONE":
        request["ReturnConsumedCapacity"] = "TOTAL"
    return json.dumps(request).encode()


def consumed_units(data):
    """The capacity units an answer reports (`ConsumedCapacity`: one object, or a list
    of them for batches and transactions); 0 for an answer without (an error: a
    refused condition or a cancelled transaction reports none, though DynamoDB bills
    it)."""
    try:
        consumed = json.loads(data).get("ConsumedCapacity")
    except (ValueError, AttributeError):
        return 0.0
    if isinstance(consumed, dict):
        consumed = [consumed]
    return sum(float(c.get("CapacityUnits", 0)) for c in consumed or [])


class ProxyHandler(Handler):
    def do_POST(self):
        body = self.read_body()
        # X-Amz-Target: DynamoDB_20120810.Query, AWSEvents.PutEvents, …
        target, _, operation = self.headers.get("X-Amz-Target", "").partition(".")
        service = {"AWSEvents": "eventbridge"}.get(target, "dynamodb" if target.startswith("DynamoDB") else target)
        unit = CAPACITY_OPERATIONS.get(operation) if service == "dynamodb" else None
        if unit:
            body = with_consumed_capacity(body)
        started = time.perf_counter()
        upstream = http.client.HTTPConnection("127.0.0.1", self.server.upstream_ports[service], timeout=60)
        upstream.connect()
        upstream.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # Content-Length too: http.client sets it for the (possibly rewritten) body.
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection", "content-length")}
        upstream.request("POST", self.path, body=body, headers=headers)
        response = upstream.getresponse()
        data = response.read()
        upstream.close()
        with self.server.lock:
            self.server.count += 1
            self.server.intervals.append((started, time.perf_counter()))
            self.server.services[service] = self.server.services.get(service, 0) + 1
            if unit and response.status == 200:
                self.server.units[unit] += consumed_units(data)
        keep = [(k, v) for k, v in response.getheaders() if k.lower() not in ("content-length", "connection", "transfer-encoding")]
        self.reply(response.status, data, keep)


class Function:
    """One spawned binary with its own Runtime API."""

    def __init__(self, name, env):
        self.api = RuntimeApi()
        started = time.perf_counter()
        self.process = subprocess.Popen(
            [str(RELEASE / name)],
            env={
                **env,
                "AWS_LAMBDA_RUNTIME_API": self.api.address,
                "AWS_LAMBDA_FUNCTION_NAME": name,
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
                "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
                "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
            },
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        while self.api.first_next is None:
            if self.process.poll() is not None:
                raise RuntimeError(f"{name} exited during init ({self.process.returncode})")
            time.sleep(0.0002)
        self.init_ms = (self.api.first_next - started) * 1e3

    def stop(self):
        """Ends the process; returns its peak RSS in KiB: the high-water mark of its own
        memory (VmHWM), read just before the kill. Not wait4's ru_maxrss: on Linux that
        keeps the high-water mark of the memory the child had before exec, a copy of
        this Python process's (~22 MB, ~80 MB once boto3 and moto are imported), so it
        read the bench's size rather than the binary's."""
        peak = None
        try:
            with open(f"/proc/{self.process.pid}/status") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        peak = int(line.split()[1])
        except OSError:
            pass
        self.process.send_signal(signal.SIGKILL)
        _, _, usage = os.wait4(self.process.pid, 0)
        self.api.close()
        return peak if peak is not None else usage.ru_maxrss


def cpu_ns(pid):
    """CPU time the process's threads have run so far, in nanoseconds (the first field
    of each /proc/<pid>/task/*/schedstat); None where there is no such file."""
    total = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as stat:
                total += int(stat.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass  # a thread that ended meanwhile
    return total


def event(name, token, path_id=None, body=None, query=None):
    source = "device-heartbeat" if name == "device-heartbeat" else name
    e = json.loads((ROOT / "events" / f"{source}.json").read_text())
    e["headers"]["authorization"] = f"Bearer {token}"
    if path_id is not None:
        route = e["routeKey"].split(" ", 1)[1]
        e["pathParameters"] = {"id": path_id}
        e["rawPath"] = e["requestContext"]["http"]["path"] = route.replace("{id}", path_id)
    if body is not None:
        e["body"] = json.dumps(body)
    if query:
        e["queryStringParameters"] = query
        e["rawQueryString"] = "&".join(f"{k}={v}" for k, v in query.items())
    return e


def authorizer_event(token):
    """An HTTP API (payload format 2.0) authorizer event for a call carrying `token`:
    what API Gateway invokes the authorizer with, not an HTTP event."""
    e = json.loads((ROOT / "events" / "authorize-http-api.json").read_text())
    e["headers"]["authorization"] = e["identitySource"][0] = f"Bearer {token}"
    return e


def proved(e, key, token):
    """Event `e` with a fresh DPoP proof by `key` for its method and URL (the
    events' host: no PUBLIC_BASE_URL here)."""
    method = e["requestContext"]["http"]["method"]
    url = f"https://{e['requestContext']['domainName']}{e['rawPath']}"
    e["headers"]["dpop"] = dpop_proof.proof(key, method, url, token)
    return e


def stream_batch(records, size):
    """`size` of the stream's security-event records, as Lambda would batch them (in
    stream order), mixing the event types: one of each type in turn (sign-ins, trust,
    untrust, removal, revocations…) until the batch is full."""
    by_type = {}
    for record in records:
        by_type.setdefault(record["dynamodb"]["NewImage"]["type"]["S"], []).append(record)
    queues = [list(reversed(group)) for group in by_type.values()]
    chosen = []
    while len(chosen) < size and any(queues):
        for queue_ in queues:
            if queue_ and len(chosen) < size:
                chosen.append(queue_.pop())
    chosen.sort(key=lambda r: int(r["dynamodb"]["SequenceNumber"]))
    # Fewer events than the batch (a short run, BENCH_WARM small): copies of them under
    # new ids, after them in the stream.
    last = int(chosen[-1]["dynamodb"]["SequenceNumber"]) if chosen else 0
    for i in range(size - len(chosen)):
        chosen.append(copy_record(chosen[i % len(chosen)], last + 1 + i))
    return {"Records": chosen}


def copy_record(record, sequence):
    """A security-event record as another event would be: new event id, stream id and
    sequence number."""
    record = copy.deepcopy(record)
    event_id = uuid.uuid4().hex
    change = record["dynamodb"]
    millis = change["NewImage"]["SK"]["S"].split("#")[0]
    change["NewImage"]["eventId"]["S"] = event_id
    change["NewImage"]["SK"]["S"] = change["Keys"]["SK"]["S"] = f"{millis}#{event_id}"
    change["SequenceNumber"] = str(sequence)
    record["eventID"] = uuid.uuid4().hex
    return record


class Bench:
    def __init__(self):
        self.emulator_port, moto_port = free_port(), free_port()
        self.emulators = [
            subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for command in (
                ["scripts/dynamodb-local/run.sh", str(self.emulator_port)],
                [str(ROOT / ".venv/bin/moto_server"), "-H", "127.0.0.1", "-p", str(moto_port)],
            )
        ]
        self.proxy = CountingProxy(self.emulator_port, moto_port)
        self.emulator_ms = {}
        endpoint = f"http://127.0.0.1:{self.proxy.server_address[1]}"
        self.env = {
            "PATH": os.environ["PATH"],
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
            # publish-events puts on moto's EventBridge, through the same counting proxy.
            "AWS_ENDPOINT_URL_EVENTBRIDGE": endpoint,
            "TABLE_NAME": TABLE,
            "JWT_SECRET": SECRET,
            "RATE_LIMIT_WRITES_PER_MINUTE": "100000",
            "RATE_LIMIT_SIGN_INS_PER_MINUTE": "100000",
            "RUST_LOG": "warn",
        }
        self.create_table(TABLE)

    def token(self, user, session):
        os.environ["JWT_SECRET"] = SECRET
        return mint(user, session, 3600)

    def create_table(self, name):
        env = {**os.environ, **self.env, "TABLE_NAME": name,
               "AWS_ENDPOINT_URL_DYNAMODB": f"http://127.0.0.1:{self.emulator_port}"}
        for _ in range(100):
            done = subprocess.run(
                [str(ROOT / ".venv/bin/python"), "scripts/create_table.py", "template.yaml"],
                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            if done.returncode == 0:
                return
            time.sleep(0.2)
        sys.exit("the emulator did not start")

    def register(self, user, sessions, env=None):
        """Signs in (session, fingerprint) pairs through the real register-session binary."""
        function = Function("register-session", env or self.env)
        devices = {}
        for session, fingerprint in sessions:
            token = self.token(user, session)
            _, status, body = function.api.invoke(event("register-session", token, body={"fingerprint": fingerprint}))
            # 200: a retried attempt already created it (the emulator can be slow).
            assert status in (200, 201), body
            devices[fingerprint] = json.loads(body)["data"]["device"]["id"]
        function.stop()
        return devices

    def measure(self, name, make_event, label=None, expect=None):
        """The figures of binary `name` invoked with make_event(i), kept under `label`
        (default: the name). `expect`, when given, is the status every invocation must
        answer: a run that fails fast must not pass for a fast one."""
        label = label or name
        figures = {"binary_bytes": (RELEASE / name).stat().st_size}
        arm64 = TARGET / "aarch64-unknown-linux-gnu" / "release" / name
        if arm64.exists():
            figures["binary_bytes_arm64"] = arm64.stat().st_size
        figures["init_ms"] = self.init_ms[name]
        function = Function(name, self.env)
        self.proxy.take()
        first, status, body = function.api.invoke(make_event(0))
        figures["first_ms"] = round(first * 1e3, 3)
        _, _, services, units = self.proxy.take()
        figures["dynamodb_calls"] = services.get("dynamodb", 0)
        figures["read_units"], figures["write_units"] = units["read"], units["write"]
        if services.get("eventbridge"):
            figures["eventbridge_calls"] = services["eventbridge"]
        figures["first_status"] = status
        if expect is not None and status != expect:
            function.stop()
            raise RuntimeError(f"{label}: first invocation answered {status!r}, not {expect!r}")
        warm, emulator = [], []
        cpu_before = cpu_ns(function.process.pid)
        for i in range(WARM):
            elapsed, status, body = function.api.invoke(make_event(i + 1))
            if expect is not None and status != expect:
                function.stop()
                raise RuntimeError(f"{label}: warm invocation {i + 1} answered {status!r}, not {expect!r}")
            warm.append(elapsed * 1e3)
            emulator.append(self.proxy.take()[1] * 1e3)
        cpu = cpu_ns(function.process.pid)
        if cpu is not None and cpu_before is not None:
            figures["warm_cpu_ms"] = round((cpu - cpu_before) / 1e6 / WARM, 3)
        # Not a figure of the function: the part of each warm invocation spent
        # waiting on the emulator (kept apart so the ratios can be read without it).
        self.emulator_ms[label] = round(statistics.median(emulator), 3)
        if label != name:
            self.emulator_init_ms[label] = self.emulator_init_ms[name]
        warm.sort()
        figures["warm_p50_ms"] = round(statistics.median(warm), 3)
        figures["warm_p99_ms"] = round(warm[min(len(warm) - 1, int(len(warm) * 0.99))], 3)
        figures["max_rss_kb"] = function.stop()
        return figures

    def cold_starts(self, names):
        """Median init per binary, the cold starts interleaved round by round so that
        the machine's drift during the run weighs on every binary alike. Also keeps
        the part of each init spent waiting on the emulator (the functions open
        their DynamoDB connection during init; the baseline does not)."""
        inits = {name: [] for name in names}
        waits = {name: [] for name in names}
        for _ in range(COLD_STARTS):
            for name in names:
                self.proxy.take()
                function = Function(name, self.env)
                inits[name].append(function.init_ms)
                waits[name].append(self.proxy.take()[1] * 1e3)
                function.stop()
        self.init_ms = {name: round(statistics.median(v), 3) for name, v in inits.items()}
        self.emulator_init_ms = {name: round(statistics.median(v), 3) for name, v in waits.items()}

    def clone_sessions(self, table, user, template_session, count):
        """Copies a session the binary registered, `count` times under new ids: many
        sessions fast, in exactly the stored format."""
        import boto3

        client = boto3.client("dynamodb", endpoint_url=f"http://127.0.0.1:{self.emulator_port}",
                              region_name="us-east-1", aws_access_key_id="bench", aws_secret_access_key="bench")
        item = client.get_item(TableName=table, Key={"PK": {"S": f"USER#{user}"}, "SK": {"S": f"SESSION#{template_session}"}})["Item"]
        copies = []
        for i in range(count):
            copy = dict(item)
            copy["SK"] = {"S": f"SESSION#{template_session}-{i}"}
            copy["sessionId"] = {"S": f"{template_session}-{i}"}
            copies.append({"PutRequest": {"Item": copy}})
        for start in range(0, len(copies), 25):
            client.batch_write_item(RequestItems={table: copies[start:start + 25]})

    def scale(self, label, sessions_for, run):
        rows = {}
        for n in SCALE:
            # A table per run: the emulator's transactions copy the whole table.
            table = f"bench-scale-{uuid.uuid4().hex[:8]}"
            self.create_table(table)
            env = {**self.env, "TABLE_NAME": table}
            user = "bench-scale"
            devices = self.register(user, [("caller", "caller-device"), ("s", "target-device")], env)
            self.clone_sessions(table, user, "s", n - 1)
            function = Function(sessions_for, env)
            self.proxy.take()
            elapsed, status, body = function.api.invoke(run(self.token(user, "caller"), devices["target-device"]))
            calls = self.proxy.take()[0]
            function.stop()
            rows[str(n)] = {"status": status, "ms": round(elapsed * 1e3, 3), "dynamodb_calls": calls}
            print(f"  {label:<28} {n:>5} sessions: {status}, {elapsed * 1e3:9.1f} ms, {calls} DynamoDB calls", flush=True)
        return rows

    def dynamodb(self):
        """A boto3 client straight on the emulator (not through the counting proxy)."""
        import boto3

        return boto3.client("dynamodb", endpoint_url=f"http://127.0.0.1:{self.emulator_port}",
                            region_name="us-east-1", aws_access_key_id="bench", aws_secret_access_key="bench")

    def seed_account(self, table, user, sessions, devices):
        """An account of `sessions` live sessions on `devices` devices, fast: the caller
        ("caller", on fingerprint acct-fp-0) signs in through the real register-session
        binary, then its items are copied under new ids, as the store writes them —
        each device with its fingerprint entry (FP#<sha256 of acct-fp-i>), each session
        with its used-id marker and its sign-in event, the sessions spread over the
        devices in turn (session j on device j mod `devices`). Returns the device ids,
        the caller's first."""
        env = {**self.env, "TABLE_NAME": table}
        caller_device = self.register(user, [("caller", "acct-fp-0")], env)["acct-fp-0"]
        client = self.dynamodb()
        pk = {"S": f"USER#{user}"}
        items = client.query(TableName=table, KeyConditionExpression="PK = :pk",
                             ExpressionAttributeValues={":pk": pk}, ConsistentRead=True)["Items"]
        by_sk = {item["SK"]["S"]: item for item in items}
        device = by_sk[f"DEVICE#{caller_device}"]
        fingerprint = next(item for sk, item in by_sk.items() if sk.startswith("FP#"))
        session = by_sk["SESSION#caller"]
        used = by_sk["USED#caller"]
        events = client.query(TableName=table, KeyConditionExpression="PK = :pk",
                              ExpressionAttributeValues={":pk": {"S": f"EVENTS#{user}"}})["Items"]
        writes, ids = [], [caller_device]
        for i in range(1, devices):
            device_id = str(uuid.uuid4())
            digest = hashlib.sha256(f"acct-fp-{i}".encode()).hexdigest()
            ids.append(device_id)
            writes.append({**device, "SK": {"S": f"DEVICE#{device_id}"}, "deviceId": {"S": device_id},
                           "fingerprintHash": {"S": digest}, "deviceName": {"S": f"Bench device {i}"}})
            writes.append({**fingerprint, "SK": {"S": f"FP#{digest}"}, "deviceId": {"S": device_id}})
        for j in range(1, sessions):
            session_id = f"acct-s{j}"
            writes.append({**session, "SK": {"S": f"SESSION#{session_id}"}, "sessionId": {"S": session_id},
                           "deviceId": {"S": ids[j % devices]}})
            writes.append({**used, "SK": {"S": f"USED#{session_id}"}})
            for e in events:
                event_id = uuid.uuid4().hex
                millis = e["SK"]["S"].split("#")[0]
                writes.append({**e, "SK": {"S": f"{millis}#{event_id}"}, "eventId": {"S": event_id},
                               "targetId": {"S": session_id}})
        for start in range(0, len(writes), 25):
            chunk = {table: [{"PutRequest": {"Item": item}} for item in writes[start:start + 25]]}
            while chunk:
                chunk = client.batch_write_item(RequestItems=chunk).get("UnprocessedItems")
        return ids

    def account_route(self, name, env, make_event, warm):
        """One binary on one account: DynamoDB calls, read and write units of the first
        invocation (the full path), and over `warm` more invocations the median time,
        the median time waited on the emulator, and the median units."""
        function = Function(name, env)
        self.proxy.take()
        first, status, body = function.api.invoke(make_event(0))
        calls, waited, _, units = self.proxy.take()
        row = {"first_status": status, "first_ms": round(first * 1e3, 3),
               "emulator_first_ms": round(waited * 1e3, 3), "dynamodb_calls": calls,
               "read_units": units["read"], "write_units": units["write"]}
        times, waits, own, reads, writes = [], [], [], [], []
        for i in range(warm):
            elapsed, status, body = function.api.invoke(make_event(i + 1))
            _, waited, _, units = self.proxy.take()
            times.append(elapsed * 1e3)
            waits.append(waited * 1e3)
            own.append((elapsed - waited) * 1e3)
            reads.append(units["read"])
            writes.append(units["write"])
        function.stop()
        if warm:
            row.update({
                "warm_status": status,
                "warm_p50_ms": round(statistics.median(times), 3),
                "emulator_warm_p50_ms": round(statistics.median(waits), 3),
                # Each invocation's time less its own wait on the emulator, then the
                # median: steadier over few invocations than the difference of medians.
                "own_warm_p50_ms": round(statistics.median(own), 3),
                "warm_read_units": statistics.median(reads),
                "warm_write_units": statistics.median(writes),
            })
        else:
            row["own_first_ms"] = round(row["first_ms"] - row["emulator_first_ms"], 3)
        return row

    def dpop(self):
        """The DPoP axis: the same three calls for an unbound and a bound session."""
        user = f"bench-dpop-{uuid.uuid4().hex[:8]}"
        key = dpop_proof.load_key(str(OUT / "bench-device.pem"))
        plain, bound = self.token(user, "plain"), self.token(user, "bound")
        self.register(user, [("plain", "fp-plain")])
        function = Function("register-session", self.env)
        register = event("register-session", bound, body={"fingerprint": "fp-bound"})
        _, status, body = function.api.invoke(proved(register, key, bound))
        function.stop()
        assert status == 201 and json.loads(body)["data"]["session"]["keyBound"], body
        calls = {
            "list-devices": lambda token, session: event("list-devices", token),
            "session-heartbeat": lambda token, session: event("session-heartbeat", token, session),
            "authorize": lambda token, session: authorizer_event(token),
        }
        # The check alone, in-process: a proof's against an access token's.
        results = {"verification": json.loads(subprocess.check_output([str(RELEASE / "examples" / "proof_cost")]))}
        print(f"  verification: {results['verification']}", flush=True)
        for name, make in calls.items():
            unbound = self.account_route(name, self.env, lambda i: make(plain, "plain"), ACCOUNT_WARM)
            with_key = self.account_route(
                name, self.env, lambda i: proved(make(bound, "bound"), key, bound), ACCOUNT_WARM)
            results[name] = {"unbound": unbound, "bound": with_key}
            if "own_warm_p50_ms" in unbound:
                results[name]["proof_own_ms"] = round(with_key["own_warm_p50_ms"] - unbound["own_warm_p50_ms"], 3)
            print(f"  {name}: unbound {unbound}\n  {name}: bound {with_key}", flush=True)
        return results

    def accounts(self):
        """The account-size axis: per account of ACCOUNTS, every route a signed-in user
        calls and the authorizer, on a table of its own holding that account."""
        results = {}
        for sessions, devices in ACCOUNTS:
            label = f"{sessions}x{devices}"
            table = f"bench-account-{uuid.uuid4().hex[:8]}"
            self.create_table(table)
            user = f"acct-{uuid.uuid4().hex[:8]}"
            started = time.perf_counter()
            ids = self.seed_account(table, user, sessions, devices)
            seeded = time.perf_counter() - started
            env = {**self.env, "TABLE_NAME": table}
            token = self.token(user, "caller")
            mine = ids[0]
            # The cascades' targets: devices other than the caller's, with sessions on
            # them when the account has some (session j is on device j mod devices).
            untrusted, deleted = ids[1 % devices], ids[2 % devices]
            other = "acct-s1" if sessions > 1 else "acct-missing"
            plans = {
                "list-devices": lambda i: event("list-devices", token),
                "get-device": lambda i: event("get-device", token, mine),
                "trust-device": lambda i: event("trust-device", token, body={"fingerprint": "acct-fp-0"}),
                "rename-device": lambda i: event("rename-device", token, mine, body={"deviceName": f"Bench {i % 2}"}),
                "session-heartbeat": lambda i: event("session-heartbeat", token, "caller"),
                "list-sessions": lambda i: event("list-sessions", token),
                "get-current-session": lambda i: event("get-current-session", token),
                # The first call ends another session (when there is one); the warm ones
                # name sessions that do not exist (404, one cancelled transaction).
                "revoke-session": lambda i: event("revoke-session", token, other if i == 0 else f"gone-{i}"),
                "list-security-events": lambda i: event("list-security-events", token, query={"limit": "20"}),
                "authorize": lambda i: authorizer_event(token),
            }
            # The cascades change the account: one invocation each, last, in this order.
            cascades = {
                "untrust-device": lambda i: event("untrust-device", token, untrusted),
                "delete-device": lambda i: event("delete-device", token, deleted),
                "revoke-all-sessions": lambda i: event("revoke-all-sessions", token, query={"keepCurrent": "true"}),
            }
            rows = {}
            for name, plan in plans.items():
                rows[name] = self.account_route(name, env, plan, ACCOUNT_WARM)
            for name, plan in cascades.items():
                rows[name] = self.account_route(name, env, plan, 0)
            results[label] = {"sessions": sessions, "devices": devices, "seed_s": round(seeded, 2), "routes": rows}
            for name, row in rows.items():
                own = row.get("own_warm_p50_ms", row.get("own_first_ms"))
                print(f"  {label:>7} {name:<22} {row['first_status']!s:>5} {row['dynamodb_calls']} calls, "
                      f"{row['read_units']} RRU, {row['write_units']} WRU, own {own:.3f} ms", flush=True)
        return results

    def sweep(self, revoked):
        """The sweep axis: an account holding the caller's session beside `revoked`
        sessions revoked an hour ago (EVICTED, as a sign-in loop past the cap leaves
        them), copied from the caller's items as the store writes them. list-devices'
        Query before and after; between them, the sign-ins that sweep it all (25
        each), with their calls and own time against a sign-in with nothing to sweep
        (DynamoDB Local reports no itemized units for a transaction: docs/PERFORMANCE.md
        gives the sweep's write units)."""
        table = f"bench-sweep-{uuid.uuid4().hex[:8]}"
        self.create_table(table)
        user = f"sweep-{uuid.uuid4().hex[:8]}"
        env = {**self.env, "TABLE_NAME": table, "RATE_LIMIT_SIGN_INS_PER_MINUTE": "100000"}
        self.register(user, [("caller", "sweep-fp")], env)
        client = self.dynamodb()
        pk = {"S": f"USER#{user}"}
        session = client.get_item(TableName=table, Key={"PK": pk, "SK": {"S": "SESSION#caller"}},
                                  ConsistentRead=True)["Item"]
        used = client.get_item(TableName=table, Key={"PK": pk, "SK": {"S": "USED#caller"}},
                               ConsistentRead=True)["Item"]
        revoked_at = {"N": str(int(time.time()) - 3600)}
        writes = []
        for j in range(revoked):
            session_id = f"loop-{j}"
            writes.append({**session, "SK": {"S": f"SESSION#{session_id}"}, "sessionId": {"S": session_id},
                           "status": {"S": "REVOKED"}, "endReason": {"S": "EVICTED"}, "revokedAt": revoked_at})
            writes.append({**used, "SK": {"S": f"USED#{session_id}"}})
        for start in range(0, len(writes), 25):
            chunk = {table: [{"PutRequest": {"Item": item}} for item in writes[start:start + 25]]}
            while chunk:
                chunk = client.batch_write_item(RequestItems=chunk).get("UnprocessedItems")
        token = self.token(user, "caller")
        listing = lambda i: event("list-devices", token)  # noqa: E731
        before = self.account_route("list-devices", env, listing, ACCOUNT_WARM)
        sweeps = -(-revoked // 25)
        signing_in = lambda i: event("register-session", self.token(user, f"new-{i}"), body={"fingerprint": "sweep-fp"})  # noqa: E731
        sweeping = self.account_route("register-session", env, signing_in, sweeps - 1)
        after = self.account_route("list-devices", env, listing, ACCOUNT_WARM)
        # Nothing left to sweep: the same sign-in's own cost.
        plain = self.account_route("register-session", env, lambda i: signing_in(sweeps + i), ACCOUNT_WARM)
        left = client.query(TableName=table, KeyConditionExpression="PK = :pk AND begins_with(SK, :s)",
                            ExpressionAttributeValues={":pk": pk, ":s": {"S": "SESSION#"}},
                            ConsistentRead=True, Select="COUNT")["Count"]
        result = {"revoked": revoked, "sign_ins_sweeping": sweeps, "session_items_left": left,
                  "list_devices_before": before, "list_devices_after": after,
                  "sign_in_sweeping": sweeping, "sign_in_nothing_to_sweep": plain}
        print(f"  {revoked} revoked: list-devices {before['warm_read_units']} RRU, own "
              f"{before['own_warm_p50_ms']:.3f} ms -> {after['warm_read_units']} RRU, own "
              f"{after['own_warm_p50_ms']:.3f} ms after {sweeps} sign-ins ({left} session items left); "
              f"a sweeping sign-in {sweeping['dynamodb_calls']} calls, own {sweeping.get('own_warm_p50_ms', 0):.3f} ms "
              f"vs {plain['dynamodb_calls']} calls, own {plain['own_warm_p50_ms']:.3f} ms", flush=True)
        return result

    def stream_records(self, table):
        """Every record of `table`'s stream that Lambda would hand the stream consumer:
        read from the emulator and shaped, filtered (the template's FilterCriteria) and
        ordered by scripts/stream_pump.py, the local stand-in for the event source
        mapping. With the run's writes, these are the security events the real
        binaries wrote."""
        from stream_pump import Pump

        # boto3 reads these from the environment (the emulator takes any credentials).
        os.environ.update({k: self.env[k] for k in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")})
        pump = Pump(endpoint=f"http://127.0.0.1:{self.emulator_port}", table=table, api_port="0")
        records = []
        while True:
            shard, read = pump._read(1000)
            if not read:
                return records
            pump.after[shard] = read[-1]["dynamodb"]["SequenceNumber"]
            records += [r for r in map(pump.lambda_record, read) if pump.passes(r)]

    def close(self):
        for emulator in self.emulators:
            emulator.send_signal(signal.SIGTERM)
            emulator.wait()


def main():
    # The machine's load (1-minute average) before and after: other work on the same
    # cores shows in every figure, the p99s first.
    load = {"start": os.getloadavg()[0]}
    bench = Bench()
    try:
        user = f"bench-{uuid.uuid4().hex[:8]}"
        # A realistic account: 5 devices, 20 sessions; the caller is s0 on fp0.
        devices = bench.register(user, [(f"s{i}", f"fp{i % 5}") for i in range(20)])
        token = bench.token(user, "s0")
        mine, other = devices["fp0"], devices["fp4"]
        missing_device = str(uuid.uuid4())
        plans = {
            "list-devices": lambda i: event("list-devices", token),
            "get-device": lambda i: event("get-device", token, mine),
            "trust-device": lambda i: event("trust-device", token, body={"fingerprint": "fp1"}),
            "untrust-device": lambda i: event("untrust-device", token, devices["fp2"]),
            # The first call removes the device; the warm ones find it gone (404).
            "delete-device": lambda i: event("delete-device", token, other if i == 0 else missing_device),
            "list-sessions": lambda i: event("list-sessions", token),
            # The first call ends s18; the warm ones name sessions that do not exist (404).
            "revoke-session": lambda i: event("revoke-session", token, "s18" if i == 0 else f"gone-{i}"),
            "revoke-all-sessions": lambda i: event("revoke-all-sessions", token, query={"keepCurrent": "true"}),
            "session-heartbeat": lambda i: event("session-heartbeat", token, "s0"),
            # The first call registers a new session; the warm ones repeat it (200).
            "register-session": lambda i: event("register-session", bench.token(user, "bench-new"), body={"fingerprint": "fp0"}),
            "route-not-found": lambda i: event("route-not-found", token),
            # Not a route: the authorizer other APIs attach; s0 is still alive here
            # (revoke-all kept it), so every call is allowed (isAuthorized true).
            "authorize": lambda i: authorizer_event(token),
        }
        bench.cold_starts(["baseline", *plans, "publish-events"])
        results = {"baseline": bench.measure("baseline", lambda i: event("list-devices", token)), "functions": {}}
        print(f"baseline: {results['baseline']}", flush=True)
        for name, plan in plans.items():
            results["functions"][name] = bench.measure(name, plan)
            print(f"{name}: {results['functions'][name]}", flush=True)

        # The stream consumer, last: by now the routes above have written every kind
        # of security event into the table (and its stream). Each invocation puts the
        # whole batch on moto's EventBridge (default bus), 10 entries per PutEvents.
        stored = bench.stream_records(TABLE)
        kinds = sorted({r["dynamodb"]["NewImage"]["type"]["S"] for r in stored})
        print(f"stream: {len(stored)} security events written by the run ({', '.join(kinds)})", flush=True)
        for size in STREAM_BATCHES:
            batch = stream_batch(stored, size)
            if len(stored) < size:
                print(f"  (only {len(stored)} events in the stream: the batch of {size} holds copies under new ids)", flush=True)
            label = f"publish-events ({size} records)"
            figures = bench.measure("publish-events", lambda i: batch, label=label, expect="all published")
            figures["records"] = size
            figures["event_bytes"] = len(json.dumps(batch))
            # The event itself, to read or replay (cargo lambda invoke --data-file).
            OUT.mkdir(parents=True, exist_ok=True)
            (OUT / f"publish-events-{size}.json").write_text(json.dumps(batch, indent=1) + "\n")
            for figure in ("first_ms", "warm_p50_ms", "warm_p99_ms"):
                figures[f"{figure}_per_record"] = round(figures[figure] / size, 4)
            results["functions"][label] = figures
            print(f"{label}: {figures}", flush=True)

        print("scale:", flush=True)
        results["scale"] = {
            "revoke-all-sessions": bench.scale(
                "revoke-all (keepCurrent)", "revoke-all-sessions",
                lambda token, device: event("revoke-all-sessions", token, query={"keepCurrent": "true"}),
            ),
            "delete-device": bench.scale(
                "delete-device", "delete-device",
                lambda token, device: event("delete-device", token, device),
            ),
            "untrust-device": bench.scale(
                "untrust-device", "untrust-device",
                lambda token, device: event("untrust-device", token, device),
            ),
        }
        print("dpop (unbound vs bound):", flush=True)
        OUT.mkdir(parents=True, exist_ok=True)
        results["dpop"] = bench.dpop()
        if ACCOUNTS:
            print("accounts (sessions x devices):", flush=True)
            results["accounts"] = bench.accounts()
        if SWEPT:
            print("sweep (revoked sessions a sign-in loop left):", flush=True)
            results["sweep"] = bench.sweep(SWEPT)
        results["emulator_warm_p50_ms"] = bench.emulator_ms
        results["emulator_init_ms"] = bench.emulator_init_ms
    finally:
        bench.close()

    load["end"] = os.getloadavg()[0]
    results["loadavg_1min"] = load
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print_table(results)


def print_table(results):
    base = results["baseline"]
    names = ["binary_bytes", "init_ms", "first_ms", "warm_p50_ms", "warm_p99_ms", "dynamodb_calls", "max_rss_kb"]
    print(f"\n{'function':<30}" + "".join(f"{n:>16}" for n in names))
    print(f"{'baseline':<30}" + "".join(f"{base[n]:>16}" for n in names))
    for name, figures in results["functions"].items():
        cells = []
        for n in names:
            ratio = figures[n] / base[n] if base[n] else float("nan")
            cells.append(f"{figures[n]:>9} {ratio:>5.2f}x")
        print(f"{name:<30}" + "".join(f"{c:>16}" for c in cells))
    if "loadavg_1min" in results:
        print(f"\nload average (1 min): {results['loadavg_1min']['start']:.2f} before, {results['loadavg_1min']['end']:.2f} after")
    print(f"\nwritten: {OUT / 'results.json'}")


if __name__ == "__main__":
    main()
