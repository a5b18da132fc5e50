"""`labour-trust up` stops everything it started, on SIGINT and on SIGTERM, without a
traceback: real processes (dg dev, webserver, daemon, moto_server), no mocks."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from labour_trust.cli import STOP_GRACE_SECONDS
from labour_trust.evaluation import spec as spec_module

STARTUP_TIMEOUT = 120.0  # two cores, shared: dg dev loads the definitions twice
GONE_TIMEOUT = STOP_GRACE_SECONDS + 15.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, ppid) of a process from /proc, or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[1])


def alive(pid: int) -> bool:
    stat = proc_stat(pid)
    return stat is not None and stat[0] != "Z"  # a zombie holds no port, no file


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def process_tree(root: int) -> set[int]:
    """`root` and every live descendant (by parent pid, from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := proc_stat(int(entry.name))) is not None:
            children.setdefault(stat[1], []).append(int(entry.name))
    tree, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid not in tree and alive(pid):
            tree.add(pid)
            todo.extend(children.get(pid, []))
    return tree


def answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2):
            return True
    except urllib.error.HTTPError:
        return True  # any HTTP answer: the webserver serves
    except OSError:
        return False


def start_up(home: Path, tmp_path: Path, *extra: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    script = Path(sys.executable).with_name("labour-trust")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "labour_trust.cli"]
    command += ["--home", str(home), "up", "--port", str(port), *extra]
    process = subprocess.Popen(  # files, not pipes: dagster's logs must never block it
        command,
        stdout=(tmp_path / "stdout.txt").open("wb"),
        stderr=(tmp_path / "stderr.txt").open("wb"),
        stdin=subprocess.DEVNULL,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    return process, port


def output(tmp_path: Path) -> tuple[str, str]:
    return (
        (tmp_path / "stdout.txt").read_text(errors="replace"),
        (tmp_path / "stderr.txt").read_text(errors="replace"),
    )


def wait_for(condition, process: subprocess.Popen[bytes], tmp_path: Path, what: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"`up` exited ({process.returncode}) before {what}: {output(tmp_path)}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"no {what} within {STARTUP_TIMEOUT:.0f} s: {output(tmp_path)}")
        time.sleep(0.5)


def stop_and_check(
    process: subprocess.Popen[bytes],
    tree: set[int],
    signum: int,
    tmp_path: Path,
    s3: bool = False,
) -> str:
    """Signal `up` (only its own pid, as `kill` or a terminal's Ctrl-C would), then assert
    every process of the recorded tree is gone in bounded time and nothing printed a
    traceback. Returns stdout."""
    process.send_signal(signum)
    try:
        process.wait(timeout=GONE_TIMEOUT)
    except subprocess.TimeoutExpired:
        for pid in tree:  # leave nothing behind, even when failing
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        pytest.fail(f"`up` did not exit within {GONE_TIMEOUT:.0f} s: {output(tmp_path)}")
    deadline = time.monotonic() + 5.0  # `up` waits for them; this is only for the reaping
    while (left := {p for p in tree if alive(p)}) and time.monotonic() < deadline:
        time.sleep(0.2)
    survivors = {pid: cmdline(pid) for pid in left}
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    stdout, stderr = output(tmp_path)
    assert not survivors, f"still running after `up` exited: {survivors}"
    assert process.returncode == 0, (process.returncode, stdout, stderr)
    # Our own stop never shows a traceback. (Dagster's daemon logs to stdout, and may log
    # one of its own there if it was launching a run when told to stop: not ours.)
    assert "Traceback" not in stderr, stderr
    assert "KeyboardInterrupt" not in stderr and "labour_trust/cli.py" not in stdout, stdout
    name = signal.Signals(signum).name
    what = "the demo S3" if s3 else "the Dagster UI and daemon"  # s3: stopped while seeding
    lines = [line for line in stdout.splitlines() if line.startswith("labour-trust up:")]
    assert lines == [f"labour-trust up: {name} received, stopped {what}."], stdout
    return stdout


def serve_then_stop(home: Path, tmp_path: Path, signum: int) -> None:
    process, port = start_up(home, tmp_path)
    wait_for(lambda: answers(port), process, tmp_path, "HTTP answer from the webserver")

    def daemon_running() -> bool:
        return any("dagster._daemon" in cmdline(pid) for pid in process_tree(process.pid))

    wait_for(daemon_running, process, tmp_path, "dagster daemon")
    tree = process_tree(process.pid)
    commands = " ".join(cmdline(pid) for pid in tree)
    log = "\n".join(output(tmp_path))
    stop_and_check(process, tree, signum, tmp_path)  # first: a failed assert leaves no server
    assert not answers(port)
    assert "dagster_dg_cli.cli dev" in commands and "dagster_webserver" in commands, commands
    for noise in ("superseded", "PreviewWarning", "BetaWarning"):  # what a newcomer reads
        assert noise not in log, log


def test_sigint_stops_ui_and_daemon(home: Path, tmp_path: Path) -> None:
    serve_then_stop(home, tmp_path, signal.SIGINT)


def test_sigterm_stops_ui_and_daemon(home: Path, tmp_path: Path) -> None:
    serve_then_stop(home, tmp_path, signal.SIGTERM)


def test_sigterm_stops_the_demo_s3(home: Path, tmp_path: Path) -> None:
    """`up --s3` starts moto_server (its own session) and seeds the demo into it; a
    SIGTERM while it seeds stops moto too, before the UI ever started."""
    process, _ = start_up(home, tmp_path, "--s3")

    def moto_running() -> bool:
        seeding = "seeding a demo" in output(tmp_path)[0]
        return seeding and any("moto" in cmdline(pid) for pid in process_tree(process.pid))

    wait_for(moto_running, process, tmp_path, "moto_server and seeding")
    tree = process_tree(process.pid)
    stop_and_check(process, tree, signal.SIGTERM, tmp_path, s3=True)


def test_an_edited_evaluations_spec_is_loaded_without_a_restart(home: Path, tmp_path: Path) -> None:
    """Adding an evaluation to evaluations.yaml adds its asset to the running UI and daemon;
    an invalid edit is reported and leaves the running definitions alone."""
    from labour_trust.evaluation.spec import DEMO_RESOURCE
    from labour_trust.operations.reload import graphql

    demo = yaml.safe_load((Path(spec_module.__file__).parent / DEMO_RESOURCE).read_text())
    process, port = start_up(home, tmp_path)
    url = f"http://127.0.0.1:{port}/graphql"

    def asset_paths() -> set[str]:
        try:
            nodes = graphql(url, "{ assetNodes { assetKey { path } } }")["data"]["assetNodes"]
        except (OSError, KeyError, TypeError):
            return set()
        return {"/".join(n["assetKey"]["path"]) for n in nodes}

    try:
        wait_for(
            lambda: "evaluation/employability_course_claimants" in asset_paths(),
            process,
            tmp_path,
            "the demo evaluation",
        )
        copy = dict(demo["evaluations"][0], name="employability_course_claimants_copy")
        (home / "evaluations.yaml").write_text(
            yaml.safe_dump({"evaluations": [*demo["evaluations"], copy]})
        )
        wait_for(
            lambda: "evaluation/employability_course_claimants_copy" in asset_paths(),
            process,
            tmp_path,
            "the added evaluation",
        )
        (home / "evaluations.yaml").write_text("evaluations: [{name: broken}]\n")
        wait_for(
            lambda: "is not valid, not loaded" in output(tmp_path)[0],
            process,
            tmp_path,
            "the invalid spec reported",
        )
        assert "evaluation/employability_course_claimants_copy" in asset_paths()
    finally:
        stop_and_check(process, process_tree(process.pid), signal.SIGTERM, tmp_path)
