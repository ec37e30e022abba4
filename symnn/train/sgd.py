"""Minibatch SGD on a compiled gradient kernel, as in the notes (section 2.1):

    theta_{t+1} = theta_t - alpha_t * (1/|B|) sum_{i in B} grad_theta loss(f_theta(x_i), y_i)

The loss graph averages over its batch axis, so its gradient kernel (``codegen.compile(diff.grad(g))``)
returns exactly that mean. Optional momentum (v <- m v + g; theta <- theta - alpha_t v) and weight
decay (g <- g + wd theta). Minibatches are drawn by a seeded ``numpy.random.Generator``: a fresh
permutation per epoch ("shuffle") or independent draws with replacement ("replace", the i.i.d.
sampling of the convergence theorems). Everything that determines the run -- parameters, velocity,
step, the generator's state -- goes into the checkpoint, so a resumed run continues bit for bit.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import codegen, diff
from ..files import atomic_write, check_output
from ..ir import Graph
from . import checkpoint as ckpt
from .data import check_arrays
from .errors import DivergenceError, TrainingConfigError
from .schedules import KINDS, schedule

Metrics = Callable[[dict[str, np.ndarray]], dict[str, float]]


@dataclass(frozen=True)
class Step:
    """What ``Trainer.run``'s ``on_step`` hook sees after step ``step`` of ``steps``.

    ``loss`` is that step's minibatch loss, ``seconds`` the time since the loop started at step
    ``start`` (0, or the step a resumed run continued from), ``record`` the history row written at
    this step (an evaluation), else None.
    """

    step: int
    steps: int
    loss: float
    seconds: float
    record: dict[str, float] | None = None
    start: int = 0

    @property
    def rate(self) -> float:
        """Steps per second of this run so far, (step - start) / seconds (0 before any time has passed)."""
        return (self.step - self.start) / self.seconds if self.seconds > 0 else 0.0


OnStep = Callable[[Step], None]


@dataclass(frozen=True)
class SGDConfig:
    """The settings of one SGD run (lr is c of the schedule)."""

    lr: float
    steps: int
    batch: int
    schedule: str = "constant"
    lam: float | None = None
    momentum: float = 0.0
    weight_decay: float = 0.0
    seed: int = 0
    sampling: str = "shuffle"
    average: bool = False
    average_weights: str = "uniform"
    eval_every: int = 0
    checkpoint_every: int = 0

    def check(self, n: int) -> None:
        """Raise TrainingConfigError for settings that cannot work on ``n`` training rows."""
        schedule(self.schedule, self.lr, self.lam)  # checks lr > 0, the kind and lambda
        if not isinstance(self.steps, int) or self.steps < 1:
            raise TrainingConfigError(f"steps must be a positive integer, got {self.steps!r}")
        if not isinstance(self.batch, int) or self.batch < 1:
            raise TrainingConfigError(f"the batch size must be a positive integer, got {self.batch!r}")
        if self.batch > n:
            raise TrainingConfigError(
                f"batch size {self.batch} is larger than the {n} training examples; use --batch {n} or less"
            )
        if not 0.0 <= self.momentum < 1.0:
            raise TrainingConfigError(f"momentum must be in [0, 1), got {self.momentum}")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0.0):
            raise TrainingConfigError(f"weight decay must be >= 0, got {self.weight_decay}")
        if self.average_weights not in ("uniform", "linear"):
            raise TrainingConfigError(f"average_weights must be 'uniform' or 'linear', got {self.average_weights!r}")
        if self.sampling not in ("shuffle", "replace"):
            raise TrainingConfigError(f"sampling must be 'shuffle' or 'replace', got {self.sampling!r}")
        if self.schedule not in KINDS:  # pragma: no cover - schedule() raised already
            raise TrainingConfigError(self.schedule)


@dataclass
class Result:
    """What a run produced: final parameters, their running average (if kept), the history, the step.

    ``seconds`` is the time of this run's steps, from step ``start`` (0 unless resumed) to ``step``.
    """

    params: dict[str, np.ndarray]
    average: dict[str, np.ndarray] | None
    history: list[dict[str, float]] = field(default_factory=list)
    step: int = 0
    seconds: float = 0.0
    start: int = 0

    @property
    def rate(self) -> float:
        """Steps per second of this run, (step - start) / seconds (0 if no time passed)."""
        return (self.step - self.start) / self.seconds if self.seconds > 0 else 0.0

    def write_history(self, path: str | Path) -> Path:
        """The history as JSON (``.json``) or CSV (anything else): one row per evaluation."""
        path = Path(path)
        if path.suffix.lower() == ".json":
            atomic_write(path, (json.dumps(self.history, indent=1) + "\n").encode("utf-8"))
            return path
        keys = list(dict.fromkeys(k for row in self.history for k in row))
        lines = [",".join(keys)] + [",".join(_cell(row.get(k)) for k in keys) for row in self.history]
        atomic_write(path, ("\n".join(lines) + "\n").encode("utf-8"))
        return path


def _cell(v: Any) -> str:
    return "" if v is None else repr(float(v)) if isinstance(v, float) else str(v)


def init_params(shapes: Mapping[str, tuple[int, ...]], seed: int = 0) -> dict[str, np.ndarray]:
    """Vectors (biases) zero; tensors uniform in +-1/sqrt(fan_in), fan_in = prod(shape[1:]) (Linear W is (out, in))."""
    rng = np.random.default_rng(seed)
    out = {}
    for name in sorted(shapes):
        shape = tuple(shapes[name])
        if len(shape) < 2:
            out[name] = np.zeros(shape)
        else:
            bound = 1.0 / math.sqrt(math.prod(shape[1:]))
            out[name] = rng.uniform(-bound, bound, size=shape)
    return out


class Trainer:
    """SGD for the loss graph ``graph`` (batch axis first, of size ``config.batch``) on ``train`` arrays.

    ``train`` maps each data input of the graph (e.g. "x", "y") to an array whose axis 0 indexes the
    examples. ``metrics(params)`` (optional) returns figures to record at each evaluation, e.g. the
    train and test loss and accuracy from a full-data kernel. ``resume`` names a checkpoint to
    continue from; it is checked against this model and setting before the kernel is compiled.
    """

    def __init__(
        self,
        graph: Graph,
        train: Mapping[str, np.ndarray],
        config: SGDConfig,
        params: Mapping[str, np.ndarray] | None = None,
        metrics: Metrics | None = None,
        kernel: Any = None,
        resume: str | Path | None = None,
    ) -> None:
        self.graph, self.config, self.metrics = graph, config, metrics
        self.train = {k: np.ascontiguousarray(v, dtype=np.float64) for k, v in train.items()}
        n = check_arrays(self.train, "training data")
        config.check(n)
        self.n = n
        wanted = {k: s for k, s in graph.inputs.items()}
        if set(wanted) != set(self.train):
            raise TrainingConfigError(f"the loss graph has data inputs {sorted(wanted)}, the data has {sorted(train)}")
        for k, shape in wanted.items():
            if (config.batch, *self.train[k].shape[1:]) != tuple(shape):
                raise TrainingConfigError(
                    f"input {k!r}: the graph expects batches of shape {tuple(shape)}, the data gives rows of "
                    f"shape {self.train[k].shape[1:]} in batches of {config.batch}; trace the model with batch "
                    f"{config.batch}"
                )
        self.schedule = schedule(config.schedule, config.lr, config.lam)
        self.fingerprint = self._fingerprint()
        state = ckpt.load(resume, self.fingerprint) if resume is not None else None  # before compiling
        self.kernel = kernel if kernel is not None else codegen.compile(diff.grad(graph))
        self.params = {k: np.array(v, dtype=np.float64) for k, v in (params or init_params(graph.params)).items()}
        if set(self.params) != set(graph.params):
            raise TrainingConfigError(f"params {sorted(self.params)} differ from the graph's {sorted(graph.params)}")
        self.velocity = {k: np.zeros_like(v) for k, v in self.params.items()} if config.momentum else {}
        self.average = {k: v.copy() for k, v in self.params.items()} if config.average else None
        self.rng = np.random.default_rng(config.seed)
        self.step = 0
        self.history: list[dict[str, float]] = []
        self._order = np.empty(0, dtype=np.int64)
        self._pos = 0
        self._batch = {k: np.empty((config.batch, *v.shape[1:])) for k, v in self.train.items()}
        self._out = {name: np.empty(shape) for name, shape in self.kernel.outputs.items()}
        self._args = {**self.params, **self._batch}
        self._scratch = {k: np.empty_like(v) for k, v in self.params.items()}
        self._prepared: Any = None
        if state is not None:
            self._restore(state)

    def _fingerprint(self) -> str:
        """The model (loss graph), the data's shape and the settings that a resumed run must share."""
        c = asdict(self.config)
        c.pop("steps")  # a resumed run may go further
        c.pop("eval_every")
        c.pop("checkpoint_every")
        shapes = {k: v.shape for k, v in self.train.items()}
        text = json.dumps([self.graph.fingerprint(), c, repr(sorted(shapes.items()))], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()

    # -- sampling --------------------------------------------------------------------------------------
    def _indices(self) -> np.ndarray:
        b = self.config.batch
        if self.config.sampling == "replace":
            return self.rng.integers(0, self.n, size=b)
        if self._pos + b > self._order.size:  # new epoch; the incomplete tail is dropped
            self._order = self.rng.permutation(self.n)
            self._pos = 0
        idx = self._order[self._pos : self._pos + b]
        self._pos += b
        return idx

    # -- one step -----------------------------------------------------------------------------------------
    def sgd_step(self) -> float:
        """One update; returns the minibatch loss before it. Raises DivergenceError on NaN or inf."""
        idx = self._indices()
        for k, buf in self._batch.items():
            self.train[k].take(idx, axis=0, out=buf)
        if self._prepared is None:  # the arguments stay the same arrays, refilled in place: check them once
            prepare = getattr(self.kernel, "prepare", None)  # a kernel of the user's may lack it
            run = self.kernel.run
            self._prepared = prepare(self._args, self._out) if prepare else lambda: run(self._args, self._out)
        out = self._prepared()
        loss = float(out["loss"])
        t = self.step + 1
        if not math.isfinite(loss):
            raise DivergenceError(
                f"loss became {'NaN' if math.isnan(loss) else loss} at step {t}; lower the learning rate "
                f"(now {self.config.lr}, schedule {self.config.schedule})",
                t,
            )
        alpha = self.schedule(t)
        c = self.config
        for name, theta in self.params.items():
            g = out["grad:" + name]
            if c.weight_decay:
                g = g + c.weight_decay * theta
            if c.momentum:
                v = self.velocity[name]
                v *= c.momentum
                v += g
                g = v
            scratch = self._scratch[name]
            np.multiply(g, alpha, out=scratch)
            theta -= scratch  # in place, no temporaries: self._args holds the same arrays
        if self.average is not None:
            # running mean of theta_0..theta_t, uniform or with weights s + 1 (suits alpha_t = 1/(mu t))
            w = 1.0 / (t + 1) if c.average_weights == "uniform" else 2.0 / (t + 2)
            for name, theta in self.params.items():
                avg = self.average[name]
                avg += w * (theta - avg)
        self.step = t
        return loss

    # -- the loop ------------------------------------------------------------------------------------------
    def run(self, checkpoint: str | Path | None = None, on_step: OnStep | None = None) -> Result:
        """Train until ``config.steps``; evaluate every ``eval_every`` steps; checkpoint atomically.

        ``on_step(Step)`` is called after every step (the trainer itself never prints: the command
        line draws its progress bar from these calls); it should return quickly, a step may take
        microseconds.
        """
        c = self.config
        if checkpoint is not None:  # a path that cannot be written fails now, not after the run
            Path(checkpoint).parent.mkdir(parents=True, exist_ok=True)
            check_output(checkpoint, what="checkpoint")
        every = c.eval_every or max(1, c.steps // 20)
        recent: list[float] = []
        if self.step == 0 and not self.history:
            self._record(None)  # before the clock starts: it may compile the evaluation kernels
        start, first = time.perf_counter(), self.step
        while self.step < c.steps:
            loss = self.sgd_step()
            recent.append(loss)
            record = None
            if self.step % every == 0 or self.step == c.steps:
                record = dict(self._record(float(np.mean(recent))))  # a copy: the hook may keep or change it
                recent.clear()
            if checkpoint is not None and (
                self.step == c.steps or (c.checkpoint_every and self.step % c.checkpoint_every == 0)
            ):
                self.save(checkpoint)
            if on_step is not None:
                on_step(Step(self.step, c.steps, loss, time.perf_counter() - start, record, first))
        return Result(
            {k: v.copy() for k, v in self.params.items()},
            None if self.average is None else {k: v.copy() for k, v in self.average.items()},
            list(self.history),
            self.step,
            time.perf_counter() - start,
            first,
        )

    def _record(self, batch_loss: float | None) -> dict[str, float]:
        row: dict[str, float] = {"step": self.step}
        if batch_loss is not None:
            row["batch_loss"] = batch_loss
        if self.metrics is not None:
            row.update(self.metrics(self.params))
        self.history.append(row)
        return row

    # -- checkpoints --------------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write parameters, velocity, running average, step, RNG and epoch state and history atomically."""
        return ckpt.save(
            path,
            {
                "params": self.params,
                "velocity": self.velocity,
                "average": self.average or {},
                "step": self.step,
                "fingerprint": self.fingerprint,
                "rng": self.rng.bit_generator.state,
                "order": self._order.tolist(),
                "pos": self._pos,
                "history": self.history,
            },
        )

    def resume(self, path: str | Path) -> None:
        """Continue from a checkpoint of this same model and setting (else CheckpointError)."""
        self._restore(ckpt.load(path, self.fingerprint))

    def _restore(self, state: dict[str, Any]) -> None:
        for group, target in (("params", self.params), ("velocity", self.velocity), ("average", self.average)):
            if target is None:
                continue
            for name, arr in target.items():
                arr[...] = state[group][name]  # in place: the kernel's argument dict holds these arrays
        self.step = int(state["step"])
        self.rng.bit_generator.state = state["rng"]
        self._order = np.asarray(state["order"], dtype=np.int64)
        self._pos = int(state["pos"])
        self.history = list(state["history"])
