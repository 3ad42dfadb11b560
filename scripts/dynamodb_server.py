"""The local DynamoDB: moto's server, answering one request at a time.

moto's server is threaded, and its TransactWriteItems is atomic only when requests do
not interleave: a cancelled transaction restores a snapshot of the table taken when
it began, dropping every write other requests made meanwhile. DynamoDB itself never
loses a write that way, so the emulator serializes requests (keep-alive connections
are still served by their own threads).

moto also snapshots a table once per *action* of a transaction (a 99-action cascade
copied the table 99 times); the emulator takes one snapshot per table per transaction,
which is the same rollback at a fraction of the cost.

moto ignores TransactWriteItems' ClientRequestToken; the emulator keeps DynamoDB's
promise for it (IdempotentTransactions below), so a retry of a transaction that
committed behaves here as it does on AWS.

Every answer carries `x-emulator-sequence`, the order in which the emulator ran the
request, so race tests can tell what committed before what.

    python scripts/dynamodb_server.py PORT
"""

import copy
from collections import defaultdict
import io
import json
import signal
import sys
import threading
import time

from werkzeug.serving import run_simple

from moto.dynamodb import models
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)


class OneAtATime:
    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()
        self.sequence = 0

    def __call__(self, environ, start_response):
        with self.lock:
            self.sequence += 1
            sequence = str(self.sequence)

            def numbered(status, headers, exc_info=None):
                return start_response(status, headers + [("x-emulator-sequence", sequence)], exc_info)

            # Read the whole response inside the lock: moto builds it eagerly anyway.
            return list(self.app(environ, numbered))


class IdempotentTransactions:
    """DynamoDB's ClientRequestToken, which moto ignores. Within 10 minutes of a
    TransactWriteItems that succeeded, one with the same token and the same parameters
    succeeds without writing again; with other parameters it is refused with
    IdempotentParameterMismatchException. A token whose transaction failed (cancelled)
    wrote nothing, so its next request runs afresh, as on DynamoDB."""

    WINDOW_SECONDS = 600

    def __init__(self, app):
        self.app = app
        self.succeeded = {}  # token -> (parameters, when)

    def __call__(self, environ, start_response):
        if not environ.get("HTTP_X_AMZ_TARGET", "").endswith(".TransactWriteItems"):
            return self.app(environ, start_response)
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        try:
            parameters = json.loads(body)
            token = parameters.pop("ClientRequestToken", None)
        except ValueError:
            token = None
        if token is None:
            return self.app(environ, start_response)
        now = time.monotonic()
        self.succeeded = {t: v for t, v in self.succeeded.items() if now - v[1] < self.WINDOW_SECONDS}
        canonical = json.dumps(parameters, sort_keys=True)
        if token in self.succeeded:
            if self.succeeded[token][0] != canonical:
                return answer(start_response, "400 Bad Request", {
                    "__type": "com.amazonaws.dynamodb.v20120810#IdempotentParameterMismatchException",
                    "message": "The request uses the same client token as a previous, but non-identical request.",
                })
            return answer(start_response, "200 OK", {})

        def remember(status, headers, exc_info=None):
            if status.startswith("200"):
                self.succeeded[token] = (canonical, now)
            return start_response(status, headers, exc_info)

        return self.app(environ, remember)


def answer(start_response, status, body):
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/x-amz-json-1.0"), ("Content-Length", str(len(data)))])
    return [data]


class SnapshotOncePerTransaction:
    """Stands in for the `copy` module inside moto's DynamoDB models: during a
    transaction, the snapshot of a table copies only the partitions the transaction
    touches (the others cannot change during it) and shares the rest, once per table.
    The table's stream is shared too, and cut back to its length before the
    transaction when it is cancelled: a cancelled write leaves no stream record, as on
    DynamoDB. (moto deep-copied the whole table, stream included, for every action:
    the cost grew with everything every test had ever written.)"""

    def __init__(self):
        self.snapshots = None
        self.touched = {}

    def deepcopy(self, obj, memo=None):
        if self.snapshots is None or not isinstance(obj, models.Table):
            return copy.deepcopy(obj, memo)
        if id(obj) not in self.snapshots:
            self.snapshots[id(obj)] = self.snapshot(obj)
        return self.snapshots[id(obj)]

    def snapshot(self, table):
        touched = self.touched.get(table.name, set())
        snapshot = copy.copy(table)
        snapshot.items = defaultdict(dict)
        for hash_key, partition in table.items.items():
            snapshot.items[hash_key] = (
                copy.deepcopy(partition) if partition_key(hash_key) in touched else partition
            )
        return snapshot

    def wrap(self, transact_write_items):
        def wrapped(backend, transact_items):
            # Requests are serialized (OneAtATime), so one transaction runs at a time.
            self.snapshots = {}
            self.touched = {}
            for item in transact_items:
                _, op = next(iter(item.items()))
                key = op.get("Key") or op.get("Item") or {}
                table = backend.tables.get(op.get("TableName"))
                if table is not None and table.hash_key_attr in key:
                    value = key[table.hash_key_attr]
                    self.touched.setdefault(table.name, set()).add(json.dumps(value, sort_keys=True))
            streams = {
                name: len(table.stream_shard.items)
                for name, table in backend.tables.items()
                if table.stream_shard is not None
            }
            try:
                return transact_write_items(backend, transact_items)
            except Exception:
                for name, length in streams.items():
                    del backend.tables[name].stream_shard.items[length:]
                raise
            finally:
                self.snapshots = None

        return wrapped


def partition_key(hash_key):
    """A partition's key as the transaction names it ({"S": "USER#…"}), comparable."""
    return json.dumps(hash_key.to_json(), sort_keys=True)


def snapshot_once_per_transaction() -> None:
    shim = SnapshotOncePerTransaction()
    models.copy = shim
    backend = models.DynamoDBBackend
    backend.transact_write_items = shim.wrap(backend.transact_write_items)


def main() -> None:
    port = int(sys.argv[1])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    snapshot_once_per_transaction()
    app = OneAtATime(IdempotentTransactions(DomainDispatcherApplication(create_backend_app)))
    run_simple("127.0.0.1", port, app, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
