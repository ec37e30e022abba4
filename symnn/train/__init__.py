"""Training: minibatch SGD on compiled gradient kernels, step-size schedules, checkpoints, data.

    trainer = Trainer(loss_graph, {"x": x, "y": y}, SGDConfig(lr=0.1, steps=1000, batch=64))
    result = trainer.run(checkpoint="run.npz", on_step=lambda s: print(s.step, s.loss) if s.record else None)

The trainer never prints: ``on_step`` receives a ``Step`` (step, steps, minibatch loss, seconds and
the history row of an evaluation) after every step; ``symnn train`` draws its progress bar from it.

``symnn.train.data`` holds the 8x8 digits shipped with symnn and synthetic convex problems;
``verify.convergence`` checks the notes' rates with these pieces.
"""

from .checkpoint import load as load_checkpoint
from .checkpoint import save as save_checkpoint
from .data import load_digits, median_problem, one_hot, ridge_problem, split
from .errors import CheckpointError, DataError, DivergenceError, TrainingConfigError
from .schedules import Schedule, schedule
from .sgd import Result, SGDConfig, Step, Trainer, init_params

__all__ = [
    "CheckpointError",
    "DataError",
    "DivergenceError",
    "Result",
    "SGDConfig",
    "Schedule",
    "Step",
    "Trainer",
    "TrainingConfigError",
    "init_params",
    "load_checkpoint",
    "load_digits",
    "median_problem",
    "one_hot",
    "ridge_problem",
    "save_checkpoint",
    "schedule",
    "split",
]
