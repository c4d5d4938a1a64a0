"""Great Expectations as werkregio uses it: imported with ``scipy.stats`` loaded only when first
used, and two of its costs left out of a validation.

Every module of werkregio gets GX from here (``from expectations.gx import gx``), so that the
first import of GX in a process, wherever it happens, goes through this module. What it changes,
measured by hand on the 15 tables of a 1x build validated one after another in one process
(reports asserted equal with and without; ``tests/expectations/test_gx_import.py``):

- **scipy.stats, loaded lazily** (below): GX's import 3.0 s -> 2.0 s of CPU.
- **No pandas fingerprint per batch** (:data:`HASH_THRESHOLD`): GX hashes every pandas batch
  under 1 GB (``pd.util.hash_pandas_object`` and md5, about an eighth of a validation's CPU)
  only to put the digest in the batch's markers, which werkregio never reads: its stored reports
  are keyed by the landing's sha256 (``flows.validation``).
- **Each expectation's configuration built once per suite run** (:func:`configurations_once`):
  GX rebuilds an expectation's ``configuration`` (a pydantic ``dict()`` and a regex) on every
  access, about 80 times per check in a suite run, about a fifth of a validation's CPU. Within the
  block, the first one built for an expectation object is returned again. GX's validation does not
  change an expectation object once made, nor the configuration it is given.

Validation of the 15 tables: 4.3-5.3 s -> 3.1-3.9 s (3 runs each, a noisy machine).

``scipy.stats``: GX imports it at import time, in the modules of three checks werkregio does not
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
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

DEFERRED = "scipy.stats"
HASH_THRESHOLD = 0
"""Bytes under which GX fingerprints a pandas batch (GX's default: 1e9); 0: never."""


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
import great_expectations.execution_engine.pandas_execution_engine as _pandas_engine  # noqa: E402
from great_expectations.expectations.expectation import Expectation as _Expectation  # noqa: E402

_pandas_engine.HASH_THRESHOLD = HASH_THRESHOLD

_build_configuration = _Expectation.configuration.fget
_within = threading.local()  # .built: id -> (expectation, configuration) inside configurations_once


def _configuration(self: _Expectation) -> Any:
    built = getattr(_within, "built", None)
    if built is None:
        return _build_configuration(self)
    known = built.get(id(self))
    if known is None or known[0] is not self:  # the object is kept, so its id is not reused meanwhile
        known = built[id(self)] = (self, _build_configuration(self))
    return known[1]


_Expectation.configuration = property(_configuration, doc=_Expectation.configuration.__doc__)


@contextmanager
def configurations_once() -> Iterator[None]:
    """In this thread, for the block: each expectation object's ``configuration`` is built once."""
    outer = getattr(_within, "built", None)
    _within.built = {} if outer is None else outer
    try:
        yield
    finally:
        _within.built = outer


__all__ = ["HASH_THRESHOLD", "configurations_once", "gx"]
