"""`worker`: run the daily insights queued on RabbitMQ (phase 2, queue.url)."""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from finbuddy.cli import state

MAX_PROCESSES = 64
MAX_THREADS = 64


def worker(
    processes: Annotated[
        int,
        typer.Option("--processes", min=1, max=MAX_PROCESSES, help="Worker processes to fork (1 to 64)."),
    ] = 1,
    threads: Annotated[
        int,
        typer.Option(
            "--threads", min=1, max=MAX_THREADS, help="Threads per process, each writing one chunk of users (1 to 64)."
        ),
    ] = 8,
) -> None:
    """Write the daily insights the daemon queued on RabbitMQ (queue.url), under one global AI rate.

    Every worker on every machine shares ai.requests_per_minute through the Redis of cache.url. SIGTERM or
    Ctrl-C lets the AI calls in flight finish, hands the rest back to the queue and exits 0. Log lines go
    to stderr.
    """
    from finbuddy.worker.processes import run_workers

    settings = state.current().settings
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    loggers = [logging.getLogger(name) for name in ("finbuddy", "dramatiq", "pika")]
    saved = [(logger, logger.level, logger.propagate) for logger in loggers]
    finbuddy_logger = loggers[0]
    finbuddy_logger.addHandler(handler)
    finbuddy_logger.setLevel(logging.INFO)
    for logger in loggers[1:]:  # their warnings and errors only, through ours
        logger.setLevel(logging.WARNING)
        logger.addHandler(handler)
        logger.propagate = False
    try:
        run = run_workers(settings, processes, threads)
    finally:
        for logger, level, propagate in saved:
            logger.removeHandler(handler)
            logger.setLevel(level)
            logger.propagate = propagate
    raise typer.Exit(run.exit_code)


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)
