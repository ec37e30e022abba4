"""The notes' representation theorem, checked: a sign network for parity of 8 bits, verified on all
2^8 inputs, and the exact minimum width for parity of 3 bits.

Run: ``python examples/parity_sign_network.py``. From the shell:
``symnn boolean construct parity:8`` and ``symnn boolean min-width parity:3``.
"""

from symnn.printing import to_text
from verify.boolean import construct, min_width, threshold, verify

# f_sign(x) = sign(W2 sign(W1 x + b1) + b2) with integer weights, min(#true, #false) hidden units
net = construct("parity:8")
print(f"parity of 8 bits: {net.W1.shape[0]} hidden units")
evaluation = verify(net, "parity:8")  # every one of the 2^8 inputs, in compiled code, exactly
print(evaluation)
assert evaluation.ok

print(to_text(net.graph(1)))  # the same network as a symnn Graph

# parity is not a threshold function: a certificate of impossibility, checked exactly
print(threshold("parity:3"))

# the smallest one-hidden-layer sign network for parity of 3 bits, with a witness checked on all inputs
result = min_width("parity:3")
print(result)
assert result.width == 3
