"""Worker processes that validate landed CBS tables beside a build (``python -m flows.validation_workers``).

What a worker does with a job is :func:`flows.validation.validate_landed`; this module only runs
the processes. One process, the leader (in a session and process group of its own), imports Great
Expectations and builds its context (about 2.5 s), then forks the other workers, so the import is
paid once and its memory shared. Each worker has a pair of pipes of its own: a
:class:`~flows.validation.ValidationJob` arrives pickled on one, and the
:class:`~flows.validation.Validated` (or the error raised) goes back pickled on the other. The
workers' stdout and stderr are the flow's.

A build starts its workers when it begins (:func:`validation_workers`). The ``werkregio`` command
starts them earlier, before it imports Prefect, when it will build anyway (``refresh --offline`` or
``--force``: :func:`start_early`); the build then takes those over, and the command ends them if no
build took them. This module imports only the standard library, so that starting early costs the
command nothing.

**Ahead of the build.** Workers started early for ``refresh --offline`` know what that build will
validate: the current landings (:func:`flows.validation.planned_jobs`). Once GX is imported and
the leader has forked, every worker works those jobs out and validates them, largest first,
whenever no job of the flow is waiting on its pipe: while the command still imports Prefect and
waits for Prefect's server, the cores would otherwise sit idle (docs/benchmarks.md). What they
find is kept in a directory of this build (:class:`Claims`): per batch, a lock (``flock``) that
one worker holds while it validates the batch, and the job with its :class:`~flows.validation.Validated`
once done. When the flow's job for a batch arrives, the worker waits for that lock (a sibling
may be validating the batch) and answers with what was found ahead when the job is the very one
that was planned (``ahead=True``, the seconds and worker of that validation), else validates.
So no batch is validated twice, a job is never answered with another job's report, and a worker
killed mid-batch releases its lock with its death. A planned job that fails is left to the
flow's own job, which raises the error. The reports go to ``validated/`` as any report does. The
directory goes with the workers; one left by a killed command is removed by the next that
validates ahead (:func:`claims_directory`). A ``refresh --offline`` that will find nothing
changed builds nothing: its leader, asked first (``unless_unchanged``), imports no GX and waits
for a job that does not come (:func:`main`).

A worker ends at once when its jobs pipe is closed, by the flow when the build is done or by the
kernel when the flow's process dies (``kill -9`` of a refresh): a thread of the worker waits for
that hang-up and ends the process (``os._exit``), also in the middle of a check. Tearing down GX's
modules would only keep the build waiting.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import pickle
import queue
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flows.validation import Validated, ValidationJob

COMMAND = (sys.executable, "-m", "flows.validation_workers")


class ValidationWorkerDied(RuntimeError):
    """A worker process gave no answer to a job (killed, out of memory, crashed)."""


class ValidationWorkers:
    """``count`` worker processes; :meth:`run` may be called from many threads at once.

    One process (the leader, a new session of its own) imports GX and then forks the others, so
    that the import is paid once. Each worker has a pair of pipes of its own: jobs in, answers out.
    """

    def __init__(
        self, count: int, command: tuple[str, ...] = COMMAND, ahead: tuple[Path, Path] | None = None, unless_unchanged: bool = False
    ) -> None:
        """``ahead``: (raw dir, data dir) of the build to come, to validate its planned jobs ahead of it.

        ``unless_unchanged`` (with ``ahead``): that build is a refresh without ``force``; when it
        will find nothing to build (:func:`flows.inputs.nothing_to_build`), the leader imports
        nothing and waits for a job: none comes, unless the inputs changed meanwhile.
        """
        self._idle: queue.SimpleQueue[_Channel] = queue.SimpleQueue()
        self.channels: list[_Channel] = []
        self.claims: Path | None = None
        theirs: list[int] = []
        try:
            for _ in range(count):
                jobs_r, jobs_w = os.pipe()
                answers_r, answers_w = os.pipe()
                theirs += [jobs_r, answers_w]
                self.channels.append(_Channel(os.fdopen(jobs_w, "wb"), os.fdopen(answers_r, "rb")))
            arguments = [f"{theirs[i]},{theirs[i + 1]}" for i in range(0, len(theirs), 2)]
            if ahead is not None:
                try:
                    self.claims = claims_directory()
                except OSError:  # no temporary directory to write: the workers validate what the flow hands them, as without
                    self.claims = None
                else:
                    arguments = ["--ahead", str(ahead[0]), str(ahead[1]), str(self.claims), *arguments]
                    if unless_unchanged:
                        arguments.insert(0, "--unless-unchanged")
            self.leader = subprocess.Popen(
                [*command, *arguments],
                stdin=subprocess.DEVNULL,
                pass_fds=theirs,
                start_new_session=True,
            )
        except BaseException:
            for channel in self.channels:
                channel.close()
            self._remove_claims()
            raise
        finally:
            for fd in theirs:
                os.close(fd)
        for channel in self.channels:
            self._idle.put(channel)

    def alive(self) -> bool:
        return self.leader.poll() is None

    def run(self, job: ValidationJob) -> Validated:
        """Validate ``job`` in the next free worker; an error raised there is raised here."""
        channel = self._idle.get()
        try:
            try:
                pickle.dump(job, channel.jobs, protocol=pickle.HIGHEST_PROTOCOL)
                channel.jobs.flush()
                status, value = pickle.load(channel.answers)
            except Exception as err:  # noqa: BLE001 - any failure of the exchange: the worker is gone or unusable
                self.kill()
                raise ValidationWorkerDied(
                    f"a validation worker gave no report of {job.batch} ({type(err).__name__}: {err}); "
                    "the workers were stopped and nothing was published. "
                    "WERKREGIO_VALIDATION_WORKERS=0 validates in the flow's own process"
                ) from err
        finally:
            self._idle.put(channel)  # after a failure the next job on it fails at once
        if status == "error":
            raise value
        return value

    def kill(self) -> None:
        """Kill every worker at once (they are one process group)."""
        try:
            os.killpg(self.leader.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def close(self, kill: bool = False, timeout: float = 30.0) -> None:
        """End every worker: close its pipes (it exits at once) or, with ``kill``, kill them first."""
        if kill:
            self.kill()
        for channel in self.channels:
            channel.close()
        try:
            self.leader.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            self.leader.wait()
        self._remove_claims()

    def _remove_claims(self) -> None:
        if self.claims is not None:
            shutil.rmtree(self.claims, ignore_errors=True)


@dataclass
class _Channel:
    jobs: IO[bytes]
    answers: IO[bytes]

    def close(self) -> None:
        for end in (self.jobs, self.answers):
            try:
                end.close()
            except OSError:
                pass


_early: ValidationWorkers | None = None


def start_early(count: int, ahead: tuple[Path, Path] | None = None, unless_unchanged: bool = False) -> None:
    """Start ``count`` workers now, for the next build in this process to take over (none for 0).

    ``ahead``: (raw dir, data dir) of that build, whose planned jobs they then validate ahead of
    it; ``unless_unchanged``: see :class:`ValidationWorkers`.
    """
    global _early
    end_early()
    if count > 0:
        _early = ValidationWorkers(count, ahead=ahead, unless_unchanged=unless_unchanged)


def end_early() -> None:
    """End the workers of :func:`start_early` that no build took over."""
    global _early
    workers, _early = _early, None
    if workers is not None:
        workers.close(kill=True)


@contextmanager
def validation_workers(count: int) -> Iterator[ValidationWorkers | None]:
    """``count`` workers for the block (None for 0): those started early if they match, else new ones.

    They are ended when the block ends, killed if it fails.
    """
    global _early
    early, _early = _early, None
    if early is not None and (len(early.channels) != count or not early.alive()):
        early.close(kill=True)
        early = None
    if count <= 0:
        yield None
        return
    workers = early or ValidationWorkers(count)
    try:
        yield workers
    except BaseException:
        workers.close(kill=True)
        raise
    workers.close()


CLAIMS_PREFIX = "werkregio-validation-"


def claims_directory() -> Path:
    """A new directory for one build's :class:`Claims`, named after this process: ``<tmp>/werkregio-validation-<pid>-*``.

    Its workers' :meth:`ValidationWorkers.close` removes it. One whose process is gone (killed
    before it could) is removed here, by the next build that validates ahead.
    """
    base = Path(tempfile.gettempdir())
    for stale in base.glob(f"{CLAIMS_PREFIX}*-*"):
        pid = stale.name.removeprefix(CLAIMS_PREFIX).split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"{CLAIMS_PREFIX}{os.getpid()}-", dir=base))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's
        return True
    return True


class Claims:
    """Per batch, in the directory of one build's workers: a lock held while one worker validates it, and what it found.

    The lock is an ``flock`` on ``<name>.lock``, released when its holder closes it or dies. What
    was found is ``<name>.done``: the job and its :class:`~flows.validation.Validated`, pickled,
    written whole (renamed into place).
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _name(self, job: ValidationJob) -> str:
        return hashlib.sha256(f"{job.batch}|{job.landing.sha256}".encode()).hexdigest()[:32]

    def lock(self, job: ValidationJob, wait: bool) -> int | None:
        """A descriptor holding the batch's lock; without ``wait``, None when another holds it."""
        fd = os.open(self.directory / f"{self._name(job)}.lock", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise
        return fd

    def found(self, job: ValidationJob) -> Validated | None:
        """What was found for this very job (equal, not only the same batch), or None."""
        try:
            done, validated = pickle.loads((self.directory / f"{self._name(job)}.done").read_bytes())
        except (OSError, EOFError, pickle.UnpicklingError):  # none, or the directory is gone
            return None
        return validated if done == job else None

    def is_done(self, job: ValidationJob) -> bool:
        return (self.directory / f"{self._name(job)}.done").exists()

    def keep(self, job: ValidationJob, validated: Validated) -> None:
        path = self.directory / f"{self._name(job)}.done"
        partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
        partial.write_bytes(pickle.dumps((job, validated), protocol=pickle.HIGHEST_PROTOCOL))
        os.replace(partial, path)


def validate_ahead(claims: Claims, job: ValidationJob) -> None:
    """Validate a planned job unless another worker has it or it is done; what fails is left to the flow's job."""
    from flows.validation import validate_landed

    try:
        fd = claims.lock(job, wait=False)
    except OSError:  # the directory is gone: nothing ahead
        return
    if fd is None:
        return
    try:
        if not claims.is_done(job):
            claims.keep(job, replace(validate_landed(job), worker=os.getpid()))
    except Exception:  # noqa: BLE001, S110 - the flow's own job for this batch validates it and raises the error
        pass
    finally:
        os.close(fd)


def _validate(job: ValidationJob, claims: Claims | None) -> Validated:
    """The flow's job: what was found ahead for it (after any worker still on it is done), or validated now."""
    from flows.validation import validate_landed

    try:
        fd = None if claims is None else claims.lock(job, wait=True)
    except OSError:  # the directory is gone (a cleaner of the temporary directory): validated here, as without
        fd = None
    if fd is None:
        return replace(validate_landed(job), worker=os.getpid())
    try:
        found = claims.found(job)
        if found is not None:
            return replace(found, ahead=True)
        validated = replace(validate_landed(job), worker=os.getpid())
        try:
            claims.keep(job, validated)  # no worker validates it ahead any more
        except OSError:
            pass
        return validated
    finally:
        os.close(fd)


def _answer(job: ValidationJob, claims: Claims | None = None) -> tuple[str, Any]:
    try:
        return "ok", _validate(job, claims)
    except Exception as err:  # noqa: BLE001 - sent back and raised in the flow
        err.add_note(f"(raised in validation worker pid {os.getpid()} while validating {job.batch})")
        try:
            pickle.loads(pickle.dumps(err))
        except Exception:  # noqa: BLE001 - an error that cannot travel goes as its text
            return "error", RuntimeError(f"{type(err).__name__}: {err}")
        return "error", err


def _exit_when_closed(jobs_fd: int) -> None:
    """End this worker, even mid-check, once nothing can send it jobs: the flow closed the pipe or died."""
    watch = select.poll()
    watch.register(jobs_fd, 0)  # only a hang-up (or an error) is reported
    watch.poll()
    os._exit(1)


def serve(source: IO[bytes], sink: IO[bytes], claims: Claims | None = None, planned: list[ValidationJob] | None = None) -> None:
    """Answer jobs from ``source`` on ``sink`` until ``source`` closes; meanwhile validate ``planned`` ahead (:class:`Claims`)."""
    ahead = iter(planned or [])
    while True:
        if claims is not None and not select.select([source], [], [], 0)[0]:  # the flow's jobs come first
            job = next(ahead, None)
            if job is not None:
                validate_ahead(claims, job)
                continue
        try:
            job = pickle.load(source)
        except EOFError:
            return
        pickle.dump(_answer(job, claims), sink, protocol=pickle.HIGHEST_PROTOCOL)
        sink.flush()


def _nothing_to_build(raw_dir: Path, home: Path) -> bool:
    """Whether the ``refresh --offline`` these workers were started for will build nothing
    (:func:`flows.inputs.nothing_to_build`); False when that cannot be told here."""
    try:
        from flows.inputs import nothing_to_build
        from flows.settings import Settings

        settings = Settings.from_env()
        return settings.raw_dir == raw_dir and settings.home == home and nothing_to_build(settings)
    except Exception:  # noqa: BLE001 - GX is imported as for a build; the flow finds and reports whatever is wrong
        return False


def _a_job_arrives(jobs_fds: list[int]) -> bool:
    """Wait until a job arrives on one of ``jobs_fds`` (True) or the flow closes them (False)."""
    watch = select.poll()
    for fd in jobs_fds:
        watch.register(fd, select.POLLIN)
    while True:
        events = [event for _, event in watch.poll()]
        if any(event & select.POLLIN for event in events):
            return True
        if events:  # a hang-up without a job: the build is over, or the flow died
            return False


def main(arguments: list[str]) -> None:
    """The leader: GX imported, one worker forked per channel but the first, then the first served.

    ``arguments``: ``"jobs_fd,answers_fd"`` per worker, after ``--ahead RAW_DIR HOME CLAIMS_DIR``
    to validate the planned jobs of the build of ``RAW_DIR``'s landings ahead of it, itself after
    ``--unless-unchanged`` when that build may find nothing to do: if so (:func:`_nothing_to_build`),
    the leader waits for a job before it imports GX, and ends when the pipes close without one.
    Every worker closes the other workers' pipes, so that the flow sees the end of a worker's
    answers when that worker dies.
    """
    unless_unchanged = arguments[:1] == ["--unless-unchanged"]
    arguments = arguments[1:] if unless_unchanged else arguments
    ahead = None
    if arguments[:1] == ["--ahead"]:
        ahead, arguments = [Path(a) for a in arguments[1:4]], arguments[4:]
    pairs = [tuple(int(fd) for fd in channel.split(",")) for channel in arguments]
    from flows.startup import imports_without_collection

    if unless_unchanged and ahead is not None:
        with imports_without_collection():
            idle = _nothing_to_build(*ahead[:2])
        if idle and not _a_job_arrives([jobs for jobs, _ in pairs]):
            os._exit(0)
    with imports_without_collection():  # frozen before the forks, which then share those pages untouched
        import expectations.cbs_tables  # noqa: F401 - GX, while the flow starts and reads the landings
        import expectations.national_benefits  # noqa: F401
        import flows.validation  # noqa: F401
        from expectations.runner import _batch_definition

        _batch_definition()  # the GX context, built once and shared by the forks
    mine = pairs[0]
    for pair in pairs[1:]:
        if os.fork() == 0:
            mine = pair
            break
    for pair in pairs:
        if pair != mine:
            for fd in pair:
                os.close(fd)
    threading.Thread(target=_exit_when_closed, args=(mine[0],), daemon=True).start()
    claims, planned = None, []
    if ahead is not None:
        # after the fork, in every worker (about 0.15 s at 1x): reading Parquet starts Polars' thread
        # pool, which a process forked afterwards would lack, and would wait for forever
        from flows.validation import planned_jobs

        raw_dir, home, directory = ahead
        claims = Claims(directory)
        try:
            planned = planned_jobs(raw_dir, home, len(pairs))
        except Exception:  # noqa: BLE001, S110 - nothing ahead; the build finds and reports whatever is wrong
            planned = []
    with os.fdopen(mine[0], "rb") as source, os.fdopen(mine[1], "wb") as sink:
        serve(source, sink, claims, planned)
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1:])
