"""verify.boolean: one-hidden-layer sign networks and boolean representability, checked exactly.

The notes' claims about f_sign(x) = sign(W2 sign(W1 x + b1) + b2) (see docs/boolean.md for how the
output bias is read) become things to construct, check and measure:

* ``construct(f)``: a network with min(#true, #false) hidden units and integer weights computing any
  boolean function f, with margins (no sign() ever sees 0); ``net.graph()`` is a symnn Graph.
* ``evaluate`` / ``verify``: all 2^d inputs in a compiled, parallel, chunked kernel, exact.
* ``threshold(f)``: is f a single sign unit? Integer weights or a Radon (Farkas) certificate.
* ``count_threshold(n)``: threshold functions of n variables by two independent exact methods.
* ``min_width(f)``: the exact minimum number of hidden units, with a witness network.
* ``shatter``: VC dimension checks for one unit and for small networks on the cube.

Conventions: input index i <-> x with x_j = +1 iff bit j of i is set; True <-> +1; sign(0) = 0.
"""

from .construct import SignNetwork, construct
from .counts import A000609, count_threshold, threshold_functions
from .errors import CallableError, FunctionSpecError, NetworkError, TooLargeError, TruthTableError, WitnessError
from .exhaustive import Evaluation, Symmetric, evaluate, outputs, verify
from .lp import Separation, separate
from .minwidth import MinWidthResult, min_width, width_distribution
from .shatter import cube_unit_vc, network_vc, radon_dichotomy, shatter_simplex
from .table import BooleanFunction, boolean_function, cube
from .threshold import ThresholdResult, threshold

__all__ = [
    "A000609",
    "BooleanFunction",
    "CallableError",
    "Evaluation",
    "FunctionSpecError",
    "MinWidthResult",
    "NetworkError",
    "Separation",
    "SignNetwork",
    "Symmetric",
    "ThresholdResult",
    "TooLargeError",
    "TruthTableError",
    "WitnessError",
    "boolean_function",
    "construct",
    "count_threshold",
    "cube",
    "cube_unit_vc",
    "evaluate",
    "min_width",
    "network_vc",
    "outputs",
    "radon_dichotomy",
    "separate",
    "shatter_simplex",
    "threshold",
    "threshold_functions",
    "verify",
    "width_distribution",
]
