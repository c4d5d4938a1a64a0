"""kill -9 of a refresh at chosen moments (issue 6): the published file survives, a rerun equals a clean run.

Each trial starts ``werkregio refresh`` for the subset (national benefits 37789ksz and Gebieden in Nederland
2016, 83287NED) as a subprocess in its own session (``start_new_session=True``), through
``tests/reliability/_killable.py``, which prints a marker line when the run enters a phase (fetch, landing,
validation, transform, load into the building file, check, fsync before ``os.replace``, after it). The
mirror reports a new ``Modified`` for both tables and answers every request after 0.1 s, so the run
downloads both again and fetching takes a few seconds. The test waits for the marker of the phase it aims
at, waits a seeded random delay and sends SIGKILL to the whole process group (the CLI, its worker threads
and, on the default path, the temporary Prefect server it started): what a machine crash does to the
pipeline's processes. Then:

* no process of the trial survives (found by a tag in their environment, so a process that had left the
  process group would be found too, after 3 s of grace);
* the pipeline lock is free and ``status`` still works, showing the killed run;
* the published file, if one existed before, opens read-only, passes the integrity check and is either
  byte-identical to the previous publish or a complete new build equal to a clean run; if none existed,
  there is none or a complete new build;
* leftovers (``.building-*``, ``.staging-*``, ``*.partial``) are recorded; a rerun completes, its published
  tables equal a clean run's, and no building file is left.

The quick variant (default run) does one trial per phase and one while tables are being validated;
the full variant (``-m slow``) 24 trials.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pytest

from sources.cbs.landing import landings
from flows.settings import Settings
from tests.reliability._checks import IntegrityError, check_integrity, differences, leftovers, lock_is_free, sha256
from tests.reliability._killable import PREFIX
from tests.reliability.conftest import (
    GEBIEDEN_2016,
    NATIONAL,
    QUICK_RETRIES,
    ROOT,
    SUBSET,
    build_home,
    environment,
    pids_with_tag,
    run_refresh,
    warehouse_of,
)
from tests.statline_mirror import StatLineMirror
from warehouse.store import query

pytestmark = [pytest.mark.mirror, pytest.mark.usefixtures("prefect_server")]

NEW_MODIFIED = "2026-01-01T02:00:00"
TRIAL_PAGE_SIZE = 25  # 15-16 pages per table
TRIAL_LATENCY = 0.1  # seconds per request while a trial runs: fetching lasts a few seconds
WERKREGIO = Path(sys.executable).with_name("werkregio")
GROUPS = {
    "fetch": "fetch", "land": "fetch", "land-commit": "fetch",
    "validate": "transform", "transform": "transform",
    "load": "load",
    "check": "publish", "pre-replace": "publish", "post-replace": "publish",
}  # fmt: skip


@dataclass
class Trial:
    index: int
    aim: str  # fetch | transform | load | publish
    marker: str  # the phase marker to wait for
    delay: float  # seconds between seeing the marker and the kill
    hold: str | None = None  # WERKREGIO_TEST_HOLD for the killed run
    previous: bool = True  # a publish exists before the trial
    own_server: bool = True  # Prefect starts its temporary server for the CLI (else: the session's API)
    rerun: str = "in-process"  # in-process | subprocess (the `werkregio` command, same PREFECT_HOME)
    # outcome
    reached: str | None = None  # the last marker the killed run printed
    exit: int | None = None
    published: str | None = None  # previous | new | absent
    leftovers: dict[str, list[str]] = field(default_factory=dict)
    staging_used: bool = False  # a .staging-* folder was taken as a landing (see test_landing_killed_before_rename)
    orphans: int = 0
    rerun_ok: bool = False
    rerun_leftovers: dict[str, list[str]] = field(default_factory=dict)


class Running:
    """A subprocess whose merged output is read by a thread, with a wait for a line prefix."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.lines: list[str] = []
        self._seen = threading.Condition()
        self.process = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True, bufsize=1,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            with self._seen:
                self.lines.append(line.rstrip("\n"))
                self._seen.notify_all()
        with self._seen:
            self._seen.notify_all()

    def wait_for(self, prefix: str, timeout: float) -> bool:
        """Until a line starting with ``prefix`` appears (True) or the process ends or time is up (False)."""
        deadline = time.monotonic() + timeout
        with self._seen:
            while True:
                if any(line.startswith(prefix) for line in self.lines):
                    return True
                if self.process.poll() is not None and not self._reader.is_alive():
                    return False
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._seen.wait(min(left, 0.5))

    def kill_group(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=60)
        self._reader.join(timeout=30)

    def markers(self) -> list[str]:
        return [line[len(PREFIX) + 1 :] for line in self.lines if line.startswith(PREFIX)]

    def tail(self, n: int = 40) -> str:
        return "\n".join(self.lines[-n:])


def subprocess_env(home: Path, prefect_home: Path, mirror: StatLineMirror, tag: str, api_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "WERKREGIO_"))}
    env.update(
        WERKREGIO_HOME=str(home),
        WERKREGIO_CBS_URL=mirror.base_url,
        WERKREGIO_CONCURRENCY="1",
        WERKREGIO_RELIABILITY_TAG=tag,
        PREFECT_HOME=str(prefect_home),
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="180",
        PYTHONUNBUFFERED="1",
        **QUICK_RETRIES,
    )
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return env




def reap_orphans(tag: str, grace: float = 3.0) -> int:
    """Kill (by pid) any process of the trial still alive ``grace`` seconds after the group kill; return how many.

    The grace is for a process that ends on its own once the command is gone (Prefect's temporary
    server watches its parent).
    """
    deadline = time.monotonic() + grace
    while (survivors := pids_with_tag(tag)) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in survivors:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return len(survivors)


class Lab:
    """A mirror whose tables have a new Modified, a home published before it, and a clean run's result."""

    def __init__(self, statline_root: Path, workdir: Path, api_url: str) -> None:
        self.workdir = workdir
        self.api_url = api_url
        self.mirror = StatLineMirror(statline_root, page_size=TRIAL_PAGE_SIZE).start()
        # the published state before each trial: the subset at its stored Modified
        self.before = build_home(statline_root, workdir / "before")
        self.before_sha = sha256(warehouse_of(self.before.home))
        # what the trial runs are asked to build: both tables republished by CBS (same rows, new Modified)
        for table in SUBSET:
            self.mirror.set_modified(table, NEW_MODIFIED)
        clean = workdir / "clean"
        with environment(WERKREGIO_HOME=str(clean), WERKREGIO_CBS_URL=self.mirror.base_url, **QUICK_RETRIES):
            run_refresh(tables=SUBSET)
        self.clean = check_integrity(warehouse_of(clean))
        assert differences(self.clean.fingerprint, self.before.integrity.fingerprint) != [], "the new version must differ"

    def close(self) -> None:
        self.mirror.stop()

    def matches_clean(self, path: Path) -> bool:
        return differences(check_integrity(path).fingerprint, self.clean.fingerprint) == []

    def run(self, trial: Trial) -> Trial:
        folder = self.workdir / f"trial-{trial.index:02d}"
        home = folder / "home"
        if trial.previous:
            self.before.copy_to(home)
        else:
            home.mkdir(parents=True)
        prefect_home = folder / "prefect"
        tag = uuid.uuid4().hex
        env = subprocess_env(home, prefect_home, self.mirror, tag, None if trial.own_server else self.api_url)
        if trial.hold:
            env["WERKREGIO_TEST_HOLD"] = trial.hold
        published = warehouse_of(home)

        self.mirror.latency(TRIAL_LATENCY)
        try:
            running = Running([sys.executable, "-m", "tests.reliability._killable", "refresh",
                               "--table", NATIONAL, "--table", GEBIEDEN_2016], env)
            try:
                seen = running.wait_for(f"{PREFIX} {trial.marker}", timeout=300)
                assert seen, f"trial {trial.index}: never reached {trial.marker!r}:\n{running.tail()}"
                time.sleep(trial.delay)
            finally:
                running.kill_group()
                trial.orphans = reap_orphans(tag)
        finally:
            self.mirror.latency(0)
        trial.exit = running.process.returncode
        markers = running.markers()
        trial.reached = "completed" if trial.exit == 0 else (markers[-1].split()[0] if markers else "startup")

        # right after the kill
        assert trial.orphans == 0, f"trial {trial.index}: {trial.orphans} process(es) survived the group kill"
        assert lock_is_free(home), f"trial {trial.index}: the pipeline lock is still held"
        trial.leftovers = {k: v for k, v in leftovers(home).items() if v}
        trial.staging_used = any("/.staging-" in landing.path for landing in landings(home / "raw"))
        if published.exists():
            try:
                if trial.previous and sha256(published) == self.before_sha:
                    check_integrity(published)
                    trial.published = "previous"
                else:
                    assert self.matches_clean(published), f"trial {trial.index}: a published file that is neither"
                    trial.published = "new"
            except IntegrityError as err:
                raise AssertionError(f"trial {trial.index} (reached {trial.reached}): {err}") from err
        else:
            assert not trial.previous, f"trial {trial.index}: the published file is gone"
            trial.published = "absent"
        from flows.status import status_report

        last = status_report(Settings.from_env({"WERKREGIO_HOME": str(home)}), runs=1)["runs"][0]
        if last["status"] == "finished":  # killed after the run was logged, while Prefect wound down
            assert trial.published == "new" and trial.reached in ("post-replace", "completed"), trial
        else:
            assert last["status"] == "running or killed", last

        # the rerun
        if trial.rerun == "subprocess":
            rerun_env = subprocess_env(home, prefect_home, self.mirror, tag, None)
            done = subprocess.run([str(WERKREGIO), "refresh", "--table", NATIONAL, "--table", GEBIEDEN_2016],
                                  cwd=ROOT, env=rerun_env, capture_output=True, text=True, timeout=600)
            assert reap_orphans(tag) == 0
            assert done.returncode == 0, f"trial {trial.index}: the rerun failed:\n{done.stderr[-3000:]}"
        else:
            with environment(WERKREGIO_HOME=str(home), WERKREGIO_CBS_URL=self.mirror.base_url, **QUICK_RETRIES):
                run_refresh(tables=SUBSET)
        assert self.matches_clean(published), f"trial {trial.index}: the rerun's tables differ from a clean run's"
        trial.rerun_leftovers = {k: v for k, v in leftovers(home).items() if v}
        assert not trial.rerun_leftovers.get("building"), f"trial {trial.index}: building files left after the rerun"
        raw_paths = query(published, "SELECT raw_path FROM source_tables")["raw_path"].to_list()
        trial.staging_used = trial.staging_used or any("/.staging-" in p for p in raw_paths)
        trial.rerun_ok = True
        return trial


@pytest.fixture(scope="module")
def lab(statline_root, prefect_api_url, tmp_path_factory):
    lab = Lab(statline_root, tmp_path_factory.mktemp("kill"), prefect_api_url)
    yield lab
    lab.close()


LOAD_ORDER = [
    "build_info", "load_history", "source_tables", "national_series", "regional_series", "municipalities", "municipal_changes",
    "region_membership", "uwv_vacancies", "uwv_wwb_registrations", "uwv_portal_connections", "indicators",
    "indicator_spread", "analyses", "validation_results",
]  # fmt: skip


def natural(aim: str, rng: random.Random) -> tuple[str, str | None, float]:
    """A random moment in ``aim`` by timing alone: (marker to wait for, no hold, delay)."""
    marker, span = {
        "fetch": ("fetch", (0.0, 2.5)),  # 30+ requests at 0.1 s each, one at a time
        "transform": ("validate", (0.0, 1.0)),  # two GX suites, then the marts
        "load": ("load", (0.0, 0.5)),  # 13 tables into the building file
        "publish": ("check", (0.0, 0.25)),  # reopen and count, fsync, os.replace, fsync the folder
    }[aim]
    return marker, None, round(rng.uniform(*span), 3)


def aimed(aim: str, rng: random.Random) -> tuple[str, str | None, float]:
    """A random code point of ``aim``, held for 1.5 s, and a random moment within the hold."""
    if aim == "fetch":
        return "fetch", None, round(rng.uniform(0.0, 1.5), 3)  # fetching lasts at least 3 s
    point = rng.choice(
        {
            "transform": [f"validate {NATIONAL}", f"validate {GEBIEDEN_2016}", "transform"],
            "load": [f"load {table}" for table in LOAD_ORDER],
            "publish": ["check", "pre-replace", "post-replace"],
        }[aim]
    )
    return point, f"{point}=1.5", round(rng.uniform(0.05, 1.2), 3)


def plan(count: int, seed: int) -> list[Trial]:
    """``count`` trials cycling over the four phases; every other round aims at a held code point."""
    rng = random.Random(seed)
    trials = []
    for index in range(count):
        aim = ("fetch", "transform", "load", "publish")[index % 4]
        marker, hold, delay = (aimed if (index // 4) % 2 else natural)(aim, rng)
        trials.append(
            Trial(
                index=index,
                aim=aim,
                marker=marker,
                delay=delay,
                hold=hold,
                previous=index % 6 != 5,
                own_server=index % 2 == 0,
                rerun="subprocess" if index % 3 == 2 else "in-process",
            )
        )
    return trials


def report(trials: list[Trial]) -> None:
    print("\nkill -9 trials:")
    for t in trials:
        print(
            f"  #{t.index:02d} aim={t.aim:<9} marker={t.marker:<12} delay={t.delay:5.2f}s hold={t.hold or '-':<16} "
            f"previous={'yes' if t.previous else 'no ':<3} server={'own' if t.own_server else 'api'} "
            f"reached={t.reached:<12} published={t.published:<8} leftovers={sorted(t.leftovers) or '-'} "
            f"rerun={t.rerun}:{'ok' if t.rerun_ok else 'FAILED'} staging_used={t.staging_used}"
        )
    reached = {}
    for t in trials:
        group = GROUPS.get(t.reached, t.reached)
        reached[group] = reached.get(group, 0) + 1
    print(f"  killed in: {json.dumps(reached)}; published after the kill: "
          f"{json.dumps({s: sum(t.published == s for t in trials) for s in ('previous', 'new', 'absent')})}")
    print("  " + json.dumps([asdict(t) for t in trials]))


def run_trials(lab: Lab, trials: list[Trial]) -> list[Trial]:
    done = []
    try:
        for trial in trials:
            done.append(lab.run(trial))
    finally:
        report(done)
    return done


def test_kill_once_per_phase(lab):
    """Quick variant: one kill in each of fetch, transform, load and publish, and one in validation, at held code points."""
    marker, hold, delay = aimed("fetch", random.Random(6))
    trials = [
        Trial(0, "fetch", marker, delay, hold),  # the default path: the CLI's own temporary Prefect server
        Trial(1, "transform", "transform", 0.5, "transform=1.5", own_server=False),
        Trial(2, "load", "load indicators", 0.5, "load indicators=1.5", own_server=False),
        Trial(3, "publish", "pre-replace", 0.5, "pre-replace=1.5", own_server=False),
        # while tables are being validated
        Trial(4, "transform", f"validate {GEBIEDEN_2016}", 0.5, f"validate {GEBIEDEN_2016}=1.5", own_server=False),
    ]
    done = run_trials(lab, trials)
    assert [GROUPS.get(t.reached) for t in done] == ["fetch", "transform", "load", "publish", "transform"]
    assert [t.published for t in done] == ["previous"] * 5
    assert all(t.rerun_ok for t in done)


@pytest.mark.slow
def test_kill_at_random_moments_24_trials(lab):
    """Full variant: 24 trials, 6 per phase, 4 of them without a previous publish, half with their own server."""
    done = run_trials(lab, plan(24, seed=20261128))
    assert len(done) == 24 and all(t.rerun_ok for t in done)
    groups = [GROUPS.get(t.reached, t.reached) for t in done]
    for phase in ("fetch", "transform", "load", "publish"):
        assert groups.count(phase) >= 3, f"only {groups.count(phase)} kills landed in {phase}: {groups}"


def test_landing_killed_before_its_rename_is_not_taken_for_data(lab):
    """Kill exactly between the staging folder's manifest and its rename: the leftover must be ignored."""
    trial = Trial(index=90, aim="fetch", marker="land-commit", delay=0.3, hold="land-commit=3", own_server=False)
    lab.run(trial)
    assert trial.reached == "land-commit" and trial.leftovers.get("staging"), trial
    assert not trial.staging_used, f"a .staging-* leftover was used as landed data: {trial.leftovers['staging']}"


def test_an_empty_manifest_in_a_killed_staging_folder_does_not_stop_the_next_run(lab, tmp_path):
    home = lab.before.copy_to(tmp_path / "home")
    staging = home / "raw" / NATIONAL / f".staging-{uuid.uuid4().hex}"
    staging.mkdir()
    (staging / "manifest.json").write_text("")  # created by write_text, killed before the bytes were written
    with environment(WERKREGIO_HOME=str(home), WERKREGIO_CBS_URL=lab.mirror.base_url, **QUICK_RETRIES):
        run_refresh(tables=SUBSET, offline=True)
    assert lab.before.integrity.fingerprint == check_integrity(warehouse_of(home)).fingerprint


def test_leftovers_of_a_killed_run_are_ignored_or_removed_by_the_next_run(lab, tmp_path):
    """What the next run does with each kind of leftover a kill can produce (seen in the trials or possible)."""
    home = lab.before.copy_to(tmp_path / "home")
    warehouse = warehouse_of(home)
    building = warehouse.with_name(f".{warehouse.name}.building-0123456789ab")
    building.write_bytes(b"half a DuckDB file")
    building.with_name(building.name + ".wal").write_bytes(b"half a WAL")
    staging = home / "raw" / NATIONAL / ".staging-0123456789abcdef"  # killed while writing the landing's files
    staging.mkdir()
    (staging / "TypedDataSet.parquet").write_bytes(b"PAR1 half")
    validated = next((home / "validated").rglob("*.json"))
    partial_report = validated.with_name("0" * 64 + ".4242.partial")
    partial_report.write_text('{"dataset": "half')
    partial_html = home / "reports" / "validation-killed.partial"
    partial_html.parent.mkdir(exist_ok=True)
    partial_html.write_text("<html>half")

    with environment(WERKREGIO_HOME=str(home), WERKREGIO_CBS_URL=lab.mirror.base_url, **QUICK_RETRIES):
        result = run_refresh(tables=SUBSET)

    assert [t["action"] for t in result["tables"]] == ["downloaded", "downloaded"]
    assert lab.matches_clean(warehouse)
    left = {k: v for k, v in leftovers(home).items() if v}
    print(f"\nleftovers after the next run: {json.dumps(left)}")
    assert "building" not in left  # removed by the next publish
    assert not staging.exists()  # removed when the table is landed again
    assert partial_report.exists() and partial_html.exists()  # never read (only *.json / *.html are); stay behind
    assert all("/.staging-" not in landing.path for landing in landings(home / "raw"))
