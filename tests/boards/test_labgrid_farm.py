# SPDX-License-Identifier: Apache-2.0
"""The labgrid farm, with real labgrid on 127.0.0.1: a ``labgrid-coordinator``, one ``labgrid-exporter``
per emulated host, places, reservations, locks and NetworkSerialPort consoles. Each host's "board" is
QEMU behind tests/boards/labgrid_standin.py (the only stand-in: flashing restarts that QEMU with the ELF).

The patchbench sessions under test are real pytest sessions of tests/pipeline/test_benchmark.py with --farm.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from interrupts import as_from_a_shell
from machine import import_or_skip, needs

from harness.boards.process import free_port
from harness.paths import REPO_ROOT

import_or_skip("labgrid", "labgrid")  # pip install -e '.[farm]' (in the dev set: CI has it)

pytestmark = [pytest.mark.emulator, needs("arm-none-eabi-gcc", "qemu-system-arm")]

BIN = Path(sys.executable).parent
TARGET = "stm32f746"
MODEL = "kws_ref_model"
STANDIN = Path(__file__).with_name("labgrid_standin.py")
START_TIMEOUT_S = 20.0


def _wait_port(port: int, process: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start (exit code {process.poll()})") from None
            time.sleep(0.05)


@dataclass
class Host:
    """One exporter host: the stand-in board service and labgrid-exporter in one process group."""

    exporter: str
    place: str
    processes: list[subprocess.Popen] = field(default_factory=list)

    @property
    def pgid(self) -> int:
        return self.processes[0].pid

    def kill(self) -> None:
        if not self.processes:
            return
        try:
            os.killpg(self.pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        for process in self.processes:
            process.wait()


@dataclass
class Lab:
    directory: Path
    address: str = ""
    coordinator: subprocess.Popen | None = None
    hosts: dict[str, Host] = field(default_factory=dict)

    def start(self, places: dict[str, dict[str, str]], die_on_reset: dict[str, int] | None = None) -> Lab:
        port = free_port()
        self.address = f"127.0.0.1:{port}"
        yaml = []
        for place, tags in places.items():
            yaml += [f"{place}:", "  acquired: null", "  acquired_resources: []", "  aliases: []",
                     "  allowed: []", "  comment: ''", "  matches:", "  - cls: '*'", f"    exporter: exp-{place}",
                     f"    group: {place}", "    name: null", "    rename: null", "  reservation: null",
                     "  tags:", *[f"    {k}: {v}" for k, v in tags.items()]]  # fmt: skip
        (self.directory / "places.yaml").write_text("\n".join(yaml) + "\n")
        log = open(self.directory / "coordinator.log", "wb")
        self.coordinator = subprocess.Popen(
            [BIN / "labgrid-coordinator", "-l", self.address], cwd=self.directory, stdout=log, stderr=log
        )
        try:
            _wait_port(port, self.coordinator, "labgrid-coordinator")
            for place in places:
                self._start_host(place, (die_on_reset or {}).get(place, 0))
            self._wait_for_resources()
        except BaseException:
            self.stop()  # nothing of a half-started lab outlives the test
            raise
        return self

    def _start_host(self, place: str, die_on_reset: int) -> None:
        host = self.hosts[place] = Host(f"exp-{place}", place)
        console, control = free_port(), free_port()
        log = open(self.directory / f"{place}.log", "wb")
        standin = subprocess.Popen(
            [sys.executable, STANDIN, "--target", TARGET, "--console-port", str(console), "--control-port",
             str(control), "--die-on-reset", str(die_on_reset)],
            stdout=log, stderr=log, process_group=0, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        )  # fmt: skip
        host.processes.append(standin)
        _wait_port(control, standin, f"stand-in board of {place}")
        config = self.directory / f"exporter-{place}.yaml"
        config.write_text(
            f"{place}:\n  NetworkSerialPort:\n    host: 127.0.0.1\n    port: {console}\n    speed: 115200\n"
            f"    protocol: raw\n  QemuStandInFlasher:\n    host: 127.0.0.1\n    port: {control}\n"
        )
        exporter = subprocess.Popen(
            [BIN / "labgrid-exporter", "-c", self.address, "-n", host.exporter, "--hostname", "127.0.0.1",
             config], stdout=log, stderr=log, process_group=standin.pid,
        )  # fmt: skip
        host.processes.append(exporter)

    def _wait_for_resources(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            out = self.client("resources")
            if all(f"exp-{place}/{place}/QemuStandInFlasher" in out for place in self.hosts):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the exporters did not register their resources: {out}")
            time.sleep(0.2)

    def client(self, *args: str) -> str:
        done = subprocess.run(
            [BIN / "labgrid-client", "-x", self.address, *args], capture_output=True, text=True, timeout=30
        )
        return done.stdout + done.stderr

    def locked_places(self) -> list[str]:
        """Places the coordinator lists as acquired (labgrid-client who, one line per lock)."""
        return [line.split()[2] for line in self.client("who").splitlines()[1:] if line.strip()]

    def farm(self, tags: str = 'board = "mps2_f746"', name: str | None = None, wait_s: float = 120) -> Path:
        path = self.directory / f"lab-{abs(hash((tags, name)))}.toml"
        path.write_text(
            f'[labgrid]\ncoordinator = "{self.address}"\nwait_s = {wait_s}\ndrivers = ["QemuStandInDriver"]\n'
            f'driver_modules = ["labgrid_standin"]\n\n[[labgrid.place]]\ntarget = "{TARGET}"\ntags = {{ {tags} }}\n'
            + (f'name = "{name}"\n' if name else "")
        )
        return path

    def stop(self) -> None:
        for host in self.hosts.values():
            host.kill()
        if self.coordinator is not None:
            self.coordinator.kill()
            self.coordinator.wait()


@pytest.fixture(scope="module")
def two_places(tmp_path_factory):
    lab = Lab(tmp_path_factory.mktemp("lab")).start(
        {"place-a": {"board": "mps2_f746"}, "place-b": {"board": "mps2_f746"}}
    )
    yield lab
    lab.stop()


def _session_command(farm: Path, results: Path, patches: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "pytest", str(REPO_ROOT / "tests" / "pipeline" / "test_benchmark.py"), "-q",
            "-p", "no:cacheprovider", "--rootdir", str(REPO_ROOT), "--pb-target", TARGET, "--models", MODEL,
            "--patches", patches, "--depths", "4", "--input-modes", "counted", "--repeat", "1",
            "--results", str(results),
            "--farm", str(farm), *extra]  # fmt: skip


def _session_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PATCHBENCH_RUN_ID", "PYTEST_XDIST_WORKER")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT / "tests" / "boards"), str(REPO_ROOT)])
    return env


def _run_session(farm, results, patches, *extra, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        _session_command(farm, results, patches, *extra), cwd=cwd, env=_session_env(), capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip


def _start_session(farm, results, patches, *extra, cwd) -> subprocess.Popen:
    return subprocess.Popen(
        _session_command(farm, results, patches, *extra), cwd=cwd, env=_session_env(), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, preexec_fn=as_from_a_shell,
    )  # fmt: skip


def _wait_for_lock(lab: Lab, session: subprocess.Popen, places: list[str] | None = None) -> None:
    """Until the coordinator lists ``places`` (or, with None, any one place) as locked."""
    deadline = time.monotonic() + 90
    while not ((locked := lab.locked_places()) == places or (places is None and len(locked) == 1)):
        if session.poll() is not None or time.monotonic() > deadline:
            session.kill()
            pytest.fail(f"the session did not lock {places}: {session.communicate()[0]}")
        time.sleep(0.2)


def _rows(results: Path):
    from harness.results.db import ResultsDB

    with ResultsDB(results) as db:
        return db.results().sort_values(["p", "n"]).reset_index(drop=True)


def test_two_place_sweep_is_bit_exact_with_the_counts_of_local_qemu(two_places, tmp_path):
    from harness.pipeline.measure import measure

    done = _run_session(two_places.farm(), tmp_path / "lab.sqlite", "1,2", "-n", "2", cwd=tmp_path)
    print(done.stdout[-1500:])
    assert done.returncode == 0, done.stdout + done.stderr
    lab = _rows(tmp_path / "lab.sqlite")
    assert [(p, n) for p, n in zip(lab["p"], lab["n"], strict=True)] == [(1, 0), (2, 4)]
    assert set(lab["status"]) == {"passed"} and lab["exact"].all()
    assert set(lab["backend"]) == {"labgrid"}
    # each xdist worker held its own place; the row names the place and its exporter host
    assert set(lab["board_id"]) == {"labgrid:place-a@127.0.0.1", "labgrid:place-b@127.0.0.1"}
    assert set(lab["place"]) == {"place-a", "place-b"}
    for row in lab.itertuples():
        local = measure(MODEL, TARGET, row.p, row.n, backend="qemu", repeat=1)
        assert local.status == "passed" and local.exact
        assert (row.latency, row.latency_unit, row.output_crc, row.sram_measured) == (
            local.latency, local.latency_unit, local.output_crc, local.sram_measured,
        )  # fmt: skip
    assert two_places.locked_places() == []
    print(two_places.client("places"), two_places.client("who"))


def test_a_second_session_waits_for_the_one_place_then_runs(two_places, tmp_path):
    farm = two_places.farm('board = "mps2_f746"', name="place-a")
    # three points: the first session holds the place long enough to be stopped while it does
    first = _start_session(farm, tmp_path / "first.sqlite", "1,2,3", cwd=tmp_path)
    _wait_for_lock(two_places, first, ["place-a"])
    first.send_signal(signal.SIGSTOP)  # the first session keeps its lock until the second is seen waiting
    try:
        assert two_places.locked_places() == ["place-a"], "the first session ended before it was stopped"
        second = _start_session(farm, tmp_path / "second.sqlite", "1", cwd=tmp_path)
        deadline = time.monotonic() + 60
        while "state: waiting" not in two_places.client("reservations"):
            assert second.poll() is None and time.monotonic() < deadline, second.communicate()[0]
            time.sleep(0.2)
        assert two_places.locked_places() == ["place-a"]
    finally:
        first.send_signal(signal.SIGCONT)
    first_out = first.communicate(timeout=120)[0]
    second_out = second.communicate(timeout=120)[0]
    assert first.returncode == 0, first_out
    assert second.returncode == 0, second_out
    first_rows, second_rows = _rows(tmp_path / "first.sqlite"), _rows(tmp_path / "second.sqlite")
    assert set(first_rows["board_id"]) == set(second_rows["board_id"]) == {"labgrid:place-a@127.0.0.1"}
    assert set(second_rows["place"]) == {"place-a"}
    # the second session's point ran after the first session let the place go
    assert second_rows["created_at"].min() > first_rows["created_at"].max()
    assert two_places.locked_places() == []


def _stored_points(results: Path) -> int | None:
    """The points a session has stored so far (0 before its database exists), None while its database is
    locked (a point being written)."""
    if not results.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{results}?mode=ro", uri=True, timeout=1) as db:
            return db.execute("select count(*) from results").fetchone()[0]
    except sqlite3.OperationalError as error:
        return 0 if "no such table" in str(error) else None


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_interrupted_session_leaves_no_place_locked(two_places, tmp_path, signum):
    # The signal must reach the session while it holds its place with a point still to run: with both points'
    # firmware cached it takes a few seconds, about as long as a busy machine takes to see the lock. So the
    # session is stopped (SIGSTOP) as soon as it holds the place, and started again if by then it had stored
    # both points (it was only releasing the place: a signal there may rightly end it with 0).
    for attempt in range(3):
        results = tmp_path / f"r{attempt}.sqlite"
        session = _start_session(two_places.farm(), results, "1,2", cwd=tmp_path)
        _wait_for_lock(two_places, session)
        session.send_signal(signal.SIGSTOP)
        stored = _stored_points(results)
        if stored is not None and stored < 2:
            break
        session.send_signal(signal.SIGCONT)
        session.communicate(timeout=120)
    else:
        pytest.fail("three sessions stored both points before they could be stopped holding their place")
    session.send_signal(signum)
    session.send_signal(signal.SIGCONT)
    out = session.communicate(timeout=60)[0]
    assert session.returncode != 0, out
    assert two_places.locked_places() == [], out
    assert _stored_points(results) >= stored, out  # the points it had stored stay


def test_farm_release_unlocks_what_this_user_left_locked(two_places, capsys):
    from harness.cli import main

    two_places.client("-p", "place-b", "lock")
    assert two_places.locked_places() == ["place-b"]
    assert main(["farm", "release", "--farm", str(two_places.farm())]) == 0
    assert "released place-b" in capsys.readouterr().out
    assert two_places.locked_places() == []


def test_an_unknown_coordinator_or_place_is_a_clear_error_up_front(two_places, tmp_path):
    from harness.boards.farm import load_farm
    from harness.boards.lab_session import LabError, LabSession

    no_place = LabSession(load_farm(two_places.farm('board = "nosuch"')).lab)
    with pytest.raises(LabError, match=r"no place on labgrid coordinator .* matches board=nosuch .*places there: "
                                       r"place-a \(board=mps2_f746\); place-b"):  # fmt: skip
        no_place.check()
    no_place.close()
    farm = tmp_path / "nowhere.toml"
    farm.write_text(two_places.farm().read_text().replace(two_places.address, f"127.0.0.1:{free_port()}"))
    done = _run_session(farm, tmp_path / "r.sqlite", "1", cwd=tmp_path)
    assert done.returncode == 4, done.stdout + done.stderr  # a usage error: no point ran
    assert "cannot reach the labgrid coordinator 127.0.0.1:" in done.stderr
    assert "is labgrid-coordinator running there" in done.stderr


def test_a_place_whose_exporter_dies_mid_point_fails_that_point_and_the_session_goes_on(tmp_path):
    # Each host dies on its second reset, after 200 console bytes: the session's first place dies in
    # the second point, which must fail naming it; the third point runs on the other place.
    lab = Lab(tmp_path).start(
        {"place-a": {"board": "mps2_f746"}, "place-b": {"board": "mps2_f746"}},
        die_on_reset={"place-a": 2, "place-b": 2},
    )
    try:
        done = _run_session(lab.farm(), tmp_path / "r.sqlite", "1,2,3", cwd=tmp_path)
        assert done.returncode == 1, done.stdout + done.stderr
        rows = _rows(tmp_path / "r.sqlite")
        first, lost, after = rows.itertuples()
        assert first.status == "passed" and after.status == "passed" and after.exact
        dead = first.board_id.split(":")[1].split("@")[0]
        assert lost.status == "error"
        assert (
            f"labgrid place {dead} on exporter exp-{dead} (host 127.0.0.1) went away mid-run" in lost.reason
        )
        assert after.board_id != first.board_id
        assert "1 failed, 2 passed" in done.stdout
        assert lab.locked_places() == []
    finally:
        lab.stop()
