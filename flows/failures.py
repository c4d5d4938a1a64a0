"""How a run ends when it cannot go on: failures whose message says everything, and signals.

An *expected* failure (:data:`EXPECTED`: the data dir is busy, a source or reference year is
missing, validation stopped the run, a build would publish less than the warehouse holds, CBS failed or cannot be reached, a landing or the warehouse
cannot be read) ends the flow run Failed with its message and no traceback: the flow returns
:func:`failed`, a Prefect ``Failed`` state carrying the error, so Prefect logs
``Finished in state Failed('<message>')``, a deployment retries it like any failure, and calling the
flow still raises the error itself (the CLI prints its message). Any other exception is a defect or
an environment problem (a full disk): it keeps Prefect's traceback.
"""

from __future__ import annotations

import signal
from typing import Any

from prefect.exceptions import TerminationSignal
from prefect.states import Failed, State

from expectations.runner import ValidationFailed, ValidationReport
from flows.runlog import PipelineBusy
from sources.cbs.client import CbsError
from sources.cbs.landing import LandingUnreadable
from warehouse.store import WarehouseError


class MissingSource(RuntimeError):
    """A table, landing or reference year the build needs is not there; the message says how to get it."""


class RefreshFailed(RuntimeError):
    """One or more tables could not be fetched; the message lists each table and its error."""


class WouldPublishLess(RuntimeError):
    """A build lacks what the published warehouse holds (a reference year, a CBS table); nothing was published."""


class ValidationStopped(RuntimeError):
    """Critical expectations failed on one or more batches; nothing was published.

    ``validation_rows`` holds every check of every batch validated in the run, so the run log
    and the HTML report show all failures at once.
    """

    def __init__(self, failed: list[ValidationReport], rows: list[dict[str, Any]]) -> None:
        super().__init__("\n".join(str(ValidationFailed(report)) for report in failed))
        self.validation_rows = rows


EXPECTED: tuple[type[Exception], ...] = (
    PipelineBusy,
    MissingSource,
    RefreshFailed,
    ValidationStopped,
    ValidationFailed,
    WouldPublishLess,
    CbsError,
    LandingUnreadable,
    WarehouseError,
)


def failed(err: Exception) -> State:
    """The final state of a flow run stopped by the expected failure ``err``: Failed, with its message."""
    return Failed(message=str(err), data=err)


def stopped_by(err: BaseException) -> str | None:
    """The signal ``err`` stands for ('SIGTERM', 'SIGINT (Ctrl-C)'), or None when it is no signal.

    Prefect turns SIGTERM during a flow run into :class:`~prefect.exceptions.TerminationSignal`;
    Python turns SIGINT into :class:`KeyboardInterrupt`.
    """
    if isinstance(err, KeyboardInterrupt):
        return "SIGINT (Ctrl-C)"
    if isinstance(err, TerminationSignal):
        return signal.Signals(err.signal).name
    return None
