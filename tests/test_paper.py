"""The reproducible paper (paper/): the generators run in quick mode, as CI runs them, and the paper
uses only what they produce.

One subprocess runs ``python paper/generate.py --quick --out <tmp>`` (module-scoped fixture), then:

* every generator wrote its macro file, every generated-style macro used in paper.tex and the
  sections is defined by a generated file, every citation is in references.bib;
* the sections contain no hand-typed measurement (decimals, numbers with units, large counts);
* facts that could fail, against independent expected values: threshold counts equal the published
  OEIS A000609 values (typed here), every verification row passed, every mutant was caught, minimum
  widths of parity are d, peers not installed show as "n/a" in the table, while the performance
  sentences say "not measured in the quick build" (conditionals resolved in Python, no TeX needed);
* with latexmk and pdflatex installed, the paper builds from the quick output, with no float too
  large for its page and no Type 3 (bitmap) font (skipped otherwise).
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAPER = ROOT / "paper"
SOURCES = [PAPER / "paper.tex", *sorted((PAPER / "sections").glob("*.tex"))]

#: OEIS A000609, threshold functions of n variables, n = 0..5 (https://oeis.org/A000609)
OEIS_A000609 = [2, 4, 14, 104, 1882, 94572]


def _generators() -> tuple[str, ...]:
    spec = importlib.util.spec_from_file_location("paper_generate", PAPER / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.GENERATORS


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("paper") / "generated"
    argv = [sys.executable, str(PAPER / "generate.py"), "--quick", "--out", str(out)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, f"generate.py --quick failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    return out


def macros(out: Path) -> dict[str, str]:
    """Every ``\\newcommand{\\name}{value}`` of the generated files."""
    defined: dict[str, str] = {}
    for path in out.glob("*.tex"):
        for name, value in re.findall(r"^\\newcommand\{\\([A-Za-z]+)\}\{(.*)\}$", path.read_text(), re.M):
            assert name not in defined, f"\\{name} is defined twice (second time in {path.name})"
            defined[name] = value
    return defined


def _latex_camel(name: str) -> bool:
    """LaTeX (amsmath, amssymb) commands that look like generated macros: \\lVert, \\varGamma, \\nRightarrow."""
    return name in {"lVert", "rVert", "vDash", "nvDash", "nVdash", "nVDash", "circledS"} or bool(
        re.fullmatch(r"var[A-Z][a-z]+|n(?:Left|Right|Leftright)arrow", name)
    )


def body(path: Path) -> str:
    """The text of a source without comments (and, for paper.tex, without the preamble)."""
    text = re.sub(r"(?<!\\)%.*", "", path.read_text())
    if "\\begin{document}" in text:
        text = text.split("\\begin{document}", 1)[1]
    return text


# -- the generators and the macros ------------------------------------------------------------------
def test_every_generator_wrote_its_macros(generated):
    for name in _generators():
        path = generated / f"{name}.tex"
        assert path.exists(), f"paper/gen/{name}.py wrote no {path.name}"
        assert "\\newcommand" in path.read_text(), f"{path.name} defines no macro"


def test_every_generated_macro_used_is_defined(generated):
    # generated macros are camel case starting lower case (\perfWOneKernelUs); LaTeX's own commands
    # are lower case (\texttt) or start upper case (\LaTeX), except a few of amsmath/amssymb
    defined = macros(generated)
    missing = {}
    for src in SOURCES:
        for name in re.findall(r"\\([A-Za-z]+)", body(src)):
            if re.fullmatch(r"[a-z]+[A-Z][A-Za-z]*", name) and not _latex_camel(name) and name not in defined:
                missing.setdefault(name, src.relative_to(PAPER).as_posix())
    assert not missing, f"macros used but not generated: {missing}"


def test_every_table_and_data_file_input_exists(generated):
    for src in SOURCES:
        text = body(src)
        for name in re.findall(r"\\input\{generated/([^}]+)\}", text):
            name = name if name.endswith(".tex") else f"{name}.tex"
            assert (generated / name).exists(), f"{src.name} inputs generated/{name}, not generated"
        for name in re.findall(r"\{generated/([^}]+\.dat)\}", text):
            assert (generated / name).exists(), f"{src.name} plots generated/{name}, not generated"


def test_every_citation_is_in_the_bibliography():
    keys = set(re.findall(r"@\w+\{([^,\s]+),", (PAPER / "references.bib").read_text()))
    cited = {
        k.strip() for src in SOURCES for group in re.findall(r"\\cite\{([^}]*)\}", body(src)) for k in group.split(",")
    }
    assert cited, "no citation found"
    assert cited <= keys, f"cited but not in references.bib: {sorted(cited - keys)}"


# -- no hand-typed measurements -----------------------------------------------------------------------
_ARGS = re.compile(r"\\(?:label|ref|eqref|cite|input|url|href|includegraphics)(?:\[[^\]]*\])?\{[^}]*\}")
_LENGTH = r"(?:\s*\\(?:linewidth|textwidth|columnwidth|baselineskip)|\s*(?:cm|mm|pt|em|ex|in)\b)"
_MEASUREMENT = [
    ("a decimal number", re.compile(rf"(?<![\w.])\d+\.\d+(?!\d|{_LENGTH})")),
    (
        "a number with a unit",
        re.compile(r"(?<![\w.])\d+(?:\s|~|\\,)*(?:ms|s|\\mu s|µs|GFLOP/s|GiB|MiB|\\%)(?![A-Za-z])"),
    ),
    (
        "a count of four or more digits",
        re.compile(r"(?<![\w.])\d{1,3}(?:(?:,|\\,)\d{3})+(?![\w])|(?<![\w.])\d{4,}(?![\w])"),
    ),
]


def hand_typed(text: str) -> list[str]:
    """Numbers in LaTeX text that look measured: decimals, numbers with units, large counts.

    >>> hand_typed("took 0.93 s and 12 ms for 1,882 functions at width=0.8\\\\linewidth, \\\\label{a1.2}")
    ['a decimal number: 0.93', 'a number with a unit: 12 ms', 'a count of four or more digits: 1,882']
    """
    text = _ARGS.sub("", text)
    return [f"{what}: {m.group(0)}" for what, rx in _MEASUREMENT for m in rx.finditer(text)]


def test_the_detector_flags_measurements_and_spares_the_rest():
    assert hand_typed("a speed-up of 12.5 over NumPy") == ["a decimal number: 12.5"]
    assert hand_typed("in 45\\,s") == ["a number with a unit: 45\\,s"]
    assert hand_typed("94572 functions") == ["a count of four or more digits: 94572"]
    assert hand_typed("an MLP 4-8-1 with $d = 3$, $2^{d-1}$ units, width=0.62\\linewidth") == []
    assert hand_typed("$\\perfWOneKernelUs$\\,$\\mu$s, Section~\\ref{sec:s3}") == []


@pytest.mark.parametrize("src", SOURCES, ids=lambda p: p.name)
def test_sources_contain_no_hand_typed_measurement(src):
    found = hand_typed(body(src))
    assert not found, f"{src.relative_to(ROOT)}: write these through a generated macro: {found}"


# -- facts that could fail ------------------------------------------------------------------------------
def test_threshold_counts_equal_the_published_sequence(generated):
    lines = (generated / "sgn_counts.dat").read_text().split("\n")
    header = lines[0].split()
    rows = [dict(zip(header, map(float, line.split()), strict=True)) for line in lines[1:] if line.strip()]
    counts = [int(r["count"]) for r in rows]
    assert counts == OEIS_A000609[: len(counts)] and len(counts) >= 5


def test_constructions_are_correct_and_parity_needs_d_units(generated):
    m = macros(generated)
    assert m["sgnConstructAllOk"] == "yes" and m["sgnConstructWithinBound"] == "yes"
    # parity of d variables is not computed by fewer than d sign units (d = 2: XOR is not a threshold function)
    assert (m["sgnParityWidthTwo"], m["sgnParityWidthThree"], m["sgnParityWidthFour"]) == ("2", "3", "4")
    # the functions of 3 variables of width <= 1 are exactly the 104 threshold functions of OEIS A000609
    assert int(m["sgnDistThreeWidthZero"]) + int(m["sgnDistThreeWidthOne"]) == OEIS_A000609[3]
    assert m["sgnDistFunctionsThree"] == "256" and m["sgnDistAllCheckedThree"] == "yes"
    assert m["sgnUnitVcIsDPlusOne"] == "yes" and m["sgnVcBelowBound"] == "yes"


def test_every_verification_row_passed_and_every_mutant_was_caught(generated):
    from verify.mutation import MUTANTS

    doc = json.loads((generated / "verification.json").read_text())
    assert doc["models"], "no model was checked"
    for model in doc["models"]:
        verdicts = [r["verdict"] for r in model["rows"]]
        assert model["ok"] and "pass" in verdicts, model["model"]
        assert not {"FAIL", "error"} & set(verdicts), (model["model"], verdicts)
    mutation = doc["mutation"]
    assert {o["mutant"] for o in mutation["outcomes"]} == {m.name for m in MUTANTS}
    assert mutation["survivors"] == [] and mutation["catch_rate"] == 1.0
    m = macros(generated)
    assert m["verAllPass"] == "yes" and m["verMutationScore"] == "100" and m["verFailures"] == "0"


def test_peers_not_installed_show_as_na(generated):
    m = macros(generated)
    assert re.fullmatch(r"[\d.]+", m["perfWOneKernelUs"]), m["perfWOneKernelUs"]
    assert re.fullmatch(r"[\d.]+", m["perfWOneNumpyUs"]), m["perfWOneNumpyUs"]
    for module, key in (("torch", "Torch"), ("jax", "Jax"), ("pytensor", "Pytensor")):
        installed = importlib.util.find_spec(module) is not None
        value = m[f"perfWOne{key}Us"]
        assert (value != "n/a") == installed, f"{module} installed={installed} but W1 shows {value!r}"
    assert m["perfBOneAgree"] == "yes"
    assert m["machCores"].isdigit() and m["machCpu"]


def rendered(text: str, values: dict[str, str]) -> str:
    """A section's text as the reader sees it: ``\\ifnum\\X=1 A\\else B\\fi`` resolved, macros replaced.

    >>> rendered(r"a \\ifnum\\flag=1 yes \\x\\else no\\fi b", {"flag": "0", "x": "1"})
    'a  no b'
    """
    branch = re.compile(r"\\ifnum\\([A-Za-z]+)=1(.*?)\\else(.*?)\\fi", re.S)
    text = branch.sub(lambda m: m.group(2) if values[m.group(1)] == "1" else m.group(3), text)
    return re.sub(r"\\([A-Za-z]+)(?:\{\})?", lambda m: values.get(m.group(1), m.group(0)), text)


def test_the_quick_build_says_not_measured_instead_of_na(generated):
    text = rendered(body(PAPER / "sections" / "performance.tex"), macros(generated))
    # n/a stays where it means "peer not installed" (the table, explained once); no sentence reads n/a
    assert "n/a" not in text.replace("appear as n/a in the table", ""), re.findall(r"[^.]*n/a[^.]*\.", text)
    assert "not measured in the quick build" in text  # the quick build runs W1 only, without compile times


def test_a_full_run_writes_the_sentences_with_figures():
    sys.path.insert(0, str(PAPER))
    try:
        from gen.performance import IMPLS, gradient_table
    finally:
        sys.path.remove(str(PAPER))

    def workload(name: str, us: float) -> dict:
        rows = {impl: {"us": us * (1 + k), "ratio": 1.0, "relerr": 1e-16} for k, (impl, _, _) in enumerate(IMPLS)}
        compile_s = {"compile_cold_s": 2.5, "compile_first_s": 4.25, "compile_cached_s": 0.31}
        return {"workload": name, "rows": rows, "best_peer": "PyTorch eager", "macs": 10**6, **compile_s}

    doc = {
        "workloads": [workload(w, 10.0) for w in ("W1", "W2", "W3", "W4", "W5")],
        "meta": {"gemm_gflops": 20.0, "gemm_n": 512, "blas_threads": "1 thread"},
    }
    _, _, values = gradient_table(doc)
    values = {k: str(v) for k, v in values.items()} | {"perfSThreeGrowthMeasured": "1"}
    assert values["perfLargeMeasured"] == values["perfWThreeMeasured"] == values["perfCompileMeasured"] == "1"
    assert values["perfLargerRatios"].startswith("W2 $1.00$ (PyTorch eager), W3 $1.00$ (PyTorch eager)")
    text = rendered(body(PAPER / "sections" / "performance.tex"), values)
    assert "not measured" not in text and "For the larger workloads" in text and "GFLOP/s" in text
    compile_sentence = re.search(r"Compiling a new kernel takes .*?cache (\S+)\\,s", text, re.S)
    assert compile_sentence and "n/a" not in compile_sentence.group(0), text


# -- the PDF ---------------------------------------------------------------------------------------------
@pytest.mark.skipif(not (shutil.which("latexmk") and shutil.which("pdflatex")), reason="no latexmk/pdflatex (TeX)")
def test_the_paper_builds_from_the_quick_output(generated, tmp_path):
    for name in ("paper.tex", "references.bib"):
        shutil.copy(PAPER / name, tmp_path / name)
    shutil.copytree(PAPER / "sections", tmp_path / "sections")
    shutil.copytree(generated, tmp_path / "generated")
    argv = ["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error", "paper.tex"]
    proc = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    log = (tmp_path / "paper.log").read_text(errors="replace") if (tmp_path / "paper.log").exists() else ""
    errors = re.findall(r"^!.*(?:\n.*){0,3}", log, re.M)
    assert proc.returncode == 0 and (tmp_path / "paper.pdf").exists(), f"LaTeX failed: {errors or proc.stdout[-3000:]}"
    unresolved = re.findall(r"LaTeX Warning: (?:Citation|Reference) `[^']+' .*undefined", log)
    assert not unresolved, unresolved
    too_large = re.findall(r"LaTeX Warning: Float too large for page.*", log)
    assert not too_large, too_large
    if shutil.which("pdffonts"):  # vector fonts only: a Type 3 font is a bitmap (T1 text without lmodern/cm-super)
        fonts = subprocess.run(["pdffonts", "paper.pdf"], cwd=tmp_path, capture_output=True, text=True, check=True)
        assert "Type 3" not in fonts.stdout, fonts.stdout
