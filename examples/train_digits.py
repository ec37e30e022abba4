"""Minibatch SGD on the 8x8 digits (shipped with symnn), with a convergence verdict and a plot.

Run: ``python examples/train_digits.py [--quick]``. The plot needs matplotlib (optional).
"""

import sys
import tempfile
from pathlib import Path

from symnn.cli import main

quick = "--quick" in sys.argv
out = Path(tempfile.mkdtemp())
args = ["train", "mlp:64-32-10", "--data", "digits", "--loss", "softmax_cross_entropy", "--lr", "0.5"]
args += ["--steps", "200" if quick else "3000", "--batch", "64", "--seed", "0", "--quiet"]
args += ["--history", str(out / "history.json"), "--plot", str(out / "loss.png")]
status = main(args)
print("history and plot in", out)
sys.exit(status)
