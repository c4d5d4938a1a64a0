"""Great Expectations, imported with ``scipy.stats`` loaded only when first used.

Every module of werkregio gets GX from here (``from expectations.gx import gx``), so that the
first import of GX in a process, wherever it happens, goes through :func:`_defer_scipy_stats`.

GX imports ``scipy.stats`` at import time, in the modules of three checks werkregio does not
make (``ExpectColumnKlDivergenceToBeLessThan`` and the two Kolmogorov-Smirnov metrics), which
call it only while they validate. Importing it is about 0.9 s of CPU, a third of GX's import
(2.0 s instead of 3.0 s by hand, ``python -X importtime``), paid by every validation worker's
leader at the command's start, when the command, Prefect's temporary server and the leader
share the cores (docs/benchmarks.md). Here it is loaded lazily
(:class:`importlib.util.LazyLoader`): ``scipy.stats`` is a module object that runs its code at
its first attribute access, after which it is the ordinary module. Nothing else changes: a check
that uses it, or any other code, finds it complete.

Python 3.11's lazy loading is not thread-safe: two threads touching ``scipy.stats`` for the first
time at once could see it half made. No werkregio code uses it; a process that does should import
it (``import scipy.stats``) before it starts threads.
"""

from __future__ import annotations

import importlib.util
import sys

DEFERRED = "scipy.stats"


def _defer_scipy_stats() -> None:
    """Put a lazily loaded ``scipy.stats`` in place, unless it (or GX) is imported already or missing."""
    if DEFERRED in sys.modules or "great_expectations" in sys.modules:
        return
    spec = importlib.util.find_spec(DEFERRED)  # imports the light ``scipy`` package itself
    if spec is None or spec.loader is None:
        return
    spec.loader = importlib.util.LazyLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[DEFERRED] = module
    spec.loader.exec_module(module)  # lazily: runs nothing yet
    # as the parent attribute, so that ``from scipy import stats`` takes it without an attribute
    # access (Python 3.11 would then load it at once to look at its ``__spec__``)
    setattr(sys.modules["scipy"], "stats", module)


_defer_scipy_stats()

import great_expectations as gx  # noqa: E402

__all__ = ["gx"]
