"""Sign-network theory, measured with ``verify.boolean``: construction, exhaustive checks, counts, widths, VC.

* the construction with min(#true, #false) hidden units, checked on all 2^d inputs, for parity
  (the worst case of that bound: 2^(d-1) units) and random functions, with timings; the symmetric
  construction with d units for parity at larger d;
* threshold functions of n variables counted by the library's two exact methods, next to the
  published OEIS A000609 values typed below as the independent reference;
* the exact minimum width of parity, and the width distribution over all functions of d variables;
* VC dimension on the cube of width-k networks against the bound 2 W log2(e (k + 1)).

Writes ``sign_networks.tex`` (macros ``\\sgn...``), the tables ``sgn_construct.tex``,
``sgn_counts.tex``, ``sgn_minwidth.tex``, ``sgn_distribution.tex``, ``sgn_vc.tex`` and the data
``sgn_counts.dat``, ``sgn_vc.dat`` for the figures.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from .common import TeX, write_dat, write_macros, write_table

#: OEIS A000609, "Number of threshold functions of n or fewer variables", n = 0..7, as published
#: (https://oeis.org/A000609; Muroga 1971 for n <= 8). Typed here as the reference the computed
#: counts are compared with; the library's own copy is not used.
PUBLISHED_A000609 = (2, 4, 14, 104, 1882, 94572, 15028134, 8378070864)

QUICK = {
    "construct_parity": (4, 6, 8, 10, 12),
    "construct_random": (8, 12),
    "symmetric_parity": (12, 16, 20),
    "counts_both": 5,
    "counts_regions": 5,
    "minwidth_parity": (2, 3, 4),
    "distribution": (2, 3),
    "vc": (3,),
    "unit_vc": (1, 2, 3),
}
FULL = {
    "construct_parity": (4, 6, 8, 10, 12, 14, 16),
    "construct_random": (8, 12, 16),
    "symmetric_parity": (12, 16, 20, 24, 28),
    "counts_both": 5,
    "counts_regions": 6,
    "minwidth_parity": (2, 3, 4, 5),
    "distribution": (2, 3, 4),
    "vc": (3, 4),
    "unit_vc": (1, 2, 3, 4),
}

_WORDS = ("Zero", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine", "Ten")


def word(n: int) -> str:
    """A small number as a word, for macro names (which are letters only).

    >>> word(3), word(12)
    ('Three', 'Twelve')
    """
    more = {11: "Eleven", 12: "Twelve", 16: "Sixteen", 20: "Twenty", 24: "TwentyFour", 28: "TwentyEight"}
    return _WORDS[n] if n < len(_WORDS) else more[n]


def construction_rows(cfg: dict) -> tuple[list[list[object]], dict[str, object]]:
    """Construct and exhaustively verify networks; the rows and the headline facts."""
    from verify.boolean import boolean_function, construct, verify
    from verify.boolean.exhaustive import Symmetric
    from verify.boolean.minwidth import symmetric_network

    rows: list[list[object]] = []
    all_ok, within_bound, total_inputs = True, True, 0
    cases = [(f"parity:{d}", "construction") for d in cfg["construct_parity"]]
    cases += [(f"random:{d}:{d}", "construction") for d in cfg["construct_random"]]
    cases += [(f"parity:{d}", "symmetric") for d in cfg["symmetric_parity"]]
    verify(construct("parity:3"), "parity:3")  # load the compiled kernels outside the timings
    for spec, how in cases:
        d = int(spec.split(":")[1])
        f = boolean_function(spec)
        bound = min(f.n_true, f.table.size - f.n_true)
        net = construct(f) if how == "construction" else symmetric_network(f)
        target = Symmetric.named("parity", d) if spec.startswith("parity") else f
        t0 = time.perf_counter()
        ev = verify(net, target)
        seconds = time.perf_counter() - t0
        all_ok &= ev.ok and ev.inputs == 2**d
        if how == "construction":
            within_bound &= net.k <= bound
        total_inputs += ev.inputs
        rows.append(
            [
                TeX(f"\\texttt{{{spec}}}"),
                how,
                d,
                2**d,
                net.k,
                bound,
                int(ev.hidden_margin),
                int(ev.output_margin),
                "yes" if ev.ok else "NO",
                seconds * 1e3,
            ]
        )
    facts = {
        "sgnConstructAllOk": "yes" if all_ok else "no",
        "sgnConstructWithinBound": "yes" if within_bound else "no",
        "sgnConstructCases": len(rows),
        "sgnConstructMaxD": max(cfg["construct_parity"]),
        "sgnConstructMaxUnits": 2 ** (max(cfg["construct_parity"]) - 1),
        "sgnSymmetricMaxD": max(cfg["symmetric_parity"]),
        "sgnVerifiedInputs": total_inputs,
    }
    return rows, facts


def count_rows(cfg: dict) -> tuple[list[list[object]], dict[str, object], dict[str, list[float]]]:
    """Threshold counts by both methods (regions alone beyond), against the published sequence."""
    from verify.boolean import count_threshold

    rows: list[list[object]] = []
    match = True
    for n in range(cfg["counts_regions"] + 1):
        r = count_threshold(n, "both" if n <= cfg["counts_both"] else "regions")
        got = r.count  # raises if the methods disagree
        published = PUBLISHED_A000609[n]
        match &= got == published
        lp = r.counts.get("lp")
        rows.append(
            [
                n,
                lp if lp is not None else "--",
                r.counts["regions"],
                published,
                "yes" if got == published else "NO",
                r.seconds["lp"] * 1e3 if lp is not None else "--",
                r.seconds["regions"] * 1e3,
            ]
        )
    ns = list(range(len(rows)))
    data = {
        "n": ns,
        "count": [r[2] for r in rows],
        "logcount": [math.log2(r[2]) for r in rows],
        "nsquared": [n * n for n in ns],
        "allfunctions": [2.0**n for n in ns],
    }
    facts = {
        "sgnCountsMaxN": cfg["counts_regions"],
        "sgnCountsBothMaxN": cfg["counts_both"],
        "sgnCountsMatch": "yes" if match else "no",
        "sgnCountsLargest": rows[-1][2],
        "sgnCountsLargestSeconds": rows[-1][6] / 1e3,
    }
    return rows, facts, data


def minwidth_rows(cfg: dict) -> tuple[list[list[object]], dict[str, object]]:
    from verify.boolean import min_width

    rows: list[list[object]] = []
    facts: dict[str, object] = {}
    for d in cfg["minwidth_parity"]:
        r = min_width(f"parity:{d}")
        nodes = sum(r.nodes.values())
        rows.append([d, r.width, "yes" if r.exact else "no", nodes, r.seconds])
        facts[f"sgnParityWidth{word(d)}"] = r.width
    from verify.boolean.minwidth import MAX_D

    facts["sgnParityMaxD"] = max(cfg["minwidth_parity"])
    facts["sgnMinWidthLimitD"] = MAX_D
    facts["sgnParityWidthIsD"] = "yes" if all(r[1] == r[0] and r[2] == "yes" for r in rows) else "no"
    return rows, facts


def distribution_rows(cfg: dict) -> tuple[list[str], list[list[object]], dict[str, object]]:
    from verify.boolean import width_distribution

    dists = [width_distribution(d) for d in cfg["distribution"]]
    widths = sorted({w for dist in dists for w in dist.counts})
    rows: list[list[object]] = [[w, *(dist.counts.get(w, "--") for dist in dists)] for w in widths]
    rows.append(["functions", *(sum(dist.counts.values()) for dist in dists)])
    rows.append(["NPN classes", *(len(dist.classes) for dist in dists)])
    rows.append(["checked", *(dist.checked for dist in dists)])
    header = ["width", *(TeX(f"$d = {dist.d}$") for dist in dists)]
    facts: dict[str, object] = {}
    for dist in dists:
        key = word(dist.d)
        facts[f"sgnDistMaxWidth{key}"] = max(dist.counts)
        facts[f"sgnDistFunctions{key}"] = sum(dist.counts.values())
        facts[f"sgnDistClasses{key}"] = len(dist.classes)
        facts[f"sgnDistAllChecked{key}"] = "yes" if dist.checked == sum(dist.counts.values()) and dist.exact else "no"
        for w, n in dist.counts.items():
            facts[f"sgnDist{key}Width{word(w)}"] = n
    last = dists[-1]
    facts["sgnDistMaxD"] = last.d
    facts["sgnDistWidest"] = max(last.counts)
    facts["sgnDistWidestCount"] = last.counts[max(last.counts)]
    facts["sgnDistWidestTotal"] = sum(last.counts.values())
    return header, rows, facts


def vc_rows(cfg: dict) -> tuple[list[list[object]], dict[str, object], dict[str, list[float]]]:
    from verify.boolean import cube_unit_vc, network_vc

    rows: list[list[object]] = []
    data: dict[str, list[float]] = {"d": [], "k": [], "W": [], "vc": [], "cube": [], "bound": []}
    below = True
    for d in cfg["vc"]:
        for v in network_vc(d):
            below &= v.vc <= v.bound
            rows.append([d, v.k, v.vc, 2**d, v.weights, v.bound, v.functions])
            for key, val in (("d", d), ("k", v.k), ("W", v.weights), ("vc", v.vc), ("cube", 2**d), ("bound", v.bound)):
                data[key].append(float(val))
    units = [cube_unit_vc(d) for d in cfg["unit_vc"]]
    facts = {
        "sgnVcBelowBound": "yes" if below else "no",
        "sgnVcMaxD": max(cfg["vc"]),
        "sgnUnitVcMaxD": max(cfg["unit_vc"]),
        "sgnUnitVcAllRefuted": "yes"
        if all(u.subsets_refuted == u.subsets_total and u.exhaustive for u in units)
        else "no",
        "sgnUnitVcSubsets": units[-1].subsets_total,
        "sgnUnitVcIsDPlusOne": "yes" if all(u.vc == u.d + 1 for u in units) else "no",
    }
    last = [r for r in rows if r[0] == max(cfg["vc"])]
    facts["sgnVcLastFull"] = last[-1][2]
    facts["sgnVcLastK"] = last[-1][1]
    facts["sgnVcLastBound"] = last[-1][5]
    facts["sgnVcWorstRatio"] = max(r[5] / r[2] for r in rows)
    facts["sgnVcBestRatio"] = min(r[5] / r[2] for r in rows)
    return rows, facts, data


def generate(out: Path, quick: bool) -> None:
    """Run the sign-network experiments (quick: d up to 12 and n up to 5; full: the sizes of docs/boolean.md)."""
    cfg = QUICK if quick else FULL
    macros: dict[str, object] = {}

    rows, facts = construction_rows(cfg)
    macros |= facts
    header = ["function", "network", "d", TeX("$2^d$"), "k", "bound", "hidden", "output", "ok", "ms"]
    write_table(out, "sgn_construct", header, rows, spec="llrrrrrrlr")

    rows, facts, data = count_rows(cfg)
    macros |= facts
    write_table(out, "sgn_counts", ["n", "LP", "regions", "OEIS A000609", "match", "LP ms", "regions ms"], rows)
    write_dat(out, "sgn_counts", data)

    rows, facts = minwidth_rows(cfg)
    macros |= facts
    write_table(out, "sgn_minwidth", ["d", "width", "exact", "nodes", "s"], rows)

    header, rows, facts = distribution_rows(cfg)
    macros |= facts
    write_table(out, "sgn_distribution", header, rows)

    rows, facts, data = vc_rows(cfg)
    macros |= facts
    write_table(
        out,
        "sgn_vc",
        ["d", "k", "VC on the cube", TeX("$2^d$"), "W", TeX("$2W\\log_2(e(k+1))$"), TeX("functions of width $\\le k$")],
        rows,
    )
    write_dat(out, "sgn_vc", data)
    write_macros(out, "sign_networks", macros)
