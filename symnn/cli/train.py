"""``symnn train MODEL --data digits``: minibatch SGD with progress, final metrics, a verdict, history and plot.

The trainer never prints; its ``on_step`` hook moves the command line's one progress bar (stderr):
a redrawn line on a terminal, one plain line per evaluation on a pipe, nothing with ``--quiet``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from verify.convergence import history_figure, loss_decreases, save_figure

from .. import zoo
from ..errors import ModelError
from ..files import check_output
from ..trace import trace
from ..train.data import load_digits, one_hot, split
from ..train.errors import CheckpointError, DataError, TrainingConfigError
from ..train.schedules import KINDS
from ..train.sgd import Result, SGDConfig, Step, Trainer, init_params
from ..train.tasks import classifier
from .progress import REDRAW, Progress

DATASETS = ("digits",)


EXAMPLES = """
examples:
  symnn train mlp:64-32-10 --data digits --steps 500 --plot loss.png
  symnn train classifier:64-16-10 --data digits --history run.json --checkpoint run.npz
"""


def configure(p: argparse.ArgumentParser) -> None:
    """The arguments of ``symnn train``."""
    p.add_argument("model", metavar="MODEL", help="zoo name with sizes, e.g. mlp:64-128-10, or path/file.py:attr")
    p.add_argument("--data", default="digits", choices=DATASETS, help="data set (default: the 8x8 digits, shipped)")
    p.add_argument("--steps", type=int, default=2000, help="SGD steps (default 2000)")
    p.add_argument("--batch", type=int, default=64, help="minibatch size |B| (default 64)")
    p.add_argument("--lr", type=float, default=0.1, help="step size, the c of the schedule (default 0.1)")
    p.add_argument("--schedule", default="constant", choices=KINDS, help="constant, c/sqrt(t) or c/(lambda t)")
    p.add_argument("--lam", type=float, help="lambda of the 'inverse' schedule c/(lambda t)")
    p.add_argument("--momentum", type=float, default=0.0, help="heavy-ball momentum in [0, 1) (default 0)")
    p.add_argument("--weight-decay", type=float, default=0.0, help="L2 weight decay (default 0)")
    p.add_argument("--loss", help="override the model's loss (e.g. softmax_cross_entropy, mse)")
    p.add_argument("--seed", type=int, default=0, help="seed of the split, the initial weights and the batches")
    p.add_argument("--test-fraction", type=float, default=0.2, help="held-out fraction (default 0.2)")
    p.add_argument("--eval-every", type=int, default=0, help="steps between evaluations (default steps/20)")
    p.add_argument("--history", help="write the history here (.json, or CSV for any other suffix)")
    p.add_argument("--plot", help="write a plot of train/test loss against steps (needs matplotlib)")
    p.add_argument("--checkpoint", help="checkpoint file (.npz), written atomically at the end and every N steps")
    p.add_argument("--checkpoint-every", type=int, default=0, help="also checkpoint every N steps")
    p.add_argument("--resume", action="store_true", help="continue from --checkpoint")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --checkpoint instead of refusing")
    p.add_argument("--quiet", action="store_true", help="no progress bar (it goes to stderr)")
    p.add_argument("--json", action="store_true", help="print the final metrics and verdict as JSON (stdout)")


def _model(spec: str) -> tuple[Any, Any, tuple[int, ...]]:
    model = zoo.resolve(spec)
    if model.net is None:
        raise ModelError(f"symnn train needs a model with a network (layers), but {spec!r} is a fixed Graph")
    return model.net, model.loss, tuple(model.shapes["x"][1:])


def _digits(x_shape: tuple[int, ...], classes: int, fraction: float, seed: int) -> tuple[dict, dict | None]:
    x, labels = load_digits(scale=True)
    if math.prod(x_shape) != 64:
        raise DataError(f"the digits are 8x8 = 64 pixels, but the model takes inputs of shape {x_shape}")
    x = x.reshape((len(x), *x_shape))
    y = one_hot(labels, classes)  # labels out of range for this model's output size raise here
    tr, te = split(len(x), fraction, seed)
    return {"x": x[tr], "y": y[tr]}, ({"x": x[te], "y": y[te]} if len(te) else None)


def plot(history: list[dict], path: str | Path) -> Path | None:
    """Save the loss curves (``verify.convergence.history_figure``) at ``path``; None without matplotlib."""
    try:
        fig = history_figure(history)
    except ImportError:
        return None
    return save_figure(fig, path)


def run(args: argparse.Namespace) -> int:
    """Train, print the final metrics and the verdict; 0 if the loss decreased, 1 if not."""
    if args.resume and not args.checkpoint:
        raise CheckpointError("--resume needs --checkpoint PATH (the file to continue from)")
    if not 0.0 <= args.test_fraction < 1.0:
        raise TrainingConfigError(f"--test-fraction must be in [0, 1), got {args.test_fraction}")
    for flag, value in (
        ("--seed", args.seed),
        ("--eval-every", args.eval_every),
        ("--checkpoint-every", args.checkpoint_every),
    ):
        if value < 0:
            raise TrainingConfigError(f"{flag} must be >= 0, got {value}")
    _check_outputs(args)  # before the run: a bad path must not cost the run
    net, loss, x_shape = _model(args.model)
    loss = args.loss or loss
    config = SGDConfig(
        lr=args.lr,
        steps=args.steps,
        batch=args.batch,
        schedule=args.schedule,
        lam=args.lam,
        momentum=args.momentum,
        weight_decay=args.weight_decay,
        seed=args.seed,
        eval_every=args.eval_every,
        checkpoint_every=args.checkpoint_every,
    )
    classes = _output_size(net, loss, x_shape)
    train, test = _digits(x_shape, classes, args.test_fraction, args.seed)
    config.check(len(train["x"]))  # bad settings fail before anything is compiled
    with Progress(args.steps, "training", enabled=not args.quiet) as bar:
        bar.update(0, f"compiling the kernels of {args.model}")  # seconds on a cold cache: say so
        task = classifier(net, loss, train, test, args.batch)
        params = init_params(task.graph.params, args.seed)
        resume = args.checkpoint if args.resume else None  # checked against this model before compiling
        trainer = Trainer(task.graph, task.train, config, params=params, metrics=task.metrics, resume=resume)
        result: Result = trainer.run(checkpoint=args.checkpoint, on_step=progress_hook(bar) if bar.enabled else None)
    final = result.history[-1]
    verdict = loss_decreases(result.history)
    notes = []
    if args.history:
        notes.append(f"history: {result.write_history(args.history)}")
    if args.plot:
        written = plot(result.history, args.plot)
        notes.append(f"plot: {written}" if written else "no plot: matplotlib is not installed (pip install matplotlib)")
    if args.json:
        print(json.dumps({"final": final, "verdict": verdict.line(), "ok": verdict.ok, "steps_per_s": result.rate}))
    else:
        print(f"model {args.model} ({loss}), {len(train['x'])} train / {0 if test is None else len(test['x'])} test")
        print(f"steps {result.step}, {result.rate:,.0f} steps/s")
        for split_name in ("train", "test"):
            if f"{split_name}_loss" in final:
                print(
                    f"{split_name}: loss {final[f'{split_name}_loss']:.4g}, "
                    f"accuracy {final[f'{split_name}_accuracy']:.4f}"
                )
        print(verdict.line())
    for note in notes:
        print(note, file=sys.stderr)
    return 0 if verdict.ok else 1


def progress_hook(bar: Progress) -> Callable[[Step], None]:
    """The trainer's ``on_step`` drawn on ``bar``: on a terminal at most every REDRAW seconds, on a pipe
    one line per evaluation (the history's rows), so a log gets about 20 lines, not one per step."""
    last = 0.0

    def on_step(s: Step) -> None:
        nonlocal last
        if s.record is None:
            if not bar.tty:
                return
            now = time.perf_counter()
            if now - last < REDRAW and s.step < s.steps:
                return  # a step may take microseconds: formatting every one would cost more than the step
            last = now
        bar.update(s.step, step_line(s))

    return on_step


def step_line(s: Step) -> str:
    """``batch loss 0.41, test loss 0.38, test accuracy 0.930, 4,210 steps/s`` (test figures at evaluations)."""
    parts = [f"batch loss {s.loss:.4g}"]
    row = s.record or {}
    if "test_loss" in row:
        parts.append(f"test loss {row['test_loss']:.4g}")
    if "test_accuracy" in row:
        parts.append(f"test accuracy {row['test_accuracy']:.3f}")
    return ", ".join([*parts, f"{s.rate:,.0f} steps/s"])


def _check_outputs(args: argparse.Namespace) -> None:
    """Refuse bad --history/--plot/--checkpoint paths, and an existing checkpoint without --resume/--overwrite."""
    inputs = [args.model.rpartition(":")[0]] if ":" in args.model else []
    for flag, path in (("--history", args.history), ("--plot", args.plot), ("--checkpoint", args.checkpoint)):
        if path:
            check_output(path, inputs, what=flag)
    if args.checkpoint and not args.resume and not args.overwrite and Path(args.checkpoint).exists():
        raise CheckpointError(
            f"checkpoint {args.checkpoint!r} exists; pass --resume to continue from it or --overwrite to replace it"
        )


def _output_size(net: Any, loss: Any, x_shape: tuple[int, ...]) -> int:
    g = trace(net, None, {"x": (1, *x_shape)})
    shape = g.shape(g.outputs[0])
    if len(shape) != 2:
        raise ModelError(f"symnn train --data digits needs a network with outputs (batch, classes), got {shape}")
    return int(shape[1])
