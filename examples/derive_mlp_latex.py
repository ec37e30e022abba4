"""Derive the backpropagation equations of a two-layer MLP and print them in LaTeX.

Run: ``python examples/derive_mlp_latex.py``. The same from the shell:
``symnn derive mlp:3-4-1 --mode grad --format latex``.
"""

from symnn import grad, jvp
from symnn.layers import MLP
from symnn.printing import to_latex, to_text
from symnn.trace import trace

# f_2 o f_1: Linear(3 -> 4), sigmoid, Linear(4 -> 1); mean squared error on a batch of 2
graph = trace(MLP((3, 4, 1), "sigmoid"), "mse", {"x": (2, 3)})

print("% forward program")
print(to_latex(graph))
# reverse mode: one sweep gives the gradient with respect to every parameter (the notes' 2.2)
print("% backpropagation (value and gradient)")
print(to_latex(grad(graph)))
# forward mode: one sweep per tangent direction
print("% forward mode, as plain text")
print(to_text(jvp(graph)))
