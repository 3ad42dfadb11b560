"""The local DynamoDB: moto's server, answering one request at a time.

moto's server is threaded, and its TransactWriteItems is atomic only when requests do
not interleave: a cancelled transaction restores a snapshot of the table taken when
it began, dropping every write other requests made meanwhile. DynamoDB itself never
loses a write that way, so the emulator serializes requests (keep-alive connections
are still served by their own threads).

moto also snapshots a table once per *action* of a transaction (a 99-action cascade
copied the table 99 times); the emulator takes one snapshot per table per transaction,
which is the same rollback at a fraction of the cost.

    python scripts/dynamodb_server.py PORT
"""

import copy
import signal
import sys
import threading

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

    def __call__(self, environ, start_response):
        with self.lock:
            # Read the whole response inside the lock: moto builds it eagerly anyway.
            return list(self.app(environ, start_response))


class SnapshotOncePerTransaction:
    """Stands in for the `copy` module inside moto's DynamoDB models: during a
    transaction, every deep copy of one table is the same snapshot."""

    def __init__(self):
        self.snapshots = None

    def deepcopy(self, obj, memo=None):
        if self.snapshots is None or not isinstance(obj, models.Table):
            return copy.deepcopy(obj, memo)
        if id(obj) not in self.snapshots:
            self.snapshots[id(obj)] = copy.deepcopy(obj)
        return self.snapshots[id(obj)]

    def wrap(self, transact_write_items):
        def wrapped(backend, transact_items):
            # Requests are serialized (OneAtATime), so one transaction runs at a time.
            self.snapshots = {}
            try:
                return transact_write_items(backend, transact_items)
            finally:
                self.snapshots = None

        return wrapped


def snapshot_once_per_transaction() -> None:
    shim = SnapshotOncePerTransaction()
    models.copy = shim
    backend = models.DynamoDBBackend
    backend.transact_write_items = shim.wrap(backend.transact_write_items)


def main() -> None:
    port = int(sys.argv[1])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    snapshot_once_per_transaction()
    app = OneAtATime(DomainDispatcherApplication(create_backend_app))
    run_simple("127.0.0.1", port, app, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
