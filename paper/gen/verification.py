"""Verification results: ``symnn check`` over the zoo (``verify.check.check_models``) and the mutation score.

Quick mode checks two small zoo models along the symbolic and executor paths and runs the CI
subset of mutants (one small case each); full mode checks every zoo model along every path
(symbolic, generated kernel, executor; forward and reverse) against every oracle, and runs every
mutant on its larger cases too (symbolic and executor paths: a mutated graph would need a fresh
kernel compile per case, and the kernel path is covered by the check itself).

Writes ``verification.tex`` (macros ``\\ver...``), ``ver_models.tex`` (one row per model),
``ver_oracles.tex`` (one row per oracle), ``ver_mutants.tex`` and ``verification.json`` (every
check row and mutation outcome, machine-readable, read by ``tests/test_paper.py``).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

from .common import TeX, write_macros, write_table

RAGGED = ">{\\raggedright\\arraybackslash}"  # a ragged-right column type prefix

QUICK_MODELS = ("mlp:3-4-1", "signnet")


def _ratio(row) -> float:
    """error / tolerance of a compared row (0 when an exact comparison found no difference)."""
    if row.max_error is None or row.tolerance is None:
        return 0.0
    if row.tolerance > 0:
        return row.max_error / row.tolerance
    return 0.0 if row.max_error == 0 else math.inf


def _err(value: float | None) -> object:
    return "--" if value is None else float(value)


def model_rows(results) -> list[list[object]]:
    rows = []
    for name, rep in results:
        compared = [r for r in rep.rows if r.compared]
        worst = max(compared, key=_ratio) if compared else None
        verdicts = [r.verdict for r in rep.rows]
        rows.append(
            [
                TeX(f"\\texttt{{{name}}}"),
                rep.info.get("parameters", 0),
                len(rep.rows),
                rep.compared,
                verdicts.count("pass"),
                verdicts.count("kink") + verdicts.count("skip"),
                f"{worst.path} / {worst.oracle}" if worst else "--",
                _err(worst.max_error if worst else None),
                _err(worst.tolerance if worst else None),
                "pass" if rep.ok else "FAIL",
            ]
        )
    return rows


def oracle_rows(results) -> list[list[object]]:
    by: dict[str, list] = {}
    for _, rep in results:
        for r in rep.rows:
            by.setdefault(r.oracle, []).append(r)
    rows = []
    for oracle, rs in by.items():
        compared = [r for r in rs if r.compared]
        errs = [r.max_error for r in compared if r.max_error is not None]
        fails = sum(r.verdict in ("FAIL", "error") for r in rs)
        rows.append(
            [
                oracle,
                len(rs),
                sum(r.compared for r in rs),
                max(errs) if errs else "--",
                max((_ratio(r) for r in compared), default=0.0),
                sum(r.verdict == "pass" for r in rs),
                sum(r.verdict in ("kink", "skip") for r in rs),
                fails,
            ]
        )
    return rows


def run_check(quick: bool):
    from verify.check import check_models
    from verify.gradients import IMPLEMENTATIONS

    if quick:
        specs, paths = list(QUICK_MODELS), ("symbolic", "executor")
        t0 = time.perf_counter()
        results = check_models(specs, paths=paths, jobs=0)
    else:
        specs, paths = None, IMPLEMENTATIONS
        t0 = time.perf_counter()
        results = check_models(specs, paths=paths, jobs=2)
    return results, paths, time.perf_counter() - t0


def run_mutation(quick: bool):
    from verify.mutation import MUTANTS, run_mutants

    paths = ("symbolic", "executor")
    t0 = time.perf_counter()
    result = run_mutants(MUTANTS, full=not quick, paths=paths)
    return result, paths, time.perf_counter() - t0


def mutant_rows(result) -> list[list[object]]:
    """One row per mutant: its fault, the cases it ran on, how many it was caught on, and by which oracles."""
    from verify.mutation import MUTANTS

    rows = []
    for m in MUTANTS:
        runs = [o for o in result.outcomes if o.mutant == m.name]
        if not runs:
            continue
        oracles = sorted({c.split("/")[-1] for o in runs for c in o.caught_by})
        rows.append(
            [
                TeX(f"\\texttt{{{m.name}}}"),
                m.fault,
                ", ".join(o.case for o in runs),
                TeX(f"{sum(o.caught for o in runs)}/{len(runs)}"),
                ", ".join(oracles) or "--",
            ]
        )
    return rows


def _mpmath_digits() -> int:
    """The working precision of the mpmath oracle (the default of its evaluator)."""
    import inspect

    from verify.oracles import Evaluator

    return int(inspect.signature(Evaluator.__init__).parameters["dps"].default)


def generate(out: Path, quick: bool) -> None:
    """Run the check and the mutants; write the tables, the macros and verification.json."""
    results, paths, check_s = run_check(quick)
    mutation, mpaths, mutation_s = run_mutation(quick)

    header = [
        "model",
        "params",
        "rows",
        "compared",
        "pass",
        "kink/skip",
        "worst row",
        "error",
        "tolerance",
        "verdict",
    ]
    write_table(
        out,
        "ver_models",
        header,
        model_rows(results),
        digits=2,
        spec=f"lrrrrr{RAGGED}p{{0.17\\linewidth}}rrl",
    )
    orows = oracle_rows(results)
    header = ["oracle", "rows", "compared", "max. error", "max. error / tol.", "pass", "kink/skip", "fail"]
    write_table(out, "ver_oracles", header, orows, digits=2)
    write_table(
        out,
        "ver_mutants",
        ["mutant", "fault injected", "cases", "caught", "oracles that caught it"],
        mutant_rows(mutation),
        spec=f"l{RAGGED}p{{0.27\\linewidth}}{RAGGED}p{{0.17\\linewidth}}r{RAGGED}p{{0.2\\linewidth}}",
    )

    all_rows = [r for _, rep in results for r in rep.rows]
    failures = sum(r.verdict in ("FAIL", "error") for r in all_rows)
    all_pass = all(rep.ok for _, rep in results) and failures == 0
    caught = sum(o.caught for o in mutation.outcomes)
    only_executor = sorted(
        {o.mutant for o in mutation.outcomes if {c.split("/")[-1] for c in o.caught_by} == {"executor"}}
    )
    write_macros(
        out,
        "verification",
        {
            "verModels": len(results),
            "verModelList": ", ".join(name for name, _ in results),
            "verPaths": ", ".join(paths),
            "verPathCount": len(paths) * 2,
            "verOracleCount": len(orows),
            "verOracles": ", ".join(r[0] for r in orows),
            "verRows": len(all_rows),
            "verCompared": sum(rep.compared for _, rep in results),
            "verFailures": failures,
            "verKinkSkip": sum(r.verdict in ("kink", "skip") for r in all_rows),
            "verAllPass": "yes" if all_pass else "no",
            "verSeconds": check_s,
            "verMutants": len({o.mutant for o in mutation.outcomes}),
            "verMutationRuns": len(mutation.outcomes),
            "verMutationCaught": caught,
            "verMutationSurvivors": len(mutation.survivors),
            "verMutationScore": round(100.0 * mutation.catch_rate, 1),
            "verMutationPaths": ", ".join(mpaths),
            "verMutationSeconds": mutation_s,
            "verMutationOnlyExecutor": ", ".join(only_executor) or "none",
            "verMode": "quick" if quick else "full",
            "verMpmathDigits": _mpmath_digits(),
        },
    )
    doc = {
        "quick": quick,
        "all_pass": all_pass,
        "models": [{"model": name, "ok": rep.ok, "rows": [r.to_json() for r in rep.rows]} for name, rep in results],
        "mutation": mutation.to_json(),
    }
    (out / "verification.json").write_text(json.dumps(doc, indent=1))
