"""gunicorn settings for the DRF peer; bind address and worker count come from the command line.

Readiness: gunicorn binds its socket before its workers have loaded Django, so a request sent then
waits. Each worker, once it has loaded the app, counts itself in a small file; the worker that
brings the count to the number of workers prints `listening on http://HOST:PORT` on standard
output. A harness may wait for that line or simply poll the port.
"""
import fcntl
import os
import shutil
import sys
import tempfile

worker_class = "sync"
accesslog = None  # no access log
loglevel = "warning"

_ready_dir = None


def on_starting(server):
    global _ready_dir
    _ready_dir = tempfile.mkdtemp(prefix="drf-peer-ready.")


def post_worker_init(worker):
    path = os.path.join(_ready_dir, "count")
    with open(path, "a+b") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.write(b".")
        f.flush()
        count = os.fstat(f.fileno()).st_size
        if count == worker.cfg.workers:
            host, port = worker.sockets[0].getsockname()[:2]
            sys.stdout.write(f"listening on http://{host}:{port}\n")
            sys.stdout.flush()


def on_exit(server):
    if _ready_dir:
        shutil.rmtree(_ready_dir, ignore_errors=True)
