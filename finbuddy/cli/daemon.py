"""`daemon run|start|stop|status|run-once` and `insights`: the scheduled jobs and the daily insight they write."""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING, Annotated, Any

import typer

from finbuddy.cli import state
from finbuddy.cli.client import NO_SERVER_ENV
from finbuddy.cli.options import JsonOption
from finbuddy.cli.output import emit, printable, say

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Callable

    from rich.console import Console
    from rich.progress import Progress, TaskID

    from finbuddy.config import Settings

daemon_app = typer.Typer(
    help="The background daemon: daily AI insights for every user, cache upkeep, and refunds of dead reservations.",
    no_args_is_help=True,
)


class RichBatchProgress:
    """The insight batch's progress, drawn on stderr (the batch itself never prints)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.lock = threading.Lock()
        self.counts: dict[str, int] = {}
        self.progress: Progress | None = None
        self.task: TaskID | None = None

    def start(self, total: int) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            TextColumn("daily insights"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=self.console,
        )
        self.progress.start()
        self.task = self.progress.add_task("insights", total=total, status="")

    def advance(self, outcome: str, count: int = 1) -> None:
        if self.progress is None:
            return
        with self.lock:
            self.counts[outcome] = self.counts.get(outcome, 0) + count
            status = " · ".join(f"{name} {n}" for name, n in sorted(self.counts.items()))
        assert self.task is not None  # added by start() with the bar
        self.progress.update(self.task, advance=count, status=status)

    def close(self, failed: bool = False) -> None:
        """Stop drawing; after a failure the bar is taken away, leaving the error's one line alone."""
        if self.progress is None:
            return
        if failed:  # Live, not Progress.stop(): that draws the bar one last time, or a blank line off a terminal
            self.progress.live.transient = True
            self.progress.live.stop()
        else:
            self.progress.stop()
        self.progress = None


def _progress_factory(console: Console) -> Callable[[str], RichBatchProgress | None]:
    def progress_for(job: str) -> RichBatchProgress | None:
        return RichBatchProgress(console) if job == "daily-insights" else None

    return progress_for


NoServeOption = Annotated[
    bool, typer.Option("--no-serve", help="Run the jobs only: no warm server for your commands (README, Warm start).")
]


@daemon_app.command("run")
def run(
    detached: Annotated[bool, typer.Option("--detached", hidden=True, help="Started by `daemon start`.")] = False,
    no_serve: NoServeOption = False,
) -> None:
    """Run the daemon in the foreground (for systemd or a supervisor); SIGTERM or Ctrl-C stops it cleanly.

    Besides its jobs it serves your commands warm (`daemon serve`), unless --no-serve."""
    import logging

    from finbuddy.daemon.process import log_path, run_foreground

    ctx = state.current().context
    _check_queue(ctx.settings)
    stop = threading.Event()
    handler: logging.Handler | None = None
    progress_for = None
    if not detached:
        from finbuddy.cli.output import console

        err = console(stderr=True)
        if err.is_terminal:
            from rich.logging import RichHandler

            handler = RichHandler(console=err, show_path=False, markup=False)
            progress_for = _progress_factory(err)
        else:  # systemd's journal, a supervisor's log: plain lines
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        sys.stderr.write(f"finbuddy daemon: logging to {log_path(ctx.settings)}; stop with Ctrl-C or SIGTERM\n")
    from finbuddy.server import supported

    serving = not no_serve and supported()
    serve_command = [sys.executable, "-m", "finbuddy", "daemon", "serve"] if serving else None
    run_foreground(ctx, stop, progress_for=progress_for, console_handler=handler, serve_command=serve_command)


def _check_queue(settings: Settings) -> None:
    """With queue.url, refuse to start a daemon whose daily job could not plan (exit 2, one line)."""
    if settings.queue.url is not None:
        from finbuddy.worker.config import check_queue_settings

        check_queue_settings(settings)


def daemon_run_command(no_serve: bool = False) -> list[str]:
    """How this finbuddy runs `daemon run` in a new process: the same interpreter and package, whatever PATH holds."""
    return [sys.executable, "-m", "finbuddy", "daemon", "run", "--detached", *(["--no-serve"] if no_serve else [])]


@daemon_app.command("start")
def start(
    wait: Annotated[float, typer.Option("--wait", help="Seconds to wait for the daemon to come up.")] = 15.0,
    no_serve: NoServeOption = False,
    json_: JsonOption = False,
) -> None:
    """Start the daemon in the background (a pidfile under a lock: a second one refuses)."""
    from finbuddy.daemon.process import log_path, start_detached

    settings = state.current().settings
    _check_queue(settings)
    info = start_detached(settings, daemon_run_command(no_serve), wait_seconds=wait)
    data = {**info.to_json(), "log_file": str(log_path(settings))}
    emit(data, json_, lambda: say(f"Started the finbuddy daemon (pid {info.pid}); log: {data['log_file']}"))


@daemon_app.command("stop")
def stop(
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for it to exit.")] = 30.0,
    json_: JsonOption = False,
) -> None:
    """Stop the background daemon (SIGTERM, then wait); a stale pidfile is removed."""
    from finbuddy.daemon.process import stop_daemon

    result = stop_daemon(state.current().settings, timeout=timeout)

    def render() -> None:
        if result.was_running:
            say(f"Stopped the finbuddy daemon (pid {result.pid}).")
        elif result.removed_stale_pidfile:
            say(f"The finbuddy daemon was not running; removed a stale pidfile (pid {result.pid}).")
        else:
            say("The finbuddy daemon is not running.")

    emit(result.to_json(), json_, render)


@daemon_app.command("status")
def status(json_: JsonOption = False) -> None:
    """Whether the daemon runs, its pid and start time, and each job's next run and last result."""
    from finbuddy.daemon.process import daemon_info, log_path
    from finbuddy.daemon.scheduler import JobRunner
    from finbuddy.errors import FinbuddyError

    ctx = state.current().context
    info = daemon_info(ctx.settings)
    data: dict[str, Any] = {**info.to_json(), "log_file": str(log_path(ctx.settings))}
    data["server"] = _server_status(ctx.settings)
    views = []
    try:
        views = JobRunner(ctx).views()
        data["jobs"] = [view.to_json() for view in views]
    except FinbuddyError as exc:
        data["jobs"] = None
        data["jobs_error"] = exc.message
    batches = []
    try:  # the daily insights' Batch API batches (ai.insights_mode = batch): today's and any still live
        from finbuddy.daemon.batch_insights import batch_json, shown_batches

        batches = shown_batches(ctx)
        data["insight_batches"] = [batch_json(row) for row in batches]
    except FinbuddyError:
        data["insight_batches"] = None
    if ctx.settings.queue.url is not None:  # phase 2: the queue the daily job plans into
        from finbuddy.worker.broker import queue_depth

        data["queue"] = queue_depth(ctx.settings).to_json()

    def render() -> None:
        from rich.table import Table
        from rich.text import Text

        from finbuddy.cli.output import console

        if info.running:
            since = f", since {info.started_at.isoformat()}" if info.started_at else ""
            say(f"finbuddy daemon: running (pid {info.pid}{since})")
        else:
            say("finbuddy daemon: not running")
        say(f"log: {data['log_file']}")
        say(_server_line(data["server"]))
        queue = data.get("queue")
        if queue is not None:
            say(_queue_line(queue))
        if data.get("jobs_error"):
            say(f"jobs: unknown ({data['jobs_error']})")
            return
        table = Table(title=f"jobs (times in {ctx.install_zone.key})", title_justify="left")
        for column in ("job", "schedule", "next run", "last run", "status", "result"):
            table.add_column(column, overflow="fold")

        def when(moment: dt.datetime) -> str:
            return moment.astimezone(ctx.install_zone).strftime("%Y-%m-%d %H:%M")

        for view in views:
            run = view.run
            last = when(run.last_finished_at) if run and run.last_finished_at else "never"
            result = _brief_result(run.last_result) if run else ""
            table.add_row(
                view.name,
                view.schedule,
                "due now" if view.due else when(view.next_run),
                last,
                (run.last_status if run else None) or "",
                Text(result),
            )
        console().print(table)
        if batches:
            console().print(_batch_table(batches, when))

    emit(data, json_, render)


def _batch_table(batches: list[Any], when: Any) -> Any:
    """The insight batches at the Batch API: our state and the provider's, lines and results."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title="insight batches (OpenAI Batch API)", title_justify="left")
    for column in ("day", "#", "state", "provider", "lines", "answered", "failed", "submitted", "window ends", "note"):
        table.add_column(column, overflow="fold")
    for row in batches:
        table.add_row(
            row.day.isoformat(),
            str(row.chunk),
            row.status,
            row.provider_status or "",
            f"{row.lines:,}",
            f"{row.succeeded:,}",
            f"{row.failed:,}",
            when(row.submitted_at) if row.submitted_at else "",
            when(row.expires_at) if row.expires_at else "",
            Text(printable(row.error or "")),
        )
    return table


def _queue_line(queue: dict[str, Any]) -> str:
    """One line on the queue: its counts, or why RabbitMQ could not tell them."""
    if queue["error"]:
        return f"queue {queue['queue']} at {queue['url']}: unknown: {queue['error']}"
    return (
        f"queue {queue['queue']} at {queue['url']}: {queue['waiting']} messages waiting, {queue['delayed']} delayed "
        f"(retries), {queue['dead_letters']} dead letters, {queue['consumers']} consumers"
    )


def _server_status(settings: Settings) -> dict[str, Any]:
    """What the warm server on the user's socket says of itself (`serving` False: none answers there)."""
    from finbuddy.cli.client import disabled
    from finbuddy.server import SOCKET_NAME
    from finbuddy.server.protocol import query_status

    path = settings.paths.runtime_dir / SOCKET_NAME
    answer = query_status(str(path)) or {}
    keys = ("pid", "version", "started_at", "requests", "running", "idle", "queued", "declined", "crashed")
    return {
        "serving": bool(answer.get("serving")),
        "socket": str(path),
        **{key: answer.get(key) for key in keys},
        "disabled_here": disabled(),
    }


def _server_line(server: dict[str, Any]) -> str:
    if not server["serving"]:
        line = f"warm server: not serving (socket {server['socket']})"
    else:
        line = (
            f"warm server: serving on {server['socket']} (pid {server['pid']}, since {server['started_at']}): "
            f"{server['requests']} requests answered, {server['running']} running, {server['idle'] or 0} idle"
        )
    if server["disabled_here"]:
        line += f"; {NO_SERVER_ENV} is set here: commands from this environment run cold"
    return line


@daemon_app.command("serve")
def serve(
    lifeline: Annotated[
        int | None, typer.Option("--lifeline", hidden=True, help="Stop when this descriptor closes (`daemon run`).")
    ] = None,
) -> None:
    """Serve your commands warm, without the jobs (`daemon run` does both); Ctrl-C or SIGTERM stops it.

    A command finds the server on its socket and runs in a process forked from it (reused for the next command
    when it ended cleanly), with its modules already imported: the same output and exit code, in a fraction of
    the time. FINBUDDY_NO_SERVER=1 turns it off."""
    import logging
    import os

    from finbuddy.cli import run_here
    from finbuddy.cli.warmup import IMPORT_TIME_ENV, forget_server_logging, preload, reusable_after
    from finbuddy.daemon.process import SERVER_LOG_NAME, daemon_logging, log_path
    from finbuddy.server import RESTART_EXIT, SOCKET_NAME
    from finbuddy.server.serve import WarmServer

    ctx = state.current().context
    settings = ctx.settings
    failed = preload(settings.paths.runtime_dir / "rehearsal")
    server = WarmServer(
        settings.paths.runtime_dir / SOCKET_NAME,
        settings.paths.config_file,
        run_here,
        started_at=ctx.now().isoformat(),
        import_time_env=IMPORT_TIME_ENV,
        in_child=forget_server_logging,
        lifeline_fd=lifeline,
        reusable=reusable_after,
    )
    console: logging.Handler | None = None
    if lifeline is None:
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        sys.stderr.write(
            f"finbuddy warm server: serving on {server.socket_path}; logging to "
            f"{log_path(settings, SERVER_LOG_NAME)}; stop with Ctrl-C or SIGTERM\n"
        )
    with daemon_logging(settings, console, name=SERVER_LOG_NAME):
        if failed:
            logging.getLogger("finbuddy.server").warning("warm-up incomplete: %s", ", ".join(failed))
        outcome = server.serve()
    if outcome == "restart":
        if lifeline is not None:
            raise typer.Exit(RESTART_EXIT)  # the daemon starts a new one
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(sys.executable, sys.orig_argv)  # a new process: the new version, the new configuration


def _brief_result(result: Any) -> str:
    if not isinstance(result, dict):
        return ""
    keys = (
        "done",
        "submitted",
        "in_batches",
        "planned",
        "messages",
        "skipped",
        "failed",
        "calls",
        "tokens",
        "culled",
        "refunded",
        "alerts",
        "stopped",
        "error",
    )
    return ", ".join(f"{k} {result[k]}" for k in keys if result.get(k) is not None)


@daemon_app.command("run-once")
def run_once(json_: JsonOption = False) -> None:
    """Run every job that is due now, then exit (the cron entry point). Exit 1 if a job failed.

    A job stopped by a typed error (the AI provider refusing the account, the database refusing writes) ends
    the command with that error's one line; the details are in the log and in `daemon status`.
    """
    from finbuddy.daemon.process import daemon_logging
    from finbuddy.daemon.scheduler import JobRunner

    ctx = state.current().context
    progress_for = None
    if not json_:
        from finbuddy.cli.output import console

        progress_for = _progress_factory(console(stderr=True))
    with daemon_logging(ctx.settings):
        runner = JobRunner(ctx, progress_for=progress_for)
        outcomes = runner.run_due("run-once", backoff=False)
        fatal = next((outcome.error for outcome in outcomes if outcome.error is not None), None)
        if fatal is not None:
            raise fatal
        views = runner.views()
    ran = {outcome.job for outcome in outcomes}
    data = {
        "ran": [outcome.to_json() for outcome in outcomes],
        "not_due": [{"job": v.name, "next_run": v.next_run.isoformat()} for v in views if v.name not in ran],
    }

    def render() -> None:
        for outcome in outcomes:
            detail = _brief_result(outcome.result)
            say(f"{outcome.job}: {outcome.status}{' — ' + detail if detail else ''} ({outcome.elapsed_s:.1f}s)")
        for item in data["not_due"]:
            say(f"{item['job']}: not due (next run {item['next_run']})")

    emit(data, json_, render)
    if any(outcome.status == "error" for outcome in outcomes):
        raise typer.Exit(1)


def insights(json_: JsonOption = False) -> None:
    """Show your latest daily insight and the day it was written for, and this month's budget alerts."""
    from finbuddy.daemon.insights import latest_insight
    from finbuddy.errors import NotFound
    from finbuddy.ledger.alerts import recent_alerts

    ctx = state.current().context
    alerts = recent_alerts(ctx)
    try:
        insight = latest_insight(ctx)
    except NotFound:
        if not alerts:
            raise
        insight = None  # the alerts are worth showing before the first insight is written
    empty = {"user": ctx.user, "date": None, "text": None, "source": None, "model": None, "figures": None}
    data = {**(insight.to_json() if insight is not None else {**empty, "written_at": None})}
    data["alerts"] = [alert.to_json() for alert in alerts]

    def render() -> None:
        if insight is not None:
            model = f" {insight.model}" if insight.model and insight.source != "offline" else ""
            say(f"Daily insight for {printable(insight.user)}, {insight.date.isoformat()} ({insight.source}{model}):")
            say(printable(insight.text, keep_newlines=True))
        else:
            say(f"No daily insight for {printable(ctx.user)} yet.")
        if alerts:
            say("")
            say("Budget alerts:")
            for alert in alerts:
                say(f"  {'!!' if alert.threshold >= 100 else '! '} {printable(alert.text)}")

    emit(data, json_, render)


def register(app: typer.Typer) -> None:
    app.add_typer(daemon_app, name="daemon")
    app.command("insights")(insights)
