"""CPU seconds of a measured run, per process of its tree (Linux ``/proc``; standard library only).

A build is several processes on 2 cores: the build's own, the task runner's worker processes
(``WERKREGIO_TASK_RUNNER=processes``) and, cold, Prefect's temporary server. Their CPU time added up says how much work the
cores had to do, whatever the order; the wall time of a build cannot be below that total divided
by the cores.

:class:`TreeSampler` reads ``/proc`` every :data:`PERIOD` seconds while the run lasts and keeps,
per process that descends from the run's root, the last CPU time it saw (user + system). A
process is counted from its start; the last tenth of a second of a process that ends between two
samples is missed. A process that outlives its parent (the temporary server, which finishes its
shutdown after the command has exited) stays counted, up to the run's end. One sample costs about
a millisecond of CPU (a scan of ``/proc``), about 1% of one core.

:func:`tree_cpu` gives the same total once, for a process that runs before and after the
measured run (the long-lived ``prefect server start`` of the warm builds).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

PERIOD = 0.1  # seconds between samples
TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

# what a process of a run is, from its command line (the first match wins)
ROLES = (("multiprocessing.spawn", "workers"), ("uvicorn", "server"))  # spawned pool workers; the server Prefect starts itself


def _processes() -> dict[int, tuple[int, float]]:
    """Every process now: pid -> (parent pid, CPU seconds so far)."""
    found = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        found[int(name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK)
    return found


def _role(pid: int, root: int) -> str:
    if pid == root:
        return "build"
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "other"
    return next((role for marker, role in ROLES if marker in command), "other")


def _descendants(root: int, processes: dict[int, tuple[int, float]], known: set[int]) -> set[int]:
    """``root``, the processes in ``known`` still alive, and every process whose parent is among them."""
    tree = {root} | (known & processes.keys())
    grew = True
    while grew:
        children = {pid for pid, (parent, _) in processes.items() if parent in tree} - tree
        tree |= children
        grew = bool(children)
    return tree


def tree_cpu(root: int) -> float:
    """CPU seconds used so far by ``root`` and the processes descending from it that are alive now."""
    processes = _processes()
    return sum(processes[pid][1] for pid in _descendants(root, processes, set()) if pid in processes)


class TreeSampler:
    """Samples the CPU time of ``root``'s process tree until :meth:`stop`; :meth:`by_role` adds it up."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.cpu: dict[int, float] = {}
        self.roles: dict[int, str] = {}
        self.samples = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        processes = _processes()
        for pid in _descendants(self.root, processes, set(self.cpu)):
            if pid in processes:
                if pid not in self.roles:
                    self.roles[pid] = _role(pid, self.root)
                self.cpu[pid] = max(self.cpu.get(pid, 0.0), processes[pid][1])
        self.samples += 1

    def _run(self) -> None:
        while True:
            self._sample()
            if self._done.wait(PERIOD):
                return

    def stop(self) -> None:
        """One last sample (of the processes still alive), then stop."""
        self._done.set()
        self._thread.join()
        self._sample()

    def by_role(self) -> dict[str, float]:
        """CPU seconds per role (``build``, ``workers``, ``server``, ``other``), with ``processes`` and ``samples``."""
        totals = {"build": 0.0, "workers": 0.0, "server": 0.0, "other": 0.0}
        for pid, seconds in self.cpu.items():
            totals[self.roles[pid]] += seconds
        return {**totals, "processes": len(self.cpu), "samples": self.samples}
