"""The local stack's runtime as Lambda's: each container a process of its own, with its own import of the
handler; a pool that grows with concurrent invocations and reuses idle containers; a container that
exits mid-invocation fails that invocation (the API answers 500, the queue retries the batch) and is
replaced; and nothing left running once the stack stops, by Ctrl-C or because its process was killed.

Most tests use a tiny function of their own (tests/integration/probe_function), whose cold start is a
few milliseconds; the last ones run `python -m local` as `make local` does. Every wait is bounded."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from local.api_front import ApiFront
from local.lambdas import FunctionError, LocalFunction
from local.queue_runner import QueuePoller
from local.template import ROOT, FunctionSpec, HttpRoute, QueueTrigger

PROBE = FunctionSpec(
    logical_id="ProbeFunction",
    code_dir=Path(__file__).parent / "probe_function",
    handler="app.handler",
    timeout_seconds=2,
    memory_mb=128,
)


# -- processes, seen through /proc ------------------------------------------------------------------------
def alive(pid: int) -> bool:
    """Whether ``pid`` is a process that has not ended (a zombie has)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def children() -> dict[int, list[int]]:
    found: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except (FileNotFoundError, ProcessLookupError):
                continue
            parent = int(stat.rpartition(")")[2].split()[1])
            found.setdefault(parent, []).append(int(entry.name))
    return found


def descendants(pid: int) -> set[int]:
    tree, found, todo = children(), set(), [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def until(condition: Callable[[], bool], *, timeout: float) -> bool:
    """Whether ``condition`` came true within ``timeout`` seconds (checked every 50 ms)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


# -- the pool ------------------------------------------------------------------------------------------------
@pytest.fixture
def probe() -> Iterator[LocalFunction]:
    function = LocalFunction(PROBE, {"PROBE_SETTING": "first"}, max_concurrency=3)
    yield function
    function.close()


def test_a_container_keeps_its_module_state_and_is_reused(probe: LocalFunction) -> None:
    first = probe.invoke({})
    second = probe.invoke({})

    assert second["pid"] == first["pid"] != os.getpid()
    assert (first["invocations"], second["invocations"]) == (1, 2)
    assert first["function_name"] == "ProbeFunction"
    assert first["setting"] == "first"  # the function's own environment


def test_a_container_that_exits_mid_invocation_fails_it_and_is_replaced(probe: LocalFunction) -> None:
    crashed = probe.invoke({})["pid"]

    with pytest.raises(FunctionError) as failure:
        probe.invoke({"action": "exit"})

    assert failure.value.error_type == "Runtime.ExitError"
    assert not alive(crashed)
    replacement = probe.invoke({})
    assert replacement["pid"] != crashed
    assert replacement["invocations"] == 1  # a cold start
    assert probe.pids() == [replacement["pid"]]


def test_a_handler_error_fails_the_invocation_and_keeps_the_container(probe: LocalFunction) -> None:
    pid = probe.invoke({})["pid"]

    with pytest.raises(FunctionError) as failure:
        probe.invoke({"action": "raise"})

    assert failure.value.error_type == "ValueError"
    assert probe.invoke({})["pid"] == pid


def test_an_invocation_past_the_timeout_is_ended_with_its_container(probe: LocalFunction) -> None:
    pid = probe.invoke({})["pid"]

    with pytest.raises(FunctionError) as failure:
        probe.invoke({"action": "sleep", "seconds": 30})

    assert failure.value.error_type == "Sandbox.Timedout"
    assert not alive(pid)
    assert probe.invoke({})["pid"] != pid


def test_two_invocations_at_once_run_in_two_containers(probe: LocalFunction, tmp_path: Path) -> None:
    release = tmp_path / "release"
    with ThreadPoolExecutor(max_workers=1) as pool:
        waiting = pool.submit(probe.invoke, {"action": "wait_for", "path": str(release)})
        meanwhile = probe.invoke({})  # the first container is busy: a second one starts
        release.touch()
        held = waiting.result(timeout=30)

    assert held["pid"] != meanwhile["pid"]
    assert sorted(probe.pids()) == sorted([held["pid"], meanwhile["pid"]])


def test_a_new_environment_is_for_new_containers(probe: LocalFunction) -> None:
    before = probe.invoke({})

    probe.set_environment({"PROBE_SETTING": "second"})
    after = probe.invoke({})

    assert after["setting"] == "second"
    assert after["pid"] != before["pid"]
    assert until(lambda: not alive(before["pid"]), timeout=10)


def test_closing_the_pool_leaves_no_container(probe: LocalFunction, tmp_path: Path) -> None:
    with ThreadPoolExecutor(max_workers=2) as pool:
        busy = pool.submit(probe.invoke, {"action": "wait_for", "path": str(tmp_path / "never")})
        assert until(lambda: len(probe.pids()) == 1, timeout=10)
        probe.invoke({})
        pids = probe.pids()

        probe.close()

        with pytest.raises(FunctionError):
            busy.result(timeout=30)
    assert len(pids) == 2
    assert not any(alive(pid) for pid in pids)


# -- the API front and the queue runner ----------------------------------------------------------------------
@pytest.fixture
def front(probe: LocalFunction) -> Iterator[str]:
    api = ApiFront(
        [HttpRoute("POST", "/probe", "ProbeFunction")], {"ProbeFunction": probe}, host="127.0.0.1", port=0
    ).start()
    yield api.base_url
    api.stop()


def test_the_front_answers_500_for_a_crashed_container_and_runs_requests_side_by_side(
    front: str, tmp_path: Path
) -> None:
    release = tmp_path / "release"
    with httpx.Client(base_url=front, timeout=30) as client, ThreadPoolExecutor(max_workers=1) as pool:
        crashed = client.post("/probe", json={"action": "exit"})
        waiting = pool.submit(client.post, "/probe", json={"action": "wait_for", "path": str(release)})
        meanwhile = client.post("/probe", json={})  # not held up behind the request that waits
        release.touch()
        held = waiting.result(timeout=30)

    assert crashed.status_code == 500
    assert crashed.json() == {"message": "Internal Server Error"}
    assert meanwhile.status_code == held.status_code == 200
    assert meanwhile.json()["pid"] != held.json()["pid"]


def test_the_queue_runner_retries_the_batch_of_a_crashed_container(
    probe: LocalFunction, aws: Any, tmp_path: Path
) -> None:
    sqs = aws("sqs")
    queue_url = sqs.create_queue(QueueName="probe-crash")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    out = tmp_path / "out"
    trigger = QueueTrigger("ProbeQueue", 10, "ProbeFunction", report_batch_item_failures=True)
    poller = QueuePoller(
        trigger, probe, sqs, queue_url=queue_url, queue_arn=queue_arn, region="us-east-1", concurrency=1
    )
    sqs.send_message(
        QueueUrl=queue_url, MessageBody=json.dumps({"marker": str(tmp_path / "m"), "out": str(out), "n": 1})
    )

    poller.start()
    try:
        delivered = until(out.exists, timeout=30)
    finally:
        poller.stop()

    assert delivered
    assert (tmp_path / "m").read_text() == "crashed once"
    assert out.read_text() == "1\n"


# -- the whole stack, as `make local` runs it ------------------------------------------------------------
def start_local(*arguments: str) -> subprocess.Popen[str]:
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(str(ROOT / entry) for entry in (".", "layers/videojobs", "cli")),
        "LOCAL_API_PORT": "0",
        "LOCAL_AWS_PORT": "0",
        "LOCAL_SIMULATOR_PORT": "0",
        "POWERTOOLS_LOG_LEVEL": "ERROR",
    }
    return subprocess.Popen(  # noqa: S603
        [sys.executable, *arguments],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def wait_for_line(process: subprocess.Popen[str], text: str, *, timeout: float) -> list[str]:
    """The lines ``process`` printed up to the one holding ``text`` (read on a thread: bounded)."""
    lines: list[str] = []
    found = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if text in line:
                found.set()
                return

    threading.Thread(target=read, daemon=True).start()
    assert found.wait(timeout), f"no {text!r} within {timeout} s: {lines}"
    return lines


def test_ctrl_c_stops_make_local_and_every_process_it_started() -> None:
    local = start_local("-m", "local")
    try:
        banner = wait_for_line(local, "Ctrl-C stops everything.", timeout=180)
        api = next(line.split()[-1] for line in banner if line.startswith("API "))
        started = descendants(local.pid)
        assert httpx.get(f"{api}/openapi.json", timeout=30).status_code == 403  # up, and unsigned

        local.send_signal(signal.SIGINT)
        code = local.wait(timeout=60)
    finally:
        if local.poll() is None:
            local.kill()
            local.wait()

    assert code == 0
    assert len(started) >= 11  # moto and one container per function
    assert until(lambda: not any(alive(pid) for pid in started), timeout=10), [
        pid for pid in started if alive(pid)
    ]


CHILDREN_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from local.lambdas import LocalFunction
    from local.moto_server import MotoProcess
    from local.template import FunctionSpec

    spec = FunctionSpec("ProbeFunction", Path(sys.argv[1]), "app.handler", 5, 128)
    moto = MotoProcess("127.0.0.1", 0).start()
    probe = LocalFunction(spec)
    probe.start_container()
    print(moto.pid, *probe.pids(), flush=True)
    time.sleep(120)
    """
)


def test_the_stacks_processes_end_when_its_process_is_killed() -> None:
    parent = start_local("-c", CHILDREN_SCRIPT, str(PROBE.code_dir))
    try:
        assert parent.stdout is not None
        pids = [int(pid) for pid in parent.stdout.readline().split()]
        assert len(pids) == 2
        assert all(alive(pid) for pid in pids)

        parent.kill()  # SIGKILL: no chance to stop anything
        parent.wait(timeout=30)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()

    assert until(lambda: not any(alive(pid) for pid in pids), timeout=10), [pid for pid in pids if alive(pid)]
