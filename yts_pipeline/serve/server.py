"""``run``: serve the app with uvicorn until SIGTERM or Ctrl-C, then stop cleanly (exit status 0)."""

from __future__ import annotations

import atexit
import ipaddress
import logging
import os
import signal

from yts_pipeline.serve.app import create_app

log = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def run(host: str = "127.0.0.1", port: int = 8000, *, database_url: str | None = None) -> None:
    """Serve the API and the web page on ``host:port`` (loopback unless told otherwise) until stopped.

    Reads the same settings as every command (``DATABASE_URL`` or the embedded server). Logs one
    line per request (see ``access.py``). Raises ``SettingsError`` for a bad setting, before listening.
    """
    # One thread per query encoding: requests are the parallelism. With torch's default (a thread per
    # core) a one-sentence encode cost 375 ms of CPU instead of 45 ms here, spinning on a busy machine.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import uvicorn

    if not logging.getLogger().handlers:  # as the CLI does: our lines (one per request), others' warnings
        logging.basicConfig(level=logging.WARNING, format=LOG_FORMAT)
        logging.getLogger("yts_pipeline").setLevel(logging.INFO)
    app = create_app(database_url=database_url)
    config = uvicorn.Config(
        app, host=host, port=port, log_config=None, access_log=False, server_header=False, timeout_graceful_shutdown=10
    )
    server = uvicorn.Server(config)
    where = f"[{host}]" if ":" in host else host
    log.info("serving the web page on http://%s:%d/ and the API docs on http://%s:%d/docs", where, port, where, port)
    if not _is_loopback(host):
        log.warning("listening on %s, not only on loopback: whoever reaches this machine can read the mirror", host)
    # uvicorn shuts down gracefully on SIGINT/SIGTERM, then re-raises the signal to the handler it found:
    # ours turns that into a normal return instead of death by signal (so atexit handlers run).
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    log.info("stopped")
    if app.state.model.status == "loading":
        _exit_under_the_loading_model()


def _exit_under_the_loading_model() -> None:
    """End the process now, though the embedding model is still loading in its thread.

    That load (torch, the ONNX export, OpenVINO's compile) runs in native code that cannot be
    interrupted, and the interpreter's normal exit under it aborts ("terminate called without an
    active exception", status -6). So the exit handlers run here (database pools, the embedded
    Postgres), then the process ends with status 0. A half-written export is only a staging folder,
    which the next export removes.
    """
    log.info("the embedding model was still loading: exiting without waiting for it")
    logging.shutdown()
    atexit._run_exitfuncs()
    os._exit(0)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
