"""The typed configuration of one training run (``tact train``), one docstring per field.

Every field is logged to TensorBoard and copied into the model card, so a run can be
repeated from its card alone. Defaults are the configuration the shipped
``policies/models/default`` was trained with (see docs/policies.md).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

ALGOS = ("maskable-ppo",)
"""Training algorithms ``tact train --algo`` accepts."""
ACTIVATIONS = ("tanh", "relu")
"""Hidden-layer activations the numpy serving runtime reproduces (and that we offer)."""
WARM_START_POLICIES = ("segmented", "ladder", "best-simple")
"""Hand-written baselines a run may imitate before PPO (never a trained model); any
``simple:<spec>`` member of the simple family too."""
EVAL_SEED_OFFSET = 1_000_000
"""Held-out evaluation debtors are drawn with seeds ≥ this offset, training debtors with
seeds below it: the two sets never share a random stream."""


DEFAULT_TEACHERS = ",".join(
    [
        "best-simple",
        "simple:PLAN_6/EMPATHETIC/SMS>EMAIL>LETTER/EVENING/every-3d",
        "simple:REMINDER/EMPATHETIC/SMS>EMAIL>LETTER/EVENING/every-3d",
        "simple:REMINDER/NEUTRAL/SMS>EMAIL>LETTER/MORNING/every-5d",
        "simple:SETTLE_40/NEUTRAL/SMS>EMAIL>LETTER/MORNING/every-7d",
        "simple:DEFER_30/EMPATHETIC/SMS>EMAIL>LETTER/EVENING/every-3d",
    ]
)
"""The shipped recipe's warm start: a mixture of the champion and five simple strategies
that lead in different hidden segments (plans, reminders, settlement, deferral), so that
PPO starts with probability on each good step in every kind of case."""


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters and bookkeeping of one MaskablePPO run on a simulator scenario."""

    scenario: str = "nordic-telecom"
    """Simulator scenario (name under simulator/scenarios/ or a YAML path) to train on."""
    algo: str = "maskable-ppo"
    """Training algorithm; only sb3-contrib's MaskablePPO (the compliance shield masks
    actions) is supported."""
    total_timesteps: int = 5_000_000
    """Debtor-days to train for (one timestep = one debtor's decision on one day). The
    default recipe's best held-out checkpoint came at ≈ 5M (≈ 19 minutes on 2 cores)."""
    seed: int = 0
    """Seeds torch, numpy, Python's random, the simulator and SB3; must be below
    EVAL_SEED_OFFSET so that training never sees the held-out evaluation debtors."""
    name: str | None = None
    """Artifact name under policies/models/; defaults to the run name."""
    n_envs: int = 512
    """Debtors stepped side by side by the batched simulator (one VecEnv slot each);
    large batches amortise the simulator's per-step numpy overhead."""
    n_steps: int = 64
    """Days each slot is stepped per rollout; a rollout holds n_envs × n_steps samples."""
    batch_size: int = 4096
    """Minibatch size of each gradient step."""
    n_epochs: int = 4
    """Passes over each rollout."""
    learning_rate: float = 3e-4
    """Adam step size at the start of training."""
    final_learning_rate: float = 1e-4
    """Adam step size at the end; linearly annealed from learning_rate."""
    gamma: float = 0.995
    """Discount per day. Money arrives days after a contact and churn is priced at the end
    of a ~120-day episode, so the horizon must be long (0.995 ≈ 200-day horizon)."""
    gae_lambda: float = 0.95
    """GAE bias/variance trade-off."""
    clip_range: float = 0.2
    """PPO probability-ratio clip."""
    ent_coef: float = 0.003
    """Entropy bonus; small, because most of the ~144 treatments are harmful to explore."""
    vf_coef: float = 0.5
    """Weight of the value loss."""
    max_grad_norm: float = 0.5
    """Gradient clipping norm."""
    net_arch: tuple[int, ...] = (128, 128)
    """Hidden layer widths, shared by the actor and the critic (separate networks)."""
    activation: str = "tanh"
    """Hidden activation: tanh or relu (both reproduced by the numpy runtime)."""
    wait_prior: float = 0.5
    """Initial probability of WAIT, set through the action layer's WAIT bias. A uniform
    start contacts debtors almost daily, which buries the signal in complaints and
    fatigue; starting patient lets PPO discover which contacts pay. 0 = leave SB3's init."""
    warm_start: str | None = DEFAULT_TEACHERS
    """Baseline(s) to imitate before PPO (behaviour cloning on their decisions in the
    training simulator, actor and critic): ``segmented``, ``ladder``, ``best-simple`` or a
    ``simple:<spec>``; several, comma-separated, are a mixture (each debtor follows one,
    policies.train.MixedTeacher); None = PPO from the random init."""
    reference: str = "best-simple"
    """Baseline scored on the held-out debtors next to every evaluation (TensorBoard, model
    card): the policy to beat. ``segmented`` or ``best-simple`` (the champion's candidates)."""
    warm_start_timesteps: int = 400_000
    """Debtor-days of the warm-start baseline's decisions to imitate (not counted in
    total_timesteps; recorded in the model card)."""
    warm_start_epochs: int = 8
    """Passes over the imitation data."""
    warm_start_learning_rate: float = 1e-3
    """Adam step size of the imitation phase."""
    warm_start_smoothing: float = 0.05
    """Label smoothing over the allowed treatments: keeps PPO some room to explore."""
    train_complaint_price: float | None = None
    """Price of a complaint in the *training* reward only (a constraint weight: a higher price
    makes PPO trade value for fewer complaints); None = the scenario's price. Held-out
    evaluations and every reported KPI use the scenario's prices."""
    cap_complaints_at_reference: bool = True
    """Checkpoint selection (keep_best): only held-out evaluations whose complaints per 1,000
    are at most the reference's qualify (the best overall if none does)."""
    reward_scale: float = 1.0
    """Multiplier on the simulator's reward (money − costs − complaint and churn prices,
    already divided by the scenario's reward.scale) for training only."""
    randomise: bool = False
    """Train on per-debtor randomised behaviour parameters (domain randomisation)."""
    eval_every: int = 500_000
    """Timesteps between evaluations on the held-out debtors (0 = only at the end)."""
    eval_debtors: int = 3000
    """Held-out debtors per evaluation (the same debtors every time)."""
    eval_seed: int = EVAL_SEED_OFFSET
    """Seed of the held-out debtors; must be ≥ EVAL_SEED_OFFSET."""
    keep_best: bool = True
    """Export the evaluation's best checkpoint (by reward per case) instead of the last."""
    torch_threads: int = 1
    """torch intra-op threads; 1 keeps runs reproducible and leaves the other core to the
    simulator."""
    runs_dir: str = "runs"
    """Where TensorBoard logs and checkpoints go (git-ignored)."""
    models_dir: str | None = None
    """Where the artifact folder is written; None = policies/models/."""
    started_at: int = field(default_factory=lambda: int(time.time()))
    """Unix time the run was configured (part of the run name)."""

    def __post_init__(self) -> None:
        if self.algo not in ALGOS:
            raise ValueError(f"algo {self.algo!r} is not supported; choose one of {ALGOS}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"activation {self.activation!r} is not supported; choose one of {ACTIVATIONS}"
            )
        if not 0 <= self.seed < EVAL_SEED_OFFSET:
            raise ValueError(
                f"seed must lie in [0, {EVAL_SEED_OFFSET}): seeds from {EVAL_SEED_OFFSET} on "
                "are reserved for held-out evaluation debtors"
            )
        if self.eval_seed < EVAL_SEED_OFFSET:
            raise ValueError(
                f"eval_seed must be ≥ {EVAL_SEED_OFFSET} so that evaluation debtors are "
                "never training debtors"
            )
        for name in ("total_timesteps", "n_envs", "n_steps", "batch_size", "n_epochs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if (self.n_envs * self.n_steps) % self.batch_size:
            raise ValueError(
                f"batch_size {self.batch_size} must divide the rollout size n_envs × n_steps "
                f"= {self.n_envs * self.n_steps}, or the last minibatch is truncated "
                "(tact train: --batch-size, --n-envs, --n-steps)"
            )
        if not 0.0 <= self.wait_prior < 1.0:
            raise ValueError(f"wait_prior must lie in [0, 1), got {self.wait_prior}")
        for spec in self.warm_start_specs:
            if not (spec in WARM_START_POLICIES or spec.startswith("simple:")):
                raise ValueError(
                    f"warm_start {spec!r} is not a baseline to imitate; choose one of "
                    f"{WARM_START_POLICIES}, a simple:<spec>, several comma-separated, or None"
                )
        if self.reference not in ("segmented", "best-simple"):
            raise ValueError(
                f"reference {self.reference!r} is not a champion candidate; choose segmented "
                "or best-simple"
            )
        if not 0.0 <= self.warm_start_smoothing < 1.0:
            raise ValueError(
                f"warm_start_smoothing must lie in [0, 1), got {self.warm_start_smoothing}"
            )
        if self.train_complaint_price is not None and self.train_complaint_price < 0:
            raise ValueError(
                f"train_complaint_price must be ≥ 0 or None, got {self.train_complaint_price}"
            )
        if self.eval_debtors < 1:
            raise ValueError(f"eval_debtors must be at least 1, got {self.eval_debtors}")

    @property
    def warm_start_specs(self) -> list[str]:
        """The teachers of the warm start (empty without one)."""
        if self.warm_start is None:
            return []
        return [spec.strip() for spec in self.warm_start.split(",") if spec.strip()]

    @property
    def run_name(self) -> str:
        """``scenario__algo__seed__time`` (cleanrl's convention)."""
        scenario = self.scenario.rsplit("/", 1)[-1].removesuffix(".yaml")
        return f"{scenario}__{self.algo}__{self.seed}__{self.started_at}"

    @property
    def artifact_name(self) -> str:
        return self.name or self.run_name

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (tuples as lists), for the model card and TensorBoard."""
        out = asdict(self)
        out["net_arch"] = list(self.net_arch)
        return out


__all__ = ["ACTIVATIONS", "ALGOS", "EVAL_SEED_OFFSET", "WARM_START_POLICIES", "TrainConfig"]
