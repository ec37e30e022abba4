#!/usr/bin/env bash
# A plain install, used, then reinstalled in editable mode over it, then uninstalled: what a new
# user does with the README's two lines. Checks that running symnn (the executor, a kernel, a boolean
# kernel) writes nothing inside site-packages, that `symnn` still works after `pip install -e` over
# the used install, and that `pip uninstall` leaves no symnn/ or verify/ directory behind.
#
#   tests/reinstall.sh [SOURCE_DIR]      # default: this checkout; about a minute, mostly compiling
#
# The virtual environment sees the system's site-packages, so only symnn itself is installed
# (--no-deps); pip fetches the build backend (setuptools) as usual. Exit status 0 when all holds.
set -euo pipefail
src_dir=$(cd "${1:-$(dirname "$0")/..}" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/src"
tar -C "$src_dir" --exclude=.git --exclude=__pycache__ --exclude=build --exclude='*.egg-info' -cf - . | tar -C "$work/src" -xf -
python -m venv --system-site-packages "$work/venv"
py="$work/venv/bin/python"
site=$("$py" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
export SYMNN_CACHE_DIR="$work/cache" PYTHONPATH=""
cd "$work"  # never the checkout: the installed package is the one imported

echo "== pip install ."
"$py" -m pip install -q --no-deps ./src
"$py" - <<'EOF'
import numpy as np
from symnn.codegen import compile
from symnn.executor import Executor
from symnn.functions import sigmoid
from symnn.ir import Builder, einsum
from verify.boolean import boolean_function, construct, evaluate
b = Builder()
x, w = b.input("x", (64, 48)), b.param("w", (40, 48))
g = b.build(einsum("bi,oi->bo", x, w).map(sigmoid).sum())
values = {"x": np.full((64, 48), 0.01), "w": np.full((40, 48), 0.02)}
k = compile(g)
print("kernel path:", k.path, "| executor agrees:", abs(Executor(g).forward(values)["out"] - k(values)["out"]) < 1e-9)
f = boolean_function("random:5:1")
print("boolean kernel mismatches:", evaluate(construct(f), f)[0].mismatches)
EOF
"$py" - "$site" <<'EOF'
import pathlib, sys
site = pathlib.Path(sys.argv[1])
record = next(site.glob("symnn-*.dist-info")) / "RECORD"
installed = {line.split(",")[0] for line in record.read_text().splitlines()}
extra = sorted(
    str(p.relative_to(site)) for top in ("symnn", "verify") for p in (site / top).rglob("*")
    if p.is_file() and str(p.relative_to(site)) not in installed and p.suffix != ".pyc"
)
print(f"files in site-packages/symnn and verify not installed by pip: {len(extra)}", *extra[:10], sep="\n  ")
sys.exit(1 if extra else 0)
EOF

echo "== pip install -e . over the used install"
"$py" -m pip install -q --no-deps -e ./src
"$work/venv/bin/symnn" --version
"$work/venv/bin/symnn" cache >"$work/cache.txt"
head -n 2 "$work/cache.txt"

echo "== pip uninstall symnn"
"$py" -m pip uninstall -q -y symnn
left=$(ls -d "$site/symnn" "$site/verify" 2>/dev/null || true)
if [ -n "$left" ]; then
    echo "left behind in site-packages: $left"
    find $left -type f | head
    exit 1
fi
echo "nothing left in site-packages: ok"
