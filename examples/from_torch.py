"""A small PyTorch CNN in symnn: its backprop equations, a certified gradient kernel, and torch's own gradients.

Run: ``python examples/from_torch.py [--quick]`` (needs ``pip install torch``). The shell
equivalent for a file ``net.py`` that defines ``model`` and ``example_inputs``:
``symnn check net.py:model``.
"""

import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from symnn import Executor, compile, from_torch, grad
from symnn.printing import to_text
from verify import save_certified

torch.manual_seed(0)
# Conv -> ReLU -> MaxPool -> Flatten -> Linear, trained with cross-entropy on class indices (float64)
net = nn.Sequential(
    nn.Conv2d(1, 2, 3, padding=1),
    nn.ReLU(),
    nn.MaxPool2d(2),
    nn.Flatten(),
    nn.Linear(2 * 2 * 2, 3),
).double()
x = torch.randn(4, 1, 4, 4, dtype=torch.float64)
labels = torch.tensor([0, 2, 1, 2])
loss = nn.CrossEntropyLoss()

model = from_torch(net, x, loss, labels)  # parameters keep torch's names: 0.weight, 0.bias, 4.weight, 4.bias
graph = model.graph()
print(f"imported: inputs {graph.inputs}, parameters {graph.params}, {len(graph.nodes)} nodes")

# 1. the backpropagation equations, one per node of the gradient program
equations = to_text(grad(graph)).splitlines()
print("backpropagation equations (first 12 lines):")
print("\n".join(equations[:12]))
print(f"... {len(equations)} lines in all")

# 2. the gradient kernel, compiled with Numba and saved with a certificate (checked in a fresh process
#    against the executor and central differences)
kernel = compile(grad(graph))
path = Path(tempfile.mkdtemp()) / "cnn_grad.py"
save_certified(kernel, path, model=graph)
print("certified kernel saved at", path)

# 3. symnn's gradients against torch.autograd's
arrays = model.arrays()
out = kernel(arrays)
reference = loss(net(x), labels)
net.zero_grad()
reference.backward()
print(f"loss: symnn kernel {float(out['loss']):.15f}, torch {reference.item():.15f}")
worst = 0.0
for name, p in net.named_parameters():
    err = float(np.max(np.abs(out[f"grad:{name}"] - p.grad.numpy())))
    ex_err = float(np.max(np.abs(Executor(graph).grad(arrays)[1][name] - p.grad.numpy())))
    print(f"grad:{name:9s} max |kernel - torch| = {err:.1e}   max |executor - torch| = {ex_err:.1e}")
    worst = max(worst, err, ex_err)
assert abs(float(out["loss"]) - reference.item()) < 1e-10 and worst < 1e-10, "symnn disagrees with torch"
print("symnn's gradient kernel equals torch.autograd to 1e-10" + (" (quick)" if "--quick" in sys.argv else ""))
