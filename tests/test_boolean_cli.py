"""``symnn boolean ...``: every action with --json, exit statuses, and bad input as one line with status 2."""

from __future__ import annotations

import json

import numpy as np
import pytest

from symnn import cli
from verify.boolean import cube


def run(capsys, *argv):
    code = cli.main(["boolean", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def forward(doc: dict, d: int) -> list[int]:
    """The printed network evaluated here with numpy: the printed certificate, independently re-checked."""
    X = cube(d).astype(np.int64)
    W1 = np.array(doc["W1"], dtype=np.int64).reshape(-1, d)
    h = np.sign(X @ W1.T + np.array(doc["b1"], dtype=np.int64))
    return np.sign(h @ np.array(doc["W2"], dtype=np.int64) + doc["b2"]).tolist()


def test_construct_json(capsys):
    code, out, _ = run(capsys, "construct", "parity:3", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["network"]["k"] == 4 and doc["verified"]["ok"]
    assert forward(doc["network"], 3) == [-1, 1, 1, -1, 1, -1, -1, 1]


def test_construct_text_literal(capsys):
    code, out, _ = run(capsys, "construct", "x0 & x1", "--literal")
    assert code == 0 and "b2 = 0" in out and "always-on" in out


def test_verify_network_file(capsys, tmp_path):
    _, out, _ = run(capsys, "construct", "majority:5", "--json")
    path = tmp_path / "net.json"
    path.write_text(json.dumps(json.loads(out)["network"]))
    code, out, _ = run(capsys, "verify", "majority:5", "--network", str(path), "--json")
    assert code == 0 and json.loads(out)["ok"] and json.loads(out)["inputs"] == 32
    code, out, _ = run(capsys, "verify", "and:5", "--network", str(path), "--json")
    doc = json.loads(out)
    assert code == 1 and not doc["ok"] and doc["mismatches"] == 15  # majority vs AND: 16 - 1 inputs differ


def test_verify_random_network_counts_against_numpy(capsys):
    code, out, _ = run(capsys, "verify", "--random", "12", "5", "--seed", "3", "--json")
    doc = json.loads(out)
    from verify.boolean.exhaustive import random_network

    net = random_network(12, 5, seed=3)
    X = cube(12).astype(np.int64)
    o = np.sign(np.sign(X @ net.W1.T + net.b1) @ net.W2 + net.b2)
    assert code == 0 and doc["positives"] == int((o > 0).sum()) and doc["inputs"] == 4096


def test_verify_symmetric_target_without_table(capsys):
    code, out, _ = run(capsys, "verify", "parity:21", "--random", "21", "3", "--json")
    doc = json.loads(out)
    assert code == 1 and doc["target"] == "parity:21" and doc["mismatches"] > 0


def test_threshold_both_answers(capsys):
    code, out, _ = run(capsys, "threshold", "majority:3", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["is_threshold"] and doc["weights"] == [1, 1, 1] and doc["bias"] == 0
    code, out, _ = run(capsys, "threshold", "0110", "--json")
    doc = json.loads(out)["radon"]
    assert code == 0 and not json.loads(out)["is_threshold"]
    t, f = np.array(doc["true_points"]), np.array(doc["false_points"])
    assert len(t) == len(f) and (t.sum(axis=0) == f.sum(axis=0)).all()
    code, out, _ = run(capsys, "threshold", "x0 & x1 | x2 & x3")
    assert code == 0 and "NOT a threshold function" in out


def test_count(capsys):
    code, out, _ = run(capsys, "count", "2", "3", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["agree"]
    assert [r["counts"] for r in doc["results"]] == [{"lp": 14, "regions": 14}, {"lp": 104, "regions": 104}]


def test_min_width(capsys):
    code, out, _ = run(capsys, "min-width", "x0 ^ x1 ^ x2", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["min_width"] == 3 and doc["exact"]
    assert forward(doc["witness"], 3) == [-1, 1, 1, -1, 1, -1, -1, 1]
    code, out, _ = run(capsys, "min-width", "--distribution", "2", "--json")
    assert code == 0 and json.loads(out)["min_width_counts"] == {"0": 2, "1": 12, "2": 2}


def test_shatter(capsys):
    code, out, _ = run(capsys, "shatter", "-d", "2", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["unit_on_cube"]["vc"] == 3
    assert doc["unit_in_R^d"]["dichotomies_realized"] == 8
    assert [r["vc_on_cube"] for r in doc["networks_on_cube"]] == [3, 4]  # XOR needs the second unit


@pytest.mark.parametrize(
    "argv, words",
    [
        (["construct", "011"], "2^d entries"),
        (["construct", "0x1ff", "-d", "3"], "bits above"),
        (["threshold", "x0 +"], "cannot read"),
        (["construct", "zork:3"], "unknown function family"),
        (["verify", "--random", "44", "44"], "would take about"),
        (["verify"], "give FUNC"),
        (["verify", "parity:3", "--network", "/nonexistent.json"], "does not exist"),
        (["count", "9"], "n <= 5"),
        (["min-width", "parity:6"], "d <= 5"),
        (["shatter", "-d", "0"], "at least 1"),
    ],
)
def test_bad_input_exits_2(capsys, argv, words):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == "" and err.startswith("symnn: error: ") and words in err
    assert err.count("\n") == 1
