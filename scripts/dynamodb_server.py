"""The local DynamoDB: moto's server, answering one request at a time.

moto's server is threaded, and its TransactWriteItems is atomic only when requests do
not interleave: a cancelled transaction restores a snapshot of the table taken when
it began, dropping every write other requests made meanwhile. DynamoDB itself never
loses a write that way, so the emulator serializes requests (keep-alive connections
are still served by their own threads).

    python scripts/dynamodb_server.py PORT
"""

import signal
import sys
import threading

from werkzeug.serving import run_simple

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


def main() -> None:
    port = int(sys.argv[1])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = OneAtATime(DomainDispatcherApplication(create_backend_app))
    run_simple("127.0.0.1", port, app, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
