"""verify.campaign: chunked runs merge to the single-process answer, resume, refuse other parameters,
survive a killed worker, and need Dask only for a cluster."""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from symnn.cli import main
from symnn.errors import SymnnError
from verify.boolean.construct import SignNetwork
from verify.boolean.exhaustive import Symmetric, evaluate, evaluate_range, random_network
from verify.boolean.table import BooleanFunction
from verify.campaign import (
    Campaign,
    CampaignError,
    MissingDaskError,
    count_campaign,
    min_width_campaign,
    run,
    verify_campaign,
)
from verify.campaign.faults import pause_once
from verify.campaign.gradients import check_campaign, draw_network

# OEIS A000609: threshold functions of n variables (published, independent of the code)
A000609 = (2, 4, 14, 104, 1882)


def _same(a, b):
    """Evaluations equal in everything but the time they took."""
    return dataclasses.replace(a, seconds=0.0) == dataclasses.replace(b, seconds=0.0)


def _brute(net: SignNetwork, table: np.ndarray) -> tuple[int, int, int]:
    """(positives, mismatches, first mismatch) by NumPy on the explicit cube, x_j = bit j of the index."""
    d = net.d
    idx = np.arange(1 << d)
    X = np.where((idx[:, None] >> np.arange(d)) & 1, 1, -1)
    h = np.sign(X @ net.W1.T + net.b1)
    out = np.sign(h @ net.W2 + net.b2)
    bad = np.flatnonzero(out != table)
    return int((out > 0).sum()), int(bad.size), int(bad[0]) if bad.size else -1


# -- merges, in this process ---------------------------------------------------------------------------------
@pytest.mark.parametrize("chunks", [1, 3, 8])
def test_verify_chunks_merge_to_brute_force_and_evaluate(chunks):
    net = random_network(10, 4, seed=5)
    table = np.random.default_rng(1).choice([-1, 1], size=1 << 10)
    target = BooleanFunction(10, table, "random")
    merged = run(verify_campaign(net, target, chunks=chunks)).value
    assert (merged.positives, merged.mismatches, merged.first_mismatch) == _brute(net, table)
    assert _same(merged, evaluate(net, target)[0])


def test_first_mismatch_is_the_smallest_over_chunks():
    # OR of 8 inputs and a network computing AND: they differ exactly where some but not all x_j = +1;
    # index 1 is the first (x_0 = +1 only); by_count of the symmetric target is read per chunk
    d = 8
    net = SignNetwork(np.ones((1, d), dtype=np.int64), np.array([-(d - 1)]), np.array([1]), 0)
    merged = run(verify_campaign(net, Symmetric.named("or", d), chunks=4)).value
    assert merged.first_mismatch == 1
    assert merged.mismatches == 2**d - 2
    late = evaluate_range(net, Symmetric.named("or", d), 128, 256)
    assert late.first_mismatch == 128 and late.inputs == 128


def test_evaluate_range_rejects_unaligned_bounds():
    with pytest.raises(SymnnError, match="block_size"):
        evaluate_range(random_network(10, 2), None, 3, 64)


@pytest.mark.parametrize("method", ["lp", "regions"])
def test_count_chunks_give_the_published_counts(method):
    for n in range(5):
        value, _ = run(count_campaign(n, method, chunks=min(3, 1 << n))).value
        assert value == A000609[n]


def test_regions_chunks_give_the_characteristic_polynomial():
    # |coefficients| of the characteristic polynomial of the threshold arrangement for n = 2: 1, 4, 6, 3
    assert run(count_campaign(2, "regions", chunks=3)).value == (14, (1, 4, 6, 3))


def test_min_width_survey_chunks():
    out = run(min_width_campaign(3, chunks=4)).value
    # 256 functions of 3 variables: 2 constants, 102 other threshold functions, parity and its negation need 3
    assert out.counts == {0: 2, 1: 102, 2: 150, 3: 2}
    assert out.checked == 256
    from verify.boolean.minwidth import width_distribution

    assert out.classes == width_distribution(3).classes


def test_check_campaign_draws_the_same_networks_and_reports():
    assert draw_network(3, 1).name == draw_network(3, 1).name
    names = {draw_network(0, j).name for j in range(4)}
    assert len(names) > 1  # not the same (simplest) network every time
    plan = check_campaign(2, oracles=("fd", "adjoint"), paths=("executor",), modes=("reverse",), chunks=2)
    first, second = run(plan).value, run(dataclasses.replace(plan, chunks=1)).value
    assert first == second
    assert [d["index"] for d in first] == [0, 1]
    assert all(d["report"]["compared"] > 0 for d in first)


# -- results directory ---------------------------------------------------------------------------------------
def test_results_resume_and_atomic_files(tmp_path):
    net = random_network(12, 3, seed=2)
    plan = verify_campaign(net, Symmetric.named("parity", 12), chunks=4)
    first = run(plan, results=tmp_path)
    assert first.reused == 0
    folder = tmp_path / "verify"
    files = sorted(p.name for p in folder.iterdir())
    assert files == [*(f"chunk-{i:06d}.json" for i in range(4)), "chunk_sha256.log", "manifest.json"]  # nothing else
    again = run(plan, results=tmp_path)
    assert again.reused == 4 and _same(again.value, first.value)
    (folder / "chunk-000002.json").unlink()
    (folder / "chunk-000001.json").write_text('{"chunk": 1, "res')  # a torn file is redone, not trusted
    third = run(plan, results=tmp_path)
    assert third.reused == 2 and _same(third.value, first.value)
    assert json.loads((folder / "chunk-000001.json").read_text())["chunk"] == 1


def test_results_with_other_parameters_are_refused(tmp_path):
    run(verify_campaign(random_network(10, 2, seed=1), chunks=2), results=tmp_path)
    with pytest.raises(CampaignError, match=r"other parameters.*chunks: 4 now, 2 there"):
        run(verify_campaign(random_network(10, 2, seed=1), chunks=4), results=tmp_path)
    with pytest.raises(CampaignError, match=r"params\.network"):
        run(verify_campaign(random_network(10, 2, seed=2), chunks=2), results=tmp_path)


def test_cli_campaign_prints_the_single_process_answer(tmp_path, capsys):
    argv = ["boolean", "verify", "parity:12", "--random", "12", "3", "--json"]
    assert main(argv) == 1
    plain = json.loads(capsys.readouterr().out)
    assert main([*argv, "--chunks", "3", "--results", str(tmp_path)]) == 1
    chunked = json.loads(capsys.readouterr().out)
    assert chunked.pop("campaign")["chunks"] == 3
    plain.pop("seconds"), chunked.pop("seconds")
    assert chunked == plain
    assert main(["boolean", "count", "3", "--chunks", "2", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["results"][0]["counts"] == {"lp": 104, "regions": 104}
    survey = ["boolean", "min-width", "--distribution", "3", "--json"]
    assert main(survey) == 0
    plain = json.loads(capsys.readouterr().out)
    assert main([*survey, "--chunks", "5"]) == 0
    chunked = json.loads(capsys.readouterr().out)
    assert chunked.pop("campaign")["chunks"] == 5
    plain.pop("seconds"), chunked.pop("seconds")
    assert chunked == plain
    assert main(["boolean", "min-width", "parity:3", "--chunks", "2"]) == 2  # one function is not a survey


@pytest.mark.parametrize(
    "argv",
    [["boolean", "verify", "parity:12", "--random", "12", "3"], ["boolean", "min-width", "--distribution", "2"]],
    ids=["verify", "min-width"],
)
def test_quiet_campaigns_draw_no_progress(argv, capsys):
    main([*argv, "--chunks", "3"])
    loud = capsys.readouterr()
    main([*argv, "--chunks", "3", "--quiet"])
    quiet = capsys.readouterr()
    assert "chunks" in loud.err and quiet.err == ""
    assert _same_but_times(quiet.out, loud.out), (quiet.out, loud.out)


def _same_but_times(a: str, b: str) -> bool:
    """The same text once times (``1.23 s``, ``45 ms``) are blanked."""
    times = re.compile(r"\d+(\.\d+)?\s*(s|ms|us|µs)\b")
    return times.sub("T", a) == times.sub("T", b)


# -- without Dask ----------------------------------------------------------------------------------------------
def test_without_dask_a_cluster_is_a_clear_error_and_the_rest_runs(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    plan = verify_campaign(random_network(10, 2), chunks=2)
    with pytest.raises(MissingDaskError, match=r'pip install "symnn\[dask\]"'):
        run(plan, workers=1)
    assert run(plan).value.inputs == 1024
    assert main(["boolean", "verify", "--random", "10", "2", "--workers", "2"]) == 2
    assert 'pip install "symnn[dask]"' in capsys.readouterr().err
    assert main(["check", "--campaign", "1", "--scheduler", "tcp://127.0.0.1:1"]) == 2
    assert 'pip install "symnn[dask]"' in capsys.readouterr().err


def test_campaign_module_imports_dask_lazily():
    import subprocess

    code = "import sys, verify.campaign; print('distributed' in sys.modules, 'dask' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_bad_campaign_arguments():
    with pytest.raises(CampaignError, match="at least one chunk"):
        Campaign("x", {}, 0, pause_once, sum)
    with pytest.raises(CampaignError, match="--chunks 9999"):
        verify_campaign(random_network(10, 2), chunks=9999)
    with pytest.raises(CampaignError, match="at most one"):
        run(verify_campaign(random_network(10, 2)), workers=1, scheduler="tcp://127.0.0.1:1")
    assert main(["check", "--workers", "2"]) == 2


# -- on a local Dask cluster (loopback) ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    from verify.campaign.cluster import local_cluster

    with local_cluster(2, threads=1) as cluster, distributed.Client(cluster) as c:
        yield c


def test_cluster_results_equal_single_process(client):
    net = random_network(16, 5, seed=7)
    target = Symmetric.named("majority", 16)
    out = run(verify_campaign(net, target, chunks=6), client=client)
    assert out.where.startswith("local Dask cluster")
    assert _same(out.value, evaluate(net, target)[0])
    count, whitney = run(count_campaign(4, "regions", chunks=4), client=client).value
    assert count == 1882 and whitney == (1, 16, 120, 460, 820, 465)


def test_check_campaign_on_the_cluster_equals_in_process(client):
    plan = check_campaign(2, oracles=("fd", "adjoint"), paths=("executor",), modes=("reverse",))
    assert run(plan, client=client).value == run(plan).value


def test_cli_on_a_running_scheduler(client, tmp_path, capsys):
    address = client.scheduler.address
    argv = ["boolean", "count", "4", "--method", "regions", "--json"]
    assert main([*argv, "--scheduler", address, "--chunks", "5", "--results", str(tmp_path)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["results"][0]["counts"] == {"regions": 1882}
    assert doc["campaign"]["where"].startswith(f"Dask scheduler {address}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["count-regions-4"]


def test_unreachable_scheduler_is_a_clear_error(monkeypatch):
    pytest.importorskip("distributed")
    from verify.campaign import cluster

    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT", "0.5s")
    with pytest.raises(CampaignError, match=r"cannot reach the Dask scheduler at 'tcp://127\.0\.0\.1:9'"):
        run(verify_campaign(random_network(10, 2)), scheduler="tcp://127.0.0.1:9")


def test_a_worker_killed_mid_chunk_loses_nothing(client, tmp_path):
    net = random_network(14, 4, seed=3)
    target = Symmetric.named("parity", 14)
    plan = verify_campaign(net, target, chunks=4)
    marker = tmp_path / "marker"
    marker.mkdir()
    faulty = dataclasses.replace(plan, chunk=functools.partial(pause_once, str(marker), 2, plan.chunk))
    killed: list[int] = []

    def killer() -> None:
        deadline = time.monotonic() + 60
        while not (marker / "started").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        pid = int((marker / "started").read_text())
        os.kill(pid, signal.SIGKILL)  # the worker dies in the middle of chunk 2
        killed.append(pid)
        (marker / "released").touch()  # the retry runs through

    t = threading.Thread(target=killer)
    t.start()
    out = run(faulty, client=client, results=tmp_path / "results")
    t.join()
    assert killed and killed[0] not in client.run(os.getpid).values()
    attempts = (marker / "runs").read_text().split()
    assert len(attempts) == 2 and attempts[0] == str(killed[0]) != attempts[1]  # retried in another process
    assert _same(out.value, evaluate(net, target)[0])
    assert len(list((tmp_path / "results" / "verify").glob("chunk-*.json"))) == 4


PROGRESS_LINE = re.compile(r"^\[\d+/\d+\] ")


def test_ctrl_c_during_a_dask_run_is_one_line_and_closes_the_cluster(tmp_path):
    """Ctrl-C reaches the terminal's whole process group: the command, its nannies and its worker processes."""
    pytest.importorskip("distributed")
    results = tmp_path / "runs"
    argv = ["boolean", "verify", "--random", "30", "24", "--workers", "2", "--results", str(results)]
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from symnn.cli import main; sys.exit(main())", *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
        start_new_session=True,  # its own process group, as a terminal gives a command
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    deadline = time.monotonic() + 240
    while not list(results.rglob("chunk-*.json")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)  # the first chunk saved: the cluster is up and its workers are computing
    assert proc.poll() is None, proc.communicate()[1].decode()
    os.killpg(proc.pid, signal.SIGINT)
    err = proc.communicate(timeout=120)[1].decode()
    assert proc.returncode == 130, err
    lines = [line for line in err.splitlines() if not PROGRESS_LINE.match(line)]
    assert len(lines) == 1 and lines[0].startswith("symnn: error: interrupted (Ctrl-C)"), err
    closed = time.monotonic() + 30
    while time.monotonic() < closed:  # nannies and workers are gone with the command
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail("worker processes outlived the interrupted command")
    folder = results / "verify"
    saved = sorted(folder.iterdir())
    logs = [p for p in saved if p.name == "chunk_sha256.log"]
    saved = [p for p in saved if p not in logs]
    assert saved and all(p.name == "manifest.json" or re.fullmatch(r"chunk-\d{6}\.json", p.name) for p in saved)
    for p in saved:  # whole files only, no temporary ones left
        json.loads(p.read_text())
    for line in logs[0].read_text().splitlines() if logs else []:  # whole digest lines
        assert re.fullmatch(r"\d+ [0-9a-f]{64}", line), line


def test_sigint_held_defers_a_ctrl_c_to_the_end_of_the_block():
    from verify.campaign.cluster import sigint_held

    reached = False
    with pytest.raises(KeyboardInterrupt):
        with sigint_held():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
            reached = True
    assert reached


def test_benchmark_script_smoke(capsys):
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "campaign.py"
    spec = importlib.util.spec_from_file_location("campaign_bench", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--d", "12", "--workers", "--repeat", "1", "--chunks", "2", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [(r["path"], r["chunks"]) for r in doc["rows"]] == [("single", 1), ("in-process", 2)]
    assert all(r["inputs_per_s"] > 0 for r in doc["rows"])


def test_drawing_a_network_writes_nothing_in_the_users_directory(tmp_path):
    # Hypothesis caches module constants under ./.hypothesis; the campaign runs in the user's directory
    env = {k: v for k, v in os.environ.items() if k != "HYPOTHESIS_STORAGE_DIRECTORY"}
    argv = [sys.executable, "-m", "symnn.cli", "check", "--campaign", "1", "--quiet"]
    proc = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert list(tmp_path.iterdir()) == []
