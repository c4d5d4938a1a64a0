"""Validation in worker processes (flows.validation_workers): same outcome as in one process, clean failures, no strays."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest

from flows import runlog
from sources.cbs import catalog
from sources.cbs.landing import Landing, LandingUnreadable
from flows.settings import Settings
from flows.validation import ValidationJob, planned_jobs, worker_count
from flows.validation_workers import ValidationWorkerDied, ValidationWorkers, end_early, start_early, validation_workers
from tests.flows.test_refresh import corrupted_national, published_tables, run_refresh, sha, stopped_by_the_negative_count
from tests.statline_mirror import StatLineMirror
from warehouse.store import query

NATIONAL = catalog.national_benefits()
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def home(tmp_path, monkeypatch, statline_root) -> Iterator[Path]:
    """A data dir whose builds use 2 validation workers, fed by a StatLine mirror of 1,000 rows a page."""
    monkeypatch.setenv("WERKREGIO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WERKREGIO_VALIDATION_WORKERS", "2")
    with StatLineMirror(statline_root, page_size=1000) as mirror:
        monkeypatch.setenv("WERKREGIO_CBS_URL", mirror.base_url)
        yield tmp_path / "home"


def group_members(leader: int) -> list[int]:
    """Live (not zombie) processes in the process group ``leader`` leads."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if fields[0] not in (b"Z", b"X") and int(fields[2]) == leader:
            found.append(int(entry))
    return found


def gone_within(leader: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while group_members(leader):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def missing_landing(tmp_path: Path) -> Landing:
    return Landing(NATIONAL.table_id, "2025-04-23T02:00:00", "now", 352, "0" * 64, "http://x", str(tmp_path / "nowhere"), {})


TABLES = [NATIONAL.table_id, "82496NED", catalog.WW_MUNICIPAL]
CHECKS = "SELECT * EXCLUDE (run_id) FROM validation_results ORDER BY ALL"


@dataclass
class OneProcessBuild:
    """A refresh of :data:`TABLES` validated in the flow's process, to compare a build in workers with."""

    record: dict
    warehouse: Path
    tables: dict
    checks: pl.DataFrame

    @classmethod
    def of(cls, home: Path, monkeypatch) -> OneProcessBuild:
        """Built, then the stored reports removed and 2 workers set for the build that follows."""
        monkeypatch.setenv("WERKREGIO_VALIDATION_WORKERS", "0")
        record = run_refresh(tables=TABLES)
        warehouse = Settings.from_env().warehouse_path
        built = cls(record, warehouse, published_tables(warehouse), query(warehouse, CHECKS))
        shutil.rmtree(home / "validated")
        monkeypatch.setenv("WERKREGIO_VALIDATION_WORKERS", "2")
        return built

    def assert_equal(self, record: dict) -> None:
        """The refresh of ``record`` published the same tables and validation results."""
        assert record["validation"] == self.record["validation"]
        for name, frame in published_tables(self.warehouse).items():
            assert frame.equals(self.tables[name]), name
        assert query(self.warehouse, CHECKS).equals(self.checks)


@pytest.mark.mirror
@pytest.mark.usefixtures("prefect_server")
def test_a_build_in_workers_publishes_what_one_process_does(home, monkeypatch):
    from flows import validation_workers

    one = OneProcessBuild.of(home, monkeypatch)
    handed = []
    real = validation_workers.ValidationWorkers.run

    def spy(self, job):
        validated = real(self, job)
        handed.append((job.table_id, validated.worker))
        return validated

    monkeypatch.setattr(validation_workers.ValidationWorkers, "run", spy)
    marts = marts_spy(monkeypatch)
    two = run_refresh(tables=TABLES, offline=True, force=True)

    assert len(marts) == 1 and marts[0]["validated"] < len(handed), "the marts, once, while the workers validated"
    assert sorted(t for t, _ in handed) == sorted(t["table_id"] for t in one.record["tables"])
    assert all(pid not in (None, os.getpid()) for _, pid in handed) and len({pid for _, pid in handed}) == 2
    one.assert_equal(two)
    assert len(list((home / "validated").rglob("*.json"))) == len(handed)  # each worker kept its reports
    assert not list((home / "validated").rglob("*.partial"))


@pytest.mark.mirror
@pytest.mark.usefixtures("prefect_server")
def test_workers_started_ahead_validate_each_planned_job_once_and_answer_the_build_with_it(home, monkeypatch):
    from flows import validation_workers

    one = OneProcessBuild.of(home, monkeypatch)
    settings = Settings.from_env()
    planned = planned_jobs(settings.raw_dir, settings.home, 2)
    assert sorted(job.table_id for job in planned) == sorted(t["table_id"] for t in one.record["tables"])
    answered = []
    real = validation_workers.ValidationWorkers.run

    def spy(self, job):
        validated = real(self, job)
        answered.append((job, validated))
        return validated

    monkeypatch.setattr(validation_workers.ValidationWorkers, "run", spy)
    start_early(2, ahead=(settings.raw_dir, settings.home))
    workers = validation_workers._early
    reports = lambda: sorted((home / "validated").rglob("*.json"))  # noqa: E731
    deadline = time.monotonic() + 120
    while len(reports()) < len(planned):  # every planned job validated before the build asks
        assert time.monotonic() < deadline and workers.alive(), "the workers did not validate the planned jobs ahead"
        time.sleep(0.1)
    written = {path: path.stat().st_ino for path in reports()}
    pids = set(group_members(workers.leader.pid))
    assert len(pids) == 2

    two = run_refresh(tables=TABLES, offline=True, force=True)

    assert workers.claims is not None and not workers.claims.exists()  # the build's claims went with its workers
    by_table = sorted(answered, key=lambda pair: pair[0].table_id)
    assert [job for job, _ in by_table] == sorted(planned, key=lambda job: job.table_id)  # the very jobs planned
    assert all(v.ahead and v.worker in pids and v.seconds > 0 for _, v in by_table)
    assert {path: path.stat().st_ino for path in reports()} == written  # none validated (or written) again
    one.assert_equal(two)


def test_a_job_is_answered_with_what_was_found_ahead_only_when_it_is_the_very_job_planned(tmp_path):
    from expectations.runner import ValidationReport
    from flows.validation import Validated
    from flows.validation_workers import Claims, _validate, validate_ahead

    claims = Claims(tmp_path)
    planned = ValidationJob(NATIONAL.table_id, missing_landing(tmp_path), {2024: frozenset({"GM0363"})}, None, None)
    found = Validated(ValidationReport(NATIONAL.table_id, planned.batch, ()), reused=False, seconds=1.5, worker=4321)
    claims.keep(planned, found)

    answer = _validate(planned, claims)  # its landing is missing: validating it would raise
    assert answer == Validated(found.report, reused=False, seconds=1.5, worker=4321, ahead=True)
    other_codes = ValidationJob(planned.table_id, planned.landing, {2024: frozenset({"GM0034"})}, None, None)
    assert claims.found(other_codes) is None
    with pytest.raises(LandingUnreadable):  # the same batch with other municipality codes: validated anew
        _validate(other_codes, claims)

    unplanned = ValidationJob("82496NED", missing_landing(tmp_path), {}, None, None)
    validate_ahead(claims, unplanned)  # fails: nothing kept, nothing raised, the lock released
    assert claims.found(unplanned) is None and not claims.is_done(unplanned)
    fd = claims.lock(unplanned, wait=False)
    assert fd is not None
    os.close(fd)


def test_a_batch_lock_is_released_when_its_holder_is_killed(tmp_path):
    from flows.validation_workers import Claims

    claims = Claims(tmp_path)
    job = ValidationJob(NATIONAL.table_id, missing_landing(tmp_path), {}, None, None)
    code = (
        "import pickle, sys, time; from pathlib import Path; from flows.validation_workers import Claims\n"
        "job = pickle.loads(sys.stdin.buffer.read())\n"
        f"fd = Claims(Path({str(tmp_path)!r})).lock(job, wait=True); print('locked', flush=True); time.sleep(60)"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=False)
    try:
        holder.stdin.write(pickle.dumps(job))
        holder.stdin.close()
        assert holder.stdout.readline() == b"locked\n"
        assert claims.lock(job, wait=False) is None  # another worker has the batch
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    fd = claims.lock(job, wait=False)
    assert fd is not None
    os.close(fd)


def marts_spy(monkeypatch) -> list[dict]:
    """Record each computation of the refresh's marts: how many batches the workers had answered by then."""
    from flows import refresh, validation_workers

    answered, calls = [], []
    real_run, real_marts = validation_workers.ValidationWorkers.run, refresh.compute_marts

    def run(self, job):
        validated = real_run(self, job)
        answered.append(job.table_id)
        return validated

    def marts(facts, chosen):
        calls.append({"validated": len(answered), "uwv_vacancies": facts["uwv_vacancies"].height})
        return real_marts(facts, chosen)

    monkeypatch.setattr(validation_workers.ValidationWorkers, "run", run)
    monkeypatch.setattr(refresh, "compute_marts", marts)
    return calls


@pytest.mark.mirror
@pytest.mark.usefixtures("prefect_server")
def test_marts_computed_while_the_workers_validate_are_computed_again_when_a_uwv_file_is_taken_in(home, statline_root, monkeypatch):
    import datetime as dt

    from tests import uwv_files
    from tests.flows.test_refresh_uwv import GEBIEDEN_2016, members_2016
    from transforms.uwv import VACANCIES

    monkeypatch.setenv("WERKREGIO_REFERENCE_YEAR", "2016")
    regions = {code: name for code, name in members_2016(statline_root).values()}
    rows = uwv_files.vacancies([dt.date(2016, 1, 1)], regions)
    inbox = home / "inbox" / "uwv"
    inbox.mkdir(parents=True)
    uwv_files.write_csv(inbox / "vacatures_2016.csv", VACANCIES, rows)
    marts = marts_spy(monkeypatch)

    result = run_refresh(tables=[NATIONAL.table_id, GEBIEDEN_2016])

    assert [item["status"] for item in result["uwv_files"]] == ["accepted"]
    assert [call["uwv_vacancies"] for call in marts] == [0, len(rows)], "again, with the file taken in"
    published = query(Settings.from_env().warehouse_path, "SELECT count(*) AS n FROM indicators WHERE indicator = 'uwv_vacancies'")
    assert published["n"][0] > 0


@pytest.mark.mirror
@pytest.mark.usefixtures("prefect_server")
def test_a_failure_found_in_a_worker_stops_the_build_and_wins_over_a_transform_error(home, statline_root, tmp_path, monkeypatch):
    run_refresh(tables=[NATIONAL.table_id])
    warehouse = Settings.from_env().warehouse_path
    before = sha(warehouse)
    corrupted = corrupted_national(statline_root, tmp_path / "corrupted")

    def broken(*args, **kwargs):  # what bad data may do to a transform while the workers still validate
        raise RuntimeError("a transform choked on the data")

    monkeypatch.setattr("flows.build.national_series", broken)
    with pytest.raises(RuntimeError, match="a transform choked"):  # data that validates: the transform's error it is
        run_refresh(tables=[NATIONAL.table_id], offline=True, force=True)
    with StatLineMirror(corrupted) as bad, pytest.MonkeyPatch.context() as patch:
        patch.setenv("WERKREGIO_CBS_URL", bad.base_url)
        with pytest.raises(Exception) as caught:
            run_refresh(tables=[NATIONAL.table_id])

    assert type(caught.value).__name__ == "ValidationStopped"
    stopped_by_the_negative_count(caught.value, warehouse, before)



@pytest.mark.mirror
@pytest.mark.usefixtures("prefect_server")
def test_workers_killed_mid_build_fail_the_run_cleanly(home, monkeypatch):
    from flows import validation_workers

    run_refresh(tables=[NATIONAL.table_id, "82496NED"])
    warehouse = Settings.from_env().warehouse_path
    before = sha(warehouse)
    shutil.rmtree(home / "validated")
    leaders = []
    real = validation_workers.ValidationWorkers.run

    def killed_first(self, job):
        leaders.append(self.leader.pid)
        os.killpg(self.leader.pid, signal.SIGKILL)  # as the out-of-memory killer would
        return real(self, job)

    monkeypatch.setattr(validation_workers.ValidationWorkers, "run", killed_first)
    with pytest.raises(Exception) as caught:
        run_refresh(tables=[NATIONAL.table_id, "82496NED"], offline=True, force=True)

    assert "gave no report of" in str(caught.value) and "nothing was published" in str(caught.value)
    assert sha(warehouse) == before
    assert runlog.runs(Settings.from_env().run_log_path)[-1].status == "failed"
    assert gone_within(leaders[0], 5.0)


def test_an_error_raised_in_a_worker_is_raised_in_the_flow_as_itself(tmp_path):
    job = ValidationJob(NATIONAL.table_id, missing_landing(tmp_path), {}, None, None)
    with validation_workers(1) as workers:
        with pytest.raises(LandingUnreadable) as caught:
            workers.run(job)
        assert f"the landed file {tmp_path / 'nowhere' / 'TypedDataSet.parquet'} cannot be read (FileNotFoundError" in str(caught.value)
        assert any("raised in validation worker pid" in note and job.batch in note for note in caught.value.__notes__)
        with pytest.raises(LandingUnreadable):  # the worker answers the next job as well
            workers.run(job)


def test_a_dead_worker_fails_every_job_at_once_naming_its_batch(tmp_path):
    job = ValidationJob(NATIONAL.table_id, missing_landing(tmp_path), {}, None, None)
    workers = ValidationWorkers(2)
    try:
        workers.kill()
        for _ in range(3):
            with pytest.raises(ValidationWorkerDied, match=f"gave no report of {job.batch}"):
                workers.run(job)
    finally:
        workers.close(kill=True)
    assert workers.leader.returncode is not None


def test_workers_end_with_their_block(tmp_path):
    with validation_workers(3) as workers:
        leader = workers.leader.pid
        deadline = time.monotonic() + 60
        while len(group_members(leader)) < 3 and time.monotonic() < deadline:  # the leader forks the others after GX
            time.sleep(0.1)
        assert len(group_members(leader)) == 3
    assert workers.leader.returncode is not None
    assert gone_within(leader, 5.0)


def test_workers_end_on_their_own_when_the_flow_is_killed(tmp_path):
    code = (
        "import time; from flows.validation_workers import ValidationWorkers\n"
        "w = ValidationWorkers(2); print(w.leader.pid, flush=True); time.sleep(600)\n"
    )
    flow = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        leader = int(flow.stdout.readline())
        deadline = time.monotonic() + 60
        while len(group_members(leader)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(group_members(leader)) == 2
    finally:
        flow.kill()
        flow.wait()
        flow.stdout.close()
    assert gone_within(leader, 5.0)


@pytest.mark.mirror
@pytest.mark.usefixtures("prefect_server")
def test_a_command_killed_while_its_workers_validate_ahead_leaves_no_process_and_the_next_removes_its_claims(home):
    run_refresh(tables=TABLES)
    shutil.rmtree(home / "validated")
    settings = Settings.from_env()
    code = (
        "import sys, time; from pathlib import Path; from flows.validation_workers import ValidationWorkers\n"
        "w = ValidationWorkers(2, ahead=(Path(sys.argv[1]), Path(sys.argv[2])))\n"
        "print(w.leader.pid, w.claims, flush=True); time.sleep(600)\n"
    )
    command = subprocess.Popen([sys.executable, "-c", code, str(settings.raw_dir), str(settings.home)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        leader, claims = command.stdout.readline().split()
        leader, claims = int(leader), Path(claims)
        assert claims.name.startswith(f"werkregio-validation-{command.pid}-")
        deadline = time.monotonic() + 120
        while not list(claims.glob("*.done")):  # killed while validating ahead
            assert time.monotonic() < deadline, "nothing was validated ahead"
            time.sleep(0.05)
    finally:
        command.kill()
        command.wait()
        command.stdout.close()
    assert gone_within(leader, 5.0)  # no worker outlives the command
    assert claims.is_dir()  # the command could not remove it
    mine = ValidationWorkers(1, ahead=(settings.raw_dir, settings.home))  # the next build validating ahead
    try:
        assert not claims.exists() and mine.claims.is_dir()
    finally:
        mine.close()
    assert not mine.claims.exists()
    for report in (home / "validated").rglob("*.json"):  # what was kept is whole: written aside, then renamed
        assert json.loads(report.read_text(encoding="utf-8"))["records"]


SPIED_LEADER = (
    "import os, pathlib, sys\n"
    "marks = pathlib.Path(os.environ['SPY_MARKS'])\n"
    "class Spy:  # notes GX's import, finds nothing itself\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name == 'great_expectations':\n"
    "            (marks / 'gx').touch()\n"
    "sys.meta_path.insert(0, Spy())\n"
    "import flows.validation_workers as module\n"
    "waits = module._a_job_arrives\n"
    "def idle(fds):\n"
    "    (marks / 'idle').touch()\n"
    "    return waits(fds)\n"
    "module._a_job_arrives = idle\n"
    "module.main(sys.argv[1:])\n"
)


@pytest.mark.mirror
@pytest.mark.usefixtures("prefect_server")
def test_workers_started_ahead_of_a_build_with_nothing_to_do_import_no_gx_unless_a_job_comes(home, tmp_path, monkeypatch):
    """`refresh --offline` on unchanged inputs publishes nothing: its workers wait without GX, and still answer a job."""
    from flows.inputs import nothing_to_build

    run_refresh(tables=TABLES)
    settings = Settings.from_env()
    assert nothing_to_build(settings)
    command = (sys.executable, "-c", SPIED_LEADER)
    pool = ThreadPoolExecutor(2)  # its threads end once the workers are closed, even if they hang
    for ending in ("closed", "a job"):
        marks = tmp_path / ending
        marks.mkdir()
        monkeypatch.setenv("SPY_MARKS", str(marks))
        workers = ValidationWorkers(2, command=command, ahead=(settings.raw_dir, settings.home), unless_unchanged=True)
        try:
            deadline = time.monotonic() + 60
            while not (marks / "idle").exists():
                assert time.monotonic() < deadline and workers.alive(), "the leader did not wait idle"
                time.sleep(0.05)
            time.sleep(0.5)
            assert not (marks / "gx").exists() and group_members(workers.leader.pid) == [workers.leader.pid]
            if ending == "a job":  # the flow built after all (its inputs changed meanwhile): GX, the forks, answers
                jobs = planned_jobs(settings.raw_dir, settings.home, 2)
                futures = [pool.submit(workers.run, job) for job in jobs]  # both workers busy: the fork works too
                answers = [future.result(timeout=120) for future in futures]
                assert all(validated.report.records and validated.worker in group_members(workers.leader.pid) for validated in answers)
                assert (marks / "gx").exists() and len(group_members(workers.leader.pid)) == 2
        finally:
            workers.close(kill=True)
        assert gone_within(workers.leader.pid, 5.0)
    pool.shutdown()
    assert not (tmp_path / "closed" / "gx").exists()


def test_workers_started_early_are_taken_over_once_or_ended():
    start_early(2)
    from flows import validation_workers as module

    early = module._early
    with validation_workers(2) as workers:
        assert workers is early
    assert module._early is None and early.leader.returncode is not None

    start_early(2)
    early = module._early
    with validation_workers(1) as workers:  # another count: new workers, the early ones ended
        assert workers is not early and len(workers.channels) == 1
        assert early.leader.poll() is not None
    start_early(2)
    early = module._early
    with validation_workers(0) as workers:
        assert workers is None and early.leader.poll() is not None
    start_early(1)
    early = module._early
    end_early()
    assert module._early is None and early.leader.returncode is not None
    start_early(0)
    assert module._early is None


def test_a_build_with_a_table_for_pieces_validates_in_the_flows_process(tmp_path):
    from expectations.runner import ROWS_PER_PIECE

    def landing(rows: int) -> Landing:
        return Landing("t", "m", "f", rows, "s", "u", str(tmp_path), {})

    assert worker_count(2, [landing(10), landing(ROWS_PER_PIECE)]) == 2
    assert worker_count(2, [landing(10), landing(ROWS_PER_PIECE + 1)]) == 0
    assert worker_count(0, [landing(10)]) == 0


def test_the_worker_module_starts_without_polars_or_gx():
    """The command starts workers before it imports anything heavy: this module must stay on the standard library."""
    code = "import sys, flows.validation_workers; print(sorted(m for m in ('polars', 'great_expectations', 'prefect') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_workers_without_a_writable_temporary_directory_validate_only_what_they_are_handed(tmp_path, monkeypatch):
    import tempfile

    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    monkeypatch.setattr(tempfile, "tempdir", str(blocked))
    workers = ValidationWorkers(1, ahead=(tmp_path / "raw", tmp_path / "home"))
    try:
        assert workers.claims is None and workers.alive()
        assert "--ahead" not in workers.leader.args
    finally:
        workers.close()


def test_a_claims_directory_removed_mid_build_leaves_validation_to_each_job(tmp_path):
    from flows.validation_workers import Claims, _validate, validate_ahead

    claims = Claims(tmp_path / "gone")  # removed by a cleaner of the temporary directory
    job = ValidationJob(NATIONAL.table_id, missing_landing(tmp_path), {}, None, None)
    validate_ahead(claims, job)  # nothing ahead, nothing raised
    assert claims.found(job) is None
    with pytest.raises(LandingUnreadable):  # the job itself is validated (here: its landing is missing)
        _validate(job, claims)
