"""End to end: the deployments in prefect.yaml on a real Prefect server, a process worker and the StatLine mirror.

One Prefect server (``prefect server start`` on 127.0.0.1, its own PREFECT_HOME and SQLite database) serves the
module. The commands are the ones docs/scheduling.md gives an operator:

    prefect work-pool create werkregio --type process
    prefect deploy --all                                      (from the project folder)
    prefect deployment run refresh/nightly-refresh --param tables=[...]
    prefect worker start --pool werkregio --run-once          (WERKREGIO_* set only here)

The worker starts in a scratch folder with WERKREGIO_HOME and WERKREGIO_CBS_URL in its environment and nowhere
else, so a completed run shows both that the pull step moves the flow run into the project folder and that the
flow-run subprocess inherits the worker's environment.

The server runs without its scheduler: the nightly schedule is checked as declared, and no scheduled run can
reach a worker in the middle of the test. Every wait is bounded; every process is stopped in a teardown.
"""

from __future__ import annotations

import fcntl
import http.server
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.objects import Artifact
from prefect.events import Event
from prefect.events.filters import EventFilter, EventNameFilter

from flows import runlog
from flows.tasks import PUBLISHED_EVENT
from sources.cbs import catalog
from tests.statline_mirror import StatLineMirror
from warehouse.store import query

pytestmark = pytest.mark.mirror

PROJECT = Path(__file__).resolve().parents[2]
PREFECT = Path(sys.executable).with_name("prefect")
TABLES = '["37789ksz", "regions"]'  # the national benefits table and the 'Gebieden in Nederland' family

SERVER_START_TIMEOUT = 180  # s: the first start creates and migrates the SQLite database
COMMAND_TIMEOUT = 240  # s: one prefect CLI command (deploy imports both flows)
WORKER_TIMEOUT = 480  # s: one `worker start --run-once`, including the flow runs it submits
API_RETRIES = 5  # times a 503 (the server's database busy) is retried, as by Prefect's client (PREFECT_CLIENT_MAX_RETRIES)
FINAL_STATES = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
# a command as a terminal starts it: SIGINT not ignored (a child of a background job would inherit SIG_IGN, and then
# neither Ctrl-C nor the SIGTERM a Prefect worker turns into SIGINT would stop it)
AS_IN_A_TERMINAL = "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tail(path: Path, chars: int = 6000) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return "(no output)"
    return text[-chars:]


def _stop(process: subprocess.Popen, first: int = signal.SIGINT) -> None:
    """Stop a process started with start_new_session=True and everything it started (its process group)."""
    if process.poll() is None:
        for sig, grace in ((first, 20), (signal.SIGTERM, 10), (signal.SIGKILL, 10)):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                break
            try:
                process.wait(timeout=grace)
                break
            except subprocess.TimeoutExpired:
                continue
    try:  # children that outlived the leader (a flow-run subprocess) share its process group
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class PrefectStack:
    """A Prefect server, the StatLine mirror and helpers to drive both through the prefect CLI."""

    def __init__(self, root: Path, mirror: StatLineMirror) -> None:
        self.root = root
        self.mirror = mirror
        self.port = _free_port()
        self.api_url = f"http://127.0.0.1:{self.port}/api"
        self.server_log = root / "server.log"
        self.logs: list[Path] = []
        self.server: subprocess.Popen | None = None
        base = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "WERKREGIO_"))}
        base.update(
            {
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "DO_NOT_TRACK": "1",
                "GX_ANALYTICS_ENABLED": "false",
                "PREFECT_CLI_PROMPT": "false",
            }
        )
        self.server_env = {**base, "PREFECT_HOME": str(root / "server-prefect-home")}
        # the CLI and the workers: their own PREFECT_HOME, the server's API, no WERKREGIO_* settings
        self.client_env = {**base, "PREFECT_HOME": str(root / "client-prefect-home"), "PREFECT_API_URL": self.api_url}

    # ------------------------------------------------------------------------------------------ processes

    def start_server(self) -> None:
        with self.server_log.open("wb") as out:
            self.server = subprocess.Popen(
                [str(PREFECT), "server", "start", "--host", "127.0.0.1", "--port", str(self.port), "--no-scheduler", "--no-ui"],
                cwd=self.root,
                env=self.server_env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while time.monotonic() < deadline:
            if self.server.poll() is not None:
                pytest.fail(f"prefect server exited with {self.server.returncode}:\n{_tail(self.server_log)}")
            try:
                if httpx.get(f"{self.api_url}/health", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(1)
        pytest.fail(f"prefect server not healthy within {SERVER_START_TIMEOUT} s:\n{_tail(self.server_log)}")

    def stop_server(self) -> None:
        if self.server is not None:
            _stop(self.server, signal.SIGTERM)

    def prefect(self, *args: str) -> str:
        """Run one prefect CLI command from the project folder; fail with its output when it fails."""
        try:
            done = subprocess.run(
                [str(PREFECT), *args],
                cwd=PROJECT,
                env=self.client_env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=COMMAND_TIMEOUT,
            )
        except subprocess.TimeoutExpired as err:
            pytest.fail(f"`prefect {' '.join(args)}` did not finish in {COMMAND_TIMEOUT} s:\n{err.stdout}\n{err.stderr}\n{self.diagnostics()}")
        output = done.stdout + done.stderr
        assert done.returncode == 0, f"`prefect {' '.join(args)}` exited {done.returncode}:\n{output[-6000:]}\n{self.diagnostics()}"
        return output

    def python(self, *args: str, code: int = 0) -> str:
        """The project's Python with ``args``, from the project folder, against this server; its output."""
        done = subprocess.run([sys.executable, *args], cwd=PROJECT, env=self.client_env, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=COMMAND_TIMEOUT)  # fmt: skip
        assert done.returncode == code, f"python {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}"
        return done.stdout + done.stderr

    def worker(self, home: Path, *extra: str) -> Path:
        """`prefect worker start --pool werkregio --run-once` in a scratch folder, WERKREGIO_* set only here."""
        log = self.root / f"worker-{len(self.logs) + 1}.log"
        self.logs.append(log)
        cwd = self.root / "worker-cwd"
        cwd.mkdir(exist_ok=True)
        env = {
            **self.client_env,
            "WERKREGIO_HOME": str(home),
            "WERKREGIO_CBS_URL": self.mirror.base_url,
            "PREFECT_LOGGING_EXTRA_LOGGERS": "werkregio",
        }
        command = [str(PREFECT), "worker", "start", "--pool", "werkregio", "--run-once", "--install-policy", "never", *extra]
        with log.open("wb") as out:
            process = subprocess.Popen(
                command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        try:
            process.wait(timeout=WORKER_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the --run-once worker did not exit within {WORKER_TIMEOUT} s\n{self.diagnostics()}")
        finally:
            _stop(process)
        assert process.returncode == 0, f"worker exited {process.returncode}\n{self.diagnostics()}"
        return log

    def diagnostics(self) -> str:
        parts = [f"--- prefect server ({self.server_log}) ---\n{_tail(self.server_log, 3000)}"]
        parts += [f"--- {log.name} ---\n{_tail(log)}" for log in self.logs]
        return "\n".join(parts)

    # ------------------------------------------------------------------------------------------ API reads

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        """One API call; a 503 is retried, as Prefect's own client does.

        Prefect's server answers 503 ("Service Unavailable", retry) when its SQLite database is
        busy, as when its services write the events of an earlier run at the same moment
        (seen once on a full CI run, creating a deployment's flow run).
        """
        for attempt in range(API_RETRIES + 1):
            response = httpx.request(method, f"{self.api_url}{path}", timeout=30, **kwargs)
            if response.status_code != 503 or attempt == API_RETRIES:
                break
            time.sleep(0.5 * (attempt + 1))
        response.raise_for_status()
        return response.json()

    def deployment(self, name: str) -> dict[str, Any]:
        return self.api("GET", f"/deployments/name/{name}")

    def run_deployment(self, name: str, *params: str) -> str:
        """`prefect deployment run NAME --param ...`; the new flow run's id."""
        args = ["deployment", "run", name]
        for param in params:
            args += ["--param", param]
        output = self.prefect(*args)
        found = re.search(r"UUID: ([0-9a-f-]{36})", output)
        assert found, f"no flow run id in:\n{output}"
        return found.group(1)

    def final_state(self, flow_run_id: str, timeout: float = 60) -> dict[str, Any]:
        """The flow run once it is in a final state (a --run-once worker exits after its runs end)."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.api("GET", f"/flow_runs/{flow_run_id}")
            if run["state_type"] in FINAL_STATES or time.monotonic() > deadline:
                return run
            time.sleep(1)

    def client(self) -> SyncPrefectClient:
        """Prefect's own client on this server: artifacts and events are read back as a user's script reads them."""
        return SyncPrefectClient(self.api_url)

    def artifacts(self, flow_run_id: str) -> dict[str, Artifact]:
        """The artifacts of a flow run, by key."""
        with self.client() as client:
            found = client.read_artifacts(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[UUID(flow_run_id)])))
        return {artifact.key: artifact for artifact in found}

    def published_event(self, run_id: str, wait: float = 60) -> Event:
        """The one ``werkregio.warehouse.published`` event of ``run_id`` (the server stores an event a moment after it comes)."""
        deadline = time.monotonic() + wait
        with self.client() as client:
            while True:
                named = EventFilter(event=EventNameFilter(name=[PUBLISHED_EVENT]))  # its 'until' is now: made anew each time
                found = [e for e in client.read_events(filter=named, limit=50).events if e.payload.get("run_id") == run_id]
                if found or time.monotonic() > deadline:
                    assert len(found) == 1, f"{len(found)} {PUBLISHED_EVENT} events of run {run_id}\n{self.diagnostics()}"
                    return found[0]
                time.sleep(2)

    def state_names(self, flow_run_id: str) -> list[str]:
        states = self.api("GET", "/flow_run_states/", params={"flow_run_id": flow_run_id})
        return [s["name"] for s in sorted(states, key=lambda s: s["timestamp"])]


@pytest.fixture(scope="module")
def stack(statline_root, tmp_path_factory) -> Iterator[PrefectStack]:
    """Mirror + server + the `werkregio` process pool + `prefect deploy --all` from the project folder."""
    root = tmp_path_factory.mktemp("prefect-e2e")
    with StatLineMirror(statline_root) as mirror:
        stack = PrefectStack(root, mirror)
        try:
            stack.start_server()
            stack.prefect("work-pool", "create", "werkregio", "--type", "process")
            output = stack.prefect("deploy", "--all", "--no-prompt")
            assert "refresh/nightly-refresh" in output and "recalculate_indicators/recalculate-indicators" in output, output
            yield stack
        finally:
            stack.stop_server()


def test_deployments_as_declared(stack):
    nightly = stack.deployment("refresh/nightly-refresh")
    recalc = stack.deployment("recalculate_indicators/recalculate-indicators")
    for deployment in (nightly, recalc):
        assert deployment["work_pool_name"] == "werkregio"
        assert deployment["global_concurrency_limit"]["limit"] == 1
        assert deployment["concurrency_options"]["collision_strategy"] == "ENQUEUE"
        [step] = deployment["pull_steps"]
        directory = step["prefect.deployments.steps.set_working_directory"]["directory"]
        assert Path(directory).resolve() == PROJECT.resolve()
    assert nightly["entrypoint"] == "flows/refresh.py:nightly_refresh"  # the refresh flow, retried
    [schedule] = nightly["schedules"]
    assert schedule["active"]
    assert schedule["schedule"]["timezone"] == "Europe/Amsterdam"
    hour = int(schedule["schedule"]["cron"].split()[1])
    assert 0 <= hour <= 5, schedule
    assert recalc["entrypoint"] == "flows/indicators.py:recalculate_indicators"
    assert recalc["schedules"] == []
    assert recalc["parameters"] == {"reference_year": None, "view": "harmonised"}
    assert set(recalc["parameter_openapi_schema"]["properties"]) == {"reference_year", "view"}
    assert recalc["parameter_openapi_schema"]["properties"]["view"]["enum"] == ["harmonised", "as_published"]  # the UI offers both


def test_nightly_refresh_then_recalculation_through_a_worker(stack, tmp_path):
    home = tmp_path / "werkregio-home"
    warehouse = home / "warehouse" / "werkregio.duckdb"

    refresh_id = stack.run_deployment("refresh/nightly-refresh", f"tables={TABLES}")
    stack.worker(home)
    run = stack.final_state(refresh_id)
    assert run["state_type"] == "COMPLETED", f"refresh ended {run['state_name']}\n{stack.diagnostics()}"
    assert run["parameters"]["tables"] == ["37789ksz", "regions"]
    assert run["empirical_policy"]["retries"] == 2 and run["empirical_policy"]["retry_delay"] == 15 * 60
    assert warehouse.is_file(), stack.diagnostics()
    shown_in_the_ui(stack, refresh_id, home)

    build = query(warehouse, "SELECT run_id, flow, cbs_url FROM build_info").to_dicts()
    assert build == [{"run_id": refresh_id, "flow": "refresh", "cbs_url": stack.mirror.base_url}]
    series = query(warehouse, "SELECT series, count(*) AS n FROM national_series GROUP BY series ORDER BY series").to_dicts()
    assert [s["series"] for s in series] == ["ww", "wwb"]
    assert sum(s["n"] for s in series) == 704
    assert query(warehouse, "SELECT count(*) AS n FROM region_membership")["n"][0] > 0
    indicators = query(warehouse, "SELECT view, geography_year, count(*) AS n FROM indicators GROUP BY ALL")
    assert indicators.height > 0 and indicators["n"].sum() > 0
    assert 2016 not in indicators.filter(indicators["view"] == "harmonised")["geography_year"].to_list()

    recalc_id = stack.run_deployment("recalculate_indicators/recalculate-indicators", "reference_year=2016")
    stack.worker(home)
    run = stack.final_state(recalc_id)
    assert run["state_type"] == "COMPLETED", f"recalculation ended {run['state_name']}\n{stack.diagnostics()}"
    assert run["parameters"] == {"reference_year": 2016, "view": "harmonised"}

    assert query(warehouse, "SELECT run_id, flow FROM build_info").to_dicts() == [{"run_id": recalc_id, "flow": "indicators"}]
    harmonised_2016 = query(
        warehouse, "SELECT count(*) AS n FROM indicators WHERE view = 'harmonised' AND geography_year = 2016"
    )["n"][0]
    assert harmonised_2016 > 0
    # the refresh's scenarios are kept next to the new one
    after = query(warehouse, "SELECT view, geography_year, count(*) AS n FROM indicators GROUP BY ALL")
    assert after.join(indicators, on=["view", "geography_year"], how="anti").to_dicts() == [
        {"view": "harmonised", "geography_year": 2016, "n": harmonised_2016}
    ]

    log = [json.loads(line) for line in (home / "runs.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(e["run_id"], e["event"]) for e in log] == [
        (refresh_id, "started"),
        (refresh_id, "finished"),
        (recalc_id, "started"),
        (recalc_id, "finished"),
    ]
    event = stack.published_event(recalc_id)
    assert event.payload["flow"] == "indicators" and event.payload["inputs_sha256"] is None  # a recalculation loads no inputs


def shown_in_the_ui(stack: PrefectStack, refresh_id: str, home: Path) -> None:
    """The refresh run's artifacts and its ``werkregio.warehouse.published`` event, read back with Prefect's client."""
    warehouse = home / "warehouse" / "werkregio.duckdb"
    artifacts = stack.artifacts(refresh_id)
    assert set(artifacts) == {"werkregio-download", "werkregio-tables", "werkregio-validation", "werkregio-published", "werkregio-indicator-report"}

    download = artifacts["werkregio-download"]
    assert (download.type, download.data) == ("progress", 100.0)
    count = len(catalog.select(json.loads(TABLES)))
    assert download.description.startswith(f"{count} of {count} tables done ({count} downloaded); ") and "rows downloaded" in download.description

    tables = json.loads(artifacts["werkregio-tables"].data)
    assert artifacts["werkregio-tables"].description == f"{count} tables: {count} fetched, 0 unchanged, 0 failed"
    national = next(t for t in tables if t["table"] == "37789ksz")
    assert (national["outcome"], national["rows"], national["Modified"]) == ("fetched", 352, "2025-04-23T02:00:00")

    validation = artifacts["werkregio-validation"].data
    report = home / "reports" / f"validation-{refresh_id}.html"
    assert validation.startswith(f"# Validation of run {refresh_id}: finished") and "| cbs_national_benefits | 37789ksz@" in validation
    assert f"[{report.name}]({report.as_uri()})" in validation and report.is_file()

    published = json.loads(artifacts["werkregio-published"].data)
    assert [(row["view"], row["reference_year"]) for row in published] == [("harmonised", 2025), ("as_published", None)]
    assert all(row["rows"] > 0 for row in published)

    link = artifacts["werkregio-indicator-report"]
    assert (link.type, link.data) == ("markdown", f"[werkregio-report.html]({(warehouse.parent / 'werkregio-report.html').as_uri()})")

    event = stack.published_event(refresh_id)
    build = query(warehouse, "SELECT run_id, inputs_sha256 FROM build_info").row(0, named=True)
    assert event.resource.id == f"werkregio.warehouse.{warehouse}"
    assert event.payload["path"] == str(warehouse) and event.payload["flow"] == "refresh"
    assert event.payload["inputs_sha256"] == build["inputs_sha256"] and event.payload["rows"]["source_tables"] == count
    assert f"prefect.flow-run.{refresh_id}" in [related.id for related in event.related]


def test_a_second_refresh_waits_for_the_first(stack, tmp_path):
    """Two refreshes queued at once: one runs, the other waits (AwaitingConcurrencySlot), then runs."""
    home = tmp_path / "werkregio-home"
    deployment = stack.deployment("refresh/nightly-refresh")
    body = {"parameters": {"tables": json.loads(TABLES)}}
    ids = [stack.api("POST", f"/deployments/{deployment['id']}/create_flow_run", json=body)["id"] for _ in range(2)]

    stack.worker(home)  # submits both: the server gives the one slot to one of them and makes the other wait
    states = {i: stack.state_names(i) for i in ids}
    waited = [i for i in ids if "AwaitingConcurrencySlot" in states[i]]
    assert len(waited) == 1, f"{states}\n{stack.diagnostics()}"
    [first] = [i for i in ids if i not in waited]
    assert stack.final_state(first)["state_type"] == "COMPLETED", stack.diagnostics()

    # the waiting run is rescheduled a little later (PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS);
    # a worker that looks far enough ahead picks it up
    stack.worker(home, "--prefetch-seconds", "600")
    assert stack.final_state(waited[0])["state_type"] == "COMPLETED", stack.diagnostics()

    log = [json.loads(line) for line in (home / "runs.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(e["run_id"], e["event"]) for e in log] == [
        (first, "started"),
        (first, "finished"),
        (waited[0], "started"),
        (waited[0], "finished"),
    ]


def test_a_failed_run_sends_the_failure_notification_of_docs_scheduling(stack, tmp_path):
    """The automation of docs/scheduling.md (``python -m flows.notifications``), through a custom webhook block
    that posts to this test: a recalculation on a data dir with nothing published fails, and the message comes."""
    received: list[dict[str, Any]] = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    try:
        block = (
            "from prefect.blocks.notifications import CustomWebhookNotificationBlock as B; "
            f"B(name='test', url='http://127.0.0.1:{hook.server_port}/hook', json_data={{'subject': '{{{{subject}}}}', "
            "'body': '{{body}}'}).save('werkregio-test-alerts', overwrite=True)"
        )
        stack.python("-c", block)
        missing = stack.python("-m", "flows.notifications", "slack-webhook/werkregio-nothing", code=1)
        assert "python -m flows.notifications: no slack-webhook block named 'werkregio-nothing' on http" in missing
        assert ": create it first (docs/scheduling.md)" in missing and "Traceback" not in missing
        assert "created the automation 'werkregio run failed'" in stack.python("-m", "flows.notifications", "custom-webhook/werkregio-test-alerts")

        home = tmp_path / "nothing-published"
        recalc_id = stack.run_deployment("recalculate_indicators/recalculate-indicators", "reference_year=2016")
        stack.worker(home)
        assert stack.final_state(recalc_id)["state_type"] == "FAILED", stack.diagnostics()
        deadline = time.monotonic() + 120
        while not received and time.monotonic() < deadline:
            time.sleep(1)
    finally:
        hook.shutdown()

    [message] = received
    run = stack.api("GET", f"/flow_runs/{recalc_id}")
    assert message["subject"] == f"werkregio: recalculate_indicators run {run['name']} Failed"
    assert message["body"].startswith(f"The werkregio recalculate_indicators run {run['name']} ({recalc_id}) ended Failed:\nno published facts")
    assert "`werkregio status` shows the run" in message["body"]


def test_the_worker_stops_on_one_ctrl_c_while_a_run_downloads(stack, tmp_path):
    """Ctrl-C in the worker's terminal (SIGINT to its process group) stops it at once, and the flow run it started."""
    home = tmp_path / "werkregio-home"
    tag = f"ctrl-c-{uuid.uuid4().hex}"
    env = {**stack.client_env, "WERKREGIO_HOME": str(home), "WERKREGIO_CBS_URL": stack.mirror.base_url, "WERKREGIO_TEST_TAG": tag,
           "PYTHONUNBUFFERED": "1"}  # fmt: skip  - what the worker printed is in its log however it ends
    log = stack.root / "worker-ctrl-c.log"
    stack.logs.append(log)
    stack.mirror.latency(1.0)  # every request a second late: the downloads last a while
    stack.mirror.reset_log()  # the earlier tests' downloads: the signal waits for this run's
    try:
        refresh_id = stack.run_deployment("refresh/nightly-refresh", f"tables={TABLES}")
        with log.open("wb") as out:
            worker = subprocess.Popen(
                [sys.executable, "-c", AS_IN_A_TERMINAL, str(PREFECT), "worker", "start", "--pool", "werkregio", "--install-policy", "never"],
                cwd=stack.root, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        try:
            deadline = time.monotonic() + WORKER_TIMEOUT
            while not stack.mirror.requests_for(endpoint="TypedDataSet"):
                assert worker.poll() is None and time.monotonic() < deadline, f"no download started\n{stack.diagnostics()}"
                time.sleep(0.5)
            os.killpg(worker.pid, signal.SIGINT)
            try:
                worker.wait(timeout=60)
            except subprocess.TimeoutExpired:
                pytest.fail(f"the worker did not stop within 60 s of one Ctrl-C\n{stack.diagnostics()}")
        finally:
            _stop(worker)
        time.sleep(3)
        assert tagged_processes(tag) == [], "a process of the worker or its flow run is still running"
    finally:
        stack.mirror.clear_faults()
        # the killed run stays Running in the API (no heartbeat automation here): end it, freeing its concurrency slot
        stack.api("POST", f"/flow_runs/{refresh_id}/set_state", json={"state": {"type": "CRASHED", "name": "Crashed"}, "force": True})

    assert "Worker '" in log.read_text() and "stopped!" in log.read_text(), f"exit {worker.returncode}\n{_tail(log)}"
    with (home / ".pipeline.lock").open("a") as lock:  # the data dir is free for the next run
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    assert not (home / "warehouse" / "werkregio.duckdb").exists()
    # the flow run runs in a process group of its own (Prefect's process worker): the worker ends it as it stops
    [run] = runlog.runs(home / "runs.jsonl")
    assert (run.run_id, run.status) == (refresh_id, "running or killed"), f"{run}\n{_tail(log)}"


def tagged_processes(tag: str) -> list[int]:
    """Live processes whose environment holds ``WERKREGIO_TEST_TAG=<tag>``."""
    needle = f"WERKREGIO_TEST_TAG={tag}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                if handle.read().rsplit(b")", 1)[1].split()[0] in (b"Z", b"X"):
                    continue
            with open(f"/proc/{entry}/environ", "rb") as handle:
                if needle in handle.read().split(b"\0"):
                    found.append(int(entry))
        except OSError:
            continue
    return found
