"""``python -m bench [--scales 1 10 100] [--reps N] [--quick]``: run every benchmark, write docs/benchmarks.md.

Everything (mirror folders, data dirs, Prefect state, logs) lives in one temporary folder that
is removed at the end; nothing is written into the repository but ``docs/benchmarks.md`` and
the raw figures behind it, ``docs/benchmarks.json`` (``--render-only`` renders the report from
those again).
Every measured run is a fresh process (``bench.child``, ``bench.pandas_baseline``), so that its
peak memory is its own; repetitions of different modes are interleaved, and the median is kept.

Per scale: generate and land the tables (``bench.generate``), build cold (new process, Prefect's
temporary server), warm (a ``prefect server start`` already running) and direct (Prefect never
imported: ``bench.no_prefect``), each with the CPU seconds of every process it started
(``bench.cpu``; warm also the server's meanwhile), then the Polars transforms against the pandas
baseline (both checked against the published indicators), and the landing of the largest WWB table
in a process of its own (``bench.landing``: its time and peak memory). At 1x also GX validation per check
against one call per suite (``bench.validation``), the recalculation for another reference year
and the unchanged nightly refresh (over v3, then once over v4: the requests it makes); extraction on
the largest WWB table up to 10x, against the mirror rendering every request and against one
serving pages it rendered before (``bench.mirror``, ``--prerendered``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl
import requests

from bench import extraction, report
from bench.cpu import TreeSampler, tree_cpu
from bench.mirror import MirrorProcess
from bench.pandas_baseline import check_equal, load_inputs
from flows.settings import QUIET_ENVIRONMENT, Settings

ROOT = Path(__file__).resolve().parents[1]
REFERENCE_YEAR = 2015
LARGE_SCALE = 100  # from this scale on each mode runs once, and the cold build is left out


class Runner:
    """Starts measured child processes with a clean environment and logs their stderr under ``tmp``."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.cold_prefect_home = tmp / "prefect-cold"
        self.warm_server_pid: int | None = None  # the `prefect server start` of the warm runs, once started
        self.base_env = {k: v for k, v in os.environ.items() if not k.startswith(("WERKREGIO_", "PREFECT_"))}
        self.base_env |= QUIET_ENVIRONMENT | {"PREFECT_LOGGING_LEVEL": "WARNING", "PREFECT_HOME": str(tmp / "prefect-client")}

    def run(self, args: list[str], env: dict[str, str], *, cpu: bool = False) -> dict[str, Any]:
        """Run ``python -m ARGS``; return its JSON line plus ``wall`` (spawn to exit) and ``spawned_at``.

        ``cpu``: also ``cpu``, the CPU seconds of the run's processes per role (:class:`bench.cpu.TreeSampler`),
        with ``server`` the long-lived server's CPU meanwhile when the run talks to it (``PREFECT_API_URL``).
        """
        log = self.tmp / "logs" / f"{time.time_ns()}-{args[0]}.log"
        log.parent.mkdir(exist_ok=True)
        warm_server = self.warm_server_pid if cpu and env.get("PREFECT_API_URL") else None
        server_before = tree_cpu(warm_server) if warm_server else 0.0
        spawned_at = time.time()
        start = time.perf_counter()
        with log.open("w") as stderr:
            process = subprocess.Popen([sys.executable, "-m", *args], cwd=ROOT, env=self.base_env | env, stdout=subprocess.PIPE, stderr=stderr, text=True)
            sampler = TreeSampler(process.pid) if cpu else None
            stdout, _ = process.communicate()
        wall = time.perf_counter() - start
        measured: dict[str, Any] = {}
        if sampler is not None:
            sampler.stop()
            measured["cpu"] = sampler.by_role()
            if warm_server:
                measured["cpu"]["server"] += tree_cpu(warm_server) - server_before
        print(f"{time.strftime('%H:%M:%S')} {' '.join(args[:2])} {Path(env.get('WERKREGIO_HOME', '-')).name}: {wall:.1f} s", file=sys.stderr, flush=True)
        if process.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed (exit {process.returncode}); end of {log}:\n{log.read_text()[-3000:]}")
        return {**json.loads(stdout.strip().splitlines()[-1]), "wall": wall, "spawned_at": spawned_at, **measured}

    def child(self, mode: str, home: Path, *, api_url: str | None = None, argument: str | None = None, **env: str) -> dict[str, Any]:
        """One ``bench.child`` run on data dir ``home``: with ``api_url`` against that server, else Prefect's temporary one."""
        prefect = {"PREFECT_API_URL": api_url} if api_url else {"PREFECT_HOME": str(self.cold_prefect_home)}
        result = self.run(["bench.child", mode, *([argument] if argument else [])], {"WERKREGIO_HOME": str(home), **prefect, **env}, cpu=True)
        result["python_start"] = result["started_at"] - result["spawned_at"]
        return result


@contextmanager
def prefect_server(runner: Runner) -> Iterator[str]:
    """A ``prefect server start`` on a free port for the warm runs; yields its API URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = runner.base_env | {"PREFECT_HOME": str(runner.tmp / "prefect-server")}
    log = (runner.tmp / "prefect-server.log").open("w")
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port), "--analytics-off"],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/api"
    runner.warm_server_pid = server.pid
    try:
        for _ in range(360):
            try:
                if requests.get(f"{url}/health", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.5)
        else:
            raise RuntimeError(f"the Prefect server did not start; see {log.name}")
        yield url
    finally:
        runner.warm_server_pid = None
        server.terminate()
        server.wait(timeout=60)
        log.close()


def bench_scale(runner: Runner, scale: int, reps: int, api_url: str, extraction_table: bool) -> dict[str, Any]:
    mirror, home = runner.tmp / f"mirror-{scale}", runner.tmp / f"home-{scale}"
    result: dict[str, Any] = {"reps": reps, "sizes": runner.run(["bench.generate", str(scale), str(mirror), "--home", str(home)], {})}
    modes = {"warm": ("build", api_url), "direct": ("build-direct", None)}
    if scale < LARGE_SCALE:
        modes = {"cold": ("build", None), **modes}
    runs: dict[str, list] = {name: [] for name in modes}
    for _ in range(reps):
        for name, (mode, url) in modes.items():
            runs[name].append(runner.child(mode, home, api_url=url))
    result["builds"] = runs
    settings = Settings(home=home)
    scenarios = load_inputs(settings).scenarios
    transforms: dict[str, list] = {"polars": [], "pandas": []}
    for _ in range(reps):
        for implementation, outputs in transforms.items():
            out = runner.tmp / f"{implementation}.parquet"
            outputs.append(runner.run(["bench.pandas_baseline", implementation, str(out)], {"WERKREGIO_HOME": str(home)}))
            outputs[-1]["checked_rows"] = check_equal(pl.read_parquet(out), settings, scenarios)
    result["transforms"] = transforms
    result["landing"] = [runner.run(["bench.landing", str(mirror), extraction.TABLE], {}) for _ in range(reps)]
    if scale == 1:
        result["validation"] = [runner.run(["bench.validation", "80794ned"], {"WERKREGIO_HOME": str(home)}) for _ in range(reps)]
        result["recalculate"] = {
            "warm": [runner.child("recalculate", home, api_url=api_url, argument=str(REFERENCE_YEAR)) for _ in range(reps)],
            "direct": [runner.child("recalculate-direct", home, argument=str(REFERENCE_YEAR)) for _ in range(reps)],
        }
    if extraction_table:
        result["extraction"] = {
            "table": extraction.TABLE,
            "rows": result["sizes"]["rows"][extraction.TABLE],
            "clients": extraction.extraction(mirror, extraction.TABLE, reps),
            "prerendered": extraction.extraction(mirror, extraction.TABLE, reps, prerendered=True),
        }
    shutil.rmtree(mirror)
    shutil.rmtree(home)
    return result


def nightly(runner: Runner, api_url: str, reps: int) -> dict[str, Any]:
    """Whole catalog at 1x: a first refresh lands everything, then unchanged refreshes are measured."""
    mirror, home = runner.tmp / "mirror-nightly", runner.tmp / "home-nightly"
    runner.run(["bench.generate", "1", str(mirror), "--whole-catalog"], {})
    with MirrorProcess(mirror, extraction.LATENCY) as server:
        first = runner.child("refresh", home, api_url=api_url, WERKREGIO_CBS_URL=server.base_url)
        first["requests"] = len(server.take_log()["requests"])
        unchanged = []
        for _ in range(reps):
            run = runner.child("refresh", home, api_url=api_url, WERKREGIO_CBS_URL=server.base_url)
            run["log"] = server.take_log()["requests"]
            unchanged.append(run)
        v4 = {"WERKREGIO_CBS_API": "v4", "WERKREGIO_CBS_V4_URL": f"{server.base_url}/odata/v1"}
        over_v4 = runner.child("refresh", home, api_url=api_url, **v4)  # the same landings: v4 asks its catalogue
        over_v4["log"] = server.take_log()["requests"]
    return {"first": first, "unchanged": unchanged, "unchanged_v4": over_v4}


REFERENCE = "import time; t = time.perf_counter(); sum(i * i for i in range(5_000_000)); print(time.perf_counter() - t)"


def reference_seconds(reps: int = 3) -> float:
    """The machine's speed at the moment: median wall seconds of a fixed pure-Python loop, each in a fresh process.

    Shared virtual machines vary by tens of percent within hours; this figure, taken before and
    after the run, tells readers whether two runs of the bench may be compared.
    """
    runs = [float(subprocess.run([sys.executable, "-c", REFERENCE], capture_output=True, text=True, check=True).stdout) for _ in range(reps)]
    return sorted(runs)[len(runs) // 2]


IMPORTS = "import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"


def import_seconds(module: str, reps: int = 3) -> float:
    """Median wall seconds of ``import module`` in a fresh process (what every build, flow run or worker process pays once)."""
    code = IMPORTS.format(module=module)
    runs = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()[-1]) for _ in range(reps)]
    return sorted(runs)[len(runs) // 2]


def cpu_times() -> list[int]:
    """The machine's CPU time counters (``/proc/stat``, first line: user, nice, system, idle, iowait, irq, softirq, steal, ...)."""
    return [int(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]


def steal_share(before: list[int], after: list[int]) -> float:
    """The share of CPU time the hypervisor gave to other machines between two :func:`cpu_times` (the ``steal`` counter)."""
    spent = [b - a for a, b in zip(before, after)]
    total = sum(spent[:8])  # guest time is already counted in user and nice
    return spent[7] / total if total else 0.0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 10, 100], help="scale factors (default 1 10 100)")
    parser.add_argument("--reps", type=int, default=3, help=f"repetitions per measurement (default 3; 1 from {LARGE_SCALE}x on)")
    parser.add_argument("--quick", action="store_true", help="1x only")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--results", type=Path, default=ROOT / "docs" / "benchmarks.json", help="raw figures, written next to the report")
    parser.add_argument("--render-only", action="store_true", help="measure nothing: render the report again from --results")
    args = parser.parse_args(argv)
    if args.render_only:
        results = json.loads(args.results.read_text(encoding="utf-8"))
        results["scales"] = {int(scale): result for scale, result in results["scales"].items()}
        args.output.write_text(report.render(results), encoding="utf-8")
        print(f"wrote {args.output} from {args.results}")
        return
    scales = [1] if args.quick else sorted(set(args.scales))
    results: dict[str, Any] = {"command": "python -m bench " + " ".join(sys.argv[1:] if argv is None else argv), "load_before": os.getloadavg()}
    results["started"] = time.strftime("%Y-%m-%d %H:%M %Z")
    results["reference_before"], counters = reference_seconds(), cpu_times()
    results["import_seconds"] = {module: import_seconds(module) for module in ("great_expectations", "prefect", "polars", "pandas")}
    extraction_scale = max(s for s in scales if s <= 10) if any(s <= 10 for s in scales) else None
    with tempfile.TemporaryDirectory(prefix="werkregio-bench-") as tmp:
        runner = Runner(Path(tmp))
        prefect_database = [sys.executable, "-m", "prefect", "server", "database", "upgrade", "-y"]
        subprocess.run(prefect_database, env=runner.base_env | {"PREFECT_HOME": str(runner.cold_prefect_home)}, check=True, capture_output=True)
        with prefect_server(runner) as api_url:
            results["scales"] = {
                scale: bench_scale(runner, scale, args.reps if scale < LARGE_SCALE else 1, api_url, scale == extraction_scale)
                for scale in scales
            }
            results["nightly"] = nightly(runner, api_url, args.reps)
    results["load_after"] = os.getloadavg()
    results["steal"], results["reference_after"] = steal_share(counters, cpu_times()), reference_seconds()
    args.results.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    args.output.write_text(report.render(results), encoding="utf-8")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
