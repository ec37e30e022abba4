"""Benchmark T1 (BENCHMARKS.md): SGD steps per second, MLP 64-128-10 (tanh, softmax cross-entropy)
on the 8x8 digits, batch 64, float64: symnn's Trainer against PyTorch eager and a jitted JAX SGD step.

    symnn bench --workloads T1          (BLAS threads pinned, as for W1-W5)

Every run draws the same minibatches (a seeded permutation per epoch) and applies plain SGD with
the same learning rate; PyTorch and JAX are optional (skipped when they are not installed). JAX's
step is one ``jax.jit`` of value_and_grad and the update, its parameters kept on the device between
steps. Reports the median of several timed blocks; benchmarks report, tests never assert a time.
"""

from __future__ import annotations

import importlib.util
import os
import statistics
import time
from typing import Any

import numpy as np

from ..layers import MLP
from ..trace import trace
from ..train.data import load_digits, one_hot
from ..train.sgd import SGDConfig, Trainer
from .threads import THREAD_VARS


def _blocks(step, steps: int, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(steps):
            step()
        out.append(steps / (time.perf_counter() - t))
    return out


def symnn_rate(x: np.ndarray, y: np.ndarray, batch: int, steps: int, repeats: int) -> dict:
    """symnn's Trainer: SGD steps per second, and its kernel's calls per second alone."""
    graph = trace(MLP((64, 128, 10), "tanh"), "softmax_cross_entropy", {"x": (batch, 64), "y": (batch, 10)})
    t = time.perf_counter()
    trainer = Trainer(graph, {"x": x, "y": y}, SGDConfig(lr=0.1, steps=10**9, batch=batch))
    setup = time.perf_counter() - t
    for _ in range(50):  # warm up
        trainer.sgd_step()
    rates = _blocks(trainer.sgd_step, steps, repeats)
    args, out = trainer._args, trainer._out
    kernel = _blocks(lambda: trainer.kernel.run(args, out), steps, repeats)
    return {"steps_per_s": statistics.median(rates), "kernel_calls_per_s": statistics.median(kernel), "setup_s": setup}


def torch_rate(x: np.ndarray, labels: np.ndarray, batch: int, steps: int, repeats: int) -> dict | None:
    """PyTorch eager SGD steps per second on the same model, data order and batch; None without torch."""
    if importlib.util.find_spec("torch") is None:
        return None
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.Tanh(), torch.nn.Linear(128, 10)).double()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    tx, ty = torch.from_numpy(x), torch.from_numpy(labels)
    rng = np.random.default_rng(0)
    order, pos = [np.empty(0, dtype=np.int64)], [0]

    def step() -> None:
        if pos[0] + batch > order[0].size:
            order[0], pos[0] = rng.permutation(len(x)), 0
        idx = torch.from_numpy(order[0][pos[0] : pos[0] + batch])
        pos[0] += batch
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(net(tx[idx]), ty[idx])
        loss.backward()
        opt.step()

    for _ in range(50):
        step()
    return {"steps_per_s": statistics.median(_blocks(step, steps, repeats)), "version": torch.__version__}


def jax_rate(x: np.ndarray, labels: np.ndarray, batch: int, steps: int, repeats: int) -> dict | None:
    """A jitted JAX SGD step (value_and_grad and the update in one ``jax.jit``) on the same model, data order
    and batch; None without JAX."""
    if importlib.util.find_spec("jax") is None:
        return None
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    rng = np.random.default_rng(0)
    params = [  # PyTorch's default initialization: uniform(+-1/sqrt(fan_in))
        rng.uniform(-b, b, shape) for b, shape in ((64**-0.5, (64, 128)), (64**-0.5, (128,)), (128**-0.5, (128, 10)))
    ]
    params.append(rng.uniform(-(128**-0.5), 128**-0.5, (10,)))
    state = [[jnp.asarray(p) for p in params]]

    def loss(p, xb, yb):
        logits = jnp.tanh(xb @ p[0] + p[1]) @ p[2] + p[3]
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), yb[:, None], axis=1))

    @jax.jit
    def update(p, xb, yb):
        value, grads = jax.value_and_grad(loss)(p, xb, yb)
        return [w - 0.1 * g for w, g in zip(p, grads, strict=True)], value

    order, pos = [np.empty(0, dtype=np.int64)], [0]

    def step() -> None:
        if pos[0] + batch > order[0].size:
            order[0], pos[0] = rng.permutation(len(x)), 0
        idx = order[0][pos[0] : pos[0] + batch]
        pos[0] += batch
        state[0], value = update(state[0], x[idx], labels[idx])
        value.block_until_ready()

    for _ in range(50):
        step()
    return {"steps_per_s": statistics.median(_blocks(step, steps, repeats)), "version": jax.__version__}


def t1(steps: int = 1000, repeats: int = 7, batch: int = 64) -> dict:
    """T1: symnn's and PyTorch eager's SGD steps per second, and their ratio (None without torch)."""
    x, labels = load_digits(scale=True)
    y = one_hot(labels, 10)
    result: dict[str, Any] = {
        "threads": {k: os.environ.get(k) for k in THREAD_VARS},
        "batch": batch,
        "symnn": symnn_rate(x, y, batch, steps, repeats),
        "torch_eager": torch_rate(x, labels, batch, steps, repeats),
        "jax_jit": jax_rate(x, labels, batch, steps, repeats),
    }
    result["ratio"] = (
        result["symnn"]["steps_per_s"] / result["torch_eager"]["steps_per_s"] if result["torch_eager"] else None
    )
    return result


def format_t1(result: dict) -> str:
    """T1 as text: steps per second of each, and the ratio (target: at least 1.5x PyTorch eager)."""
    s, t, j = result["symnn"], result["torch_eager"], result.get("jax_jit")
    lines = [
        f"T1  SGD steps/s, MLP 64-128-10 on the 8x8 digits, batch {result['batch']} (target: >= 1.5x PyTorch eager)",
        f"    symnn Trainer      {s['steps_per_s']:>10.0f} steps/s   "
        f"(kernel alone {s['kernel_calls_per_s']:.0f} calls/s; setup {s['setup_s']:.2f} s)",
    ]
    if t is None:
        lines.append('    PyTorch eager      not installed: pip install "symnn[bench-torch]" (torch==2.13.0, CPU)')
    else:
        lines.append(f"    PyTorch eager      {t['steps_per_s']:>10.0f} steps/s   (torch {t['version']})")
        lines.append(f"    ratio symnn / PyTorch eager: {result['ratio']:.2f}")
    if j is None:
        lines.append('    JAX jit            not installed: pip install "symnn[bench-jax]"')
    else:
        lines.append(f"    JAX jit            {j['steps_per_s']:>10.0f} steps/s   (jax {j['version']}, jitted step)")
        lines.append(f"    ratio symnn / JAX jit: {s['steps_per_s'] / j['steps_per_s']:.2f}")
    return "\n".join(lines)
