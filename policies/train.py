"""``tact train``: MaskablePPO on the debtor simulator, exported as a servable artifact.

Reads top to bottom like the experiment (after cleanrl's ``ppo.py``):

1. seed everything (Python, numpy, torch, the simulator, SB3) and pin torch's threads;
2. build the training environment — ``n_envs`` debtors stepped by the batched simulator,
   masked by the compliance shield (the same rule files the service uses) — and the
   held-out evaluation debtors (a fixed seed ≥ ``EVAL_SEED_OFFSET``: never trained on);
3. build the agent; start it patient (``wait_prior``) by biasing the WAIT logit;
4. learn, evaluating the *served* network (the torch-free numpy runtime, deterministic)
   on the held-out debtors every ``eval_every`` steps, logging to TensorBoard and keeping
   the best checkpoint by reward per case;
5. export model.zip, policy_weights.npz and model_card.json (run config, hashes, code
   revision, ruleset version, wall time, evaluation) to ``policies/models/<name>/``.

torch and stable-baselines3 are imported inside :func:`train`, so importing this module
(and listing CLI commands) stays cheap.
"""

from __future__ import annotations

import copy
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from policies.base import Policy, PolicyDecisions
from policies.evaluate import Served
from policies.train_config import TrainConfig

if TYPE_CHECKING:
    from sb3_contrib import MaskablePPO

    from policies.evaluate import PolicyRun
    from simulator.masks import MaskProvider
    from simulator.scenario import Scenario

log = logging.getLogger(__name__)

EvalCallback = Callable[["EvalPoint"], None]
StepCallback = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class EvalPoint:
    """One evaluation on the held-out debtors during training."""

    timesteps: int
    seconds: float
    kpis: dict[str, float]
    """KPI means (reward_per_case, net_value_per_case, …)."""
    best: bool
    """This evaluation is the best so far (by reward per case)."""


@dataclass(slots=True)
class TrainResult:
    """A finished run: the (best) model, where it was exported, and its record."""

    model: MaskablePPO
    config: TrainConfig
    wall_time_s: float
    curve: list[EvalPoint] = field(default_factory=list)
    reference: dict[str, float] = field(default_factory=dict)
    """KPI means of the reference baseline on the same held-out debtors."""
    imitation: dict[str, float] = field(default_factory=dict)
    """Warm-start statistics (accuracy, value loss, samples), empty without a warm start."""
    artifact_dir: Path | None = None


def seed_everything(seed: int, torch_threads: int) -> None:
    """Python, numpy's global state and torch; SB3 and the simulator get ``seed`` too."""
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(torch_threads)


def served_policy(model: MaskablePPO, name: str) -> Served:
    """The model's actor in the numpy serving runtime, deterministic as served."""
    from policies.artifacts import extract_actor_weights
    from policies.numpy_runtime import NumpyPolicy

    weights = extract_actor_weights(model)
    return Served(NumpyPolicy(weights, name=name, version=weights.digest()))


def set_wait_prior(model: MaskablePPO, masks: np.ndarray, wait_prior: float) -> float:
    """Bias the WAIT logit so that the initial policy waits with ``wait_prior``.

    The other logits start near 0 (SB3 initialises the action layer with gain 0.01), so
    P(WAIT) ≈ e^b / (e^b + k) with k the typical number of allowed contacts. Returns b.
    """
    import torch

    if wait_prior <= 0:
        return 0.0
    allowed_contacts = max(float(masks[:, 1:].sum(axis=1).mean()), 1.0)
    bias = float(np.log(wait_prior / (1.0 - wait_prior) * allowed_contacts))
    action_net: Any = model.policy.action_net
    with torch.no_grad():
        action_net.bias[0] += bias
    return bias


class MixedTeacher:
    """Several teachers, one per debtor: each training slot follows the teacher drawn for
    its current debtor, redrawn when the slot's episode ends. Imitating a mixture of good
    strategies leaves the warm-started policy real probability on each of their steps in
    every kind of case, so PPO can find which step fits which case (imitating one
    deterministic teacher leaves it almost nothing to explore)."""

    name = "mixed-teacher"
    version = "1"

    def __init__(self, teachers: list[Policy], n_slots: int, seed: int) -> None:
        if not teachers:
            raise ValueError("a mixed teacher needs at least one teacher")
        self.teachers = teachers
        self.rng = np.random.default_rng(seed)
        self.assigned = self.rng.integers(0, len(teachers), size=n_slots)

    def act(
        self, observations: np.ndarray, masks: np.ndarray, rng: np.random.Generator | None = None
    ) -> PolicyDecisions:
        chosen = np.zeros(observations.shape[0], dtype=np.int64)
        for k, teacher in enumerate(self.teachers):
            rows = np.flatnonzero(self.assigned == k)
            if rows.size:
                chosen[rows] = teacher.act(observations[rows], masks[rows], None).indices
        return PolicyDecisions(indices=chosen, propensities=np.ones(chosen.size))

    def episodes_ended(self, done: np.ndarray) -> None:
        rows = np.flatnonzero(done)
        self.assigned[rows] = self.rng.integers(0, len(self.teachers), size=rows.size)


def imitate(model: MaskablePPO, env: Any, teacher: Policy, config: TrainConfig) -> dict[str, float]:
    """Behaviour cloning: fit the actor to ``teacher``'s choices and the critic to the
    discounted returns that followed them, on ``config.warm_start_timesteps`` debtor-days
    of the teacher acting in the training simulator.

    Exploration is PPO's weak point here: among ~70 allowed treatments most are harmful
    (a legal notice, a firm letter), so a randomly initialised policy learns only that
    contacting is bad and collapses onto WAIT. Starting from a competent strategy (and a
    critic that already knows what its states are worth) lets PPO improve instead.
    Returns the final imitation accuracy and value loss.
    """
    import torch

    n_envs = env.num_envs
    steps = max(1, config.warm_start_timesteps // n_envs)
    obs_buf = np.empty((steps, n_envs, env.observation_space.shape[0]), dtype=np.float32)
    mask_buf = np.empty((steps, n_envs, env.action_space.n), dtype=bool)
    act_buf = np.empty((steps, n_envs), dtype=np.int64)
    rew_buf = np.empty((steps, n_envs), dtype=np.float32)
    done_buf = np.empty((steps, n_envs), dtype=bool)
    obs = env.reset()
    for t in range(steps):
        masks = env.action_masks()
        actions = teacher.act(obs, masks, None).indices
        obs_buf[t], mask_buf[t], act_buf[t] = obs, masks, actions
        obs, rewards, dones, _ = env.step(actions)
        rew_buf[t], done_buf[t] = rewards, dones
        if isinstance(teacher, MixedTeacher):
            teacher.episodes_ended(dones)
    # Discounted returns, backwards; samples whose episode did not end inside the window
    # have no return (we would have to guess their tail) and train only the actor.
    returns = np.zeros((steps, n_envs), dtype=np.float32)
    known = np.zeros((steps, n_envs), dtype=bool)
    running = np.zeros(n_envs, dtype=np.float32)
    ended = np.zeros(n_envs, dtype=bool)
    for t in range(steps - 1, -1, -1):
        running = np.where(done_buf[t], 0.0, running * config.gamma) + rew_buf[t]
        ended |= done_buf[t]
        returns[t], known[t] = running, ended

    policy = model.policy
    optimizer = torch.optim.Adam(policy.parameters(), lr=config.warm_start_learning_rate)
    x = torch.as_tensor(obs_buf.reshape(-1, obs_buf.shape[-1]))
    m = torch.as_tensor(mask_buf.reshape(-1, mask_buf.shape[-1]))
    a = torch.as_tensor(act_buf.reshape(-1))
    g = torch.as_tensor(returns.reshape(-1))
    k = torch.as_tensor(known.reshape(-1))
    n = x.shape[0]
    generator = torch.Generator().manual_seed(config.seed)
    eps = config.warm_start_smoothing
    stats = {"accuracy": 0.0, "value_loss": 0.0}
    policy.set_training_mode(True)
    for _ in range(config.warm_start_epochs):
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, config.batch_size):
            idx = order[start : start + config.batch_size]
            logits = _masked_log_probs(policy, x[idx], m[idx])
            log_p = logits.gather(1, a[idx, None]).squeeze(1)
            allowed = m[idx].float()
            smooth = (logits * allowed).sum(1) / allowed.sum(1)
            actor_loss = -((1 - eps) * log_p + eps * smooth).mean()
            values = policy.predict_values(x[idx]).squeeze(1)
            weight = k[idx].float()
            value_loss = (weight * (values - g[idx]) ** 2).sum() / weight.sum().clamp(min=1)
            loss = actor_loss + config.vf_coef * value_loss
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(policy.parameters(), config.max_grad_norm)
            optimizer.step()
    policy.set_training_mode(False)
    with torch.no_grad():
        correct = 0
        for start in range(0, n, 16384):
            sl = slice(start, start + 16384)
            logits = _masked_log_probs(policy, x[sl], m[sl])
            correct += int((logits.argmax(1) == a[sl]).sum())
        stats["accuracy"] = correct / n
        stats["value_loss"] = float(value_loss)
        stats["samples"] = float(n)
    return stats


def _masked_log_probs(policy: Any, obs: Any, masks: Any) -> Any:
    """(n, n_actions) log-probabilities of the masked policy (blocked: ≈ -1e8)."""
    distribution: Any = policy.get_distribution(obs, action_masks=masks.numpy())
    return distribution.distribution.logits


def held_out_run(
    policy: Policy,
    scenario: Scenario,
    masks: MaskProvider,
    config: TrainConfig,
) -> PolicyRun:
    """The policy on the fixed held-out debtors (no compliance audit: the mask is checked
    at every step, and tact evaluate audits the exported model)."""
    from engine.compliance import ComplianceEngine
    from policies.evaluate import run_policy

    return run_policy(
        scenario,
        policy,
        config.eval_debtors,
        masks,
        seed=config.eval_seed,
        verdicts=ComplianceEngine.load(),
        randomise=config.randomise,
        batch_size=config.eval_debtors,
        audit_contacts=0,
    )


def kpi_means(run: PolicyRun, scenario: Scenario) -> dict[str, float]:
    from simulator.kpis import compute_kpis

    report = compute_kpis(run.outcomes, churn_applies=scenario.churn.enabled)
    return {k.name: k.mean for k in report}


def train(
    config: TrainConfig,
    *,
    on_step: StepCallback | None = None,
    on_eval: EvalCallback | None = None,
    export: bool = True,
) -> TrainResult:
    """Train from scratch as ``config`` says; reproducible for a seed on one machine."""
    import torch
    from sb3_contrib import MaskablePPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.vec_env import VecEnvWrapper

    from simulator.masks import compliance_masks
    from simulator.scenario_loader import load_scenario
    from simulator.vec_env import CollectionsVecEnv

    started = time.perf_counter()

    # 1. Seeds.
    seed_everything(config.seed, config.torch_threads)

    # 2. Environments: training debtors, held-out debtors (and the reference's score on them).
    scenario = load_scenario(config.scenario)
    masks = compliance_masks()
    env: Any = CollectionsVecEnv(
        config.n_envs,
        training_scenario(scenario, config),
        masks=masks,
        seed=config.seed,
        randomise=config.randomise,
    )
    if config.reward_scale != 1.0:
        env = _ScaledReward(env, config.reward_scale, VecEnvWrapper)
    from policies.registry import load_policy

    reference = kpi_means(
        held_out_run(load_policy(config.reference), scenario, masks, config), scenario
    )

    # 3. The agent.
    activation = {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}[config.activation]
    lr0, lr1 = config.learning_rate, config.final_learning_rate
    run_dir = Path(config.runs_dir) / config.run_name
    model = MaskablePPO(
        "MlpPolicy",
        env,
        learning_rate=lambda remaining: lr1 + (lr0 - lr1) * remaining,
        n_steps=config.n_steps,
        batch_size=config.batch_size,
        n_epochs=config.n_epochs,
        gamma=config.gamma,
        gae_lambda=config.gae_lambda,
        clip_range=config.clip_range,
        ent_coef=config.ent_coef,
        vf_coef=config.vf_coef,
        max_grad_norm=config.max_grad_norm,
        policy_kwargs={
            "net_arch": {"pi": list(config.net_arch), "vf": list(config.net_arch)},
            "activation_fn": activation,
        },
        tensorboard_log=config.runs_dir,
        seed=config.seed,
        device="cpu",
        verbose=0,
    )
    wait_bias = 0.0
    imitation: dict[str, float] = {}
    if config.warm_start is not None:
        teachers = [load_policy(spec) for spec in config.warm_start_specs]
        teacher = (
            teachers[0]
            if len(teachers) == 1
            else MixedTeacher(teachers, config.n_envs, seed=config.seed)
        )
        imitation = imitate(model, env, teacher, config)
        log.info("run %s: imitation of %s %s", config.run_name, config.warm_start, imitation)
    else:
        wait_bias = set_wait_prior(model, env.action_masks(), config.wait_prior)
        log.info("run %s: WAIT bias %.2f", config.run_name, wait_bias)

    # 4. Learn, with held-out evaluations and the best checkpoint.
    curve: list[EvalPoint] = []
    best: dict[str, Any] = {"rank": (False, -np.inf), "state": None}

    def evaluate_now(timesteps: int, logger: Any) -> None:
        run = held_out_run(served_policy(model, "candidate"), scenario, masks, config)
        kpis = kpi_means(run, scenario)
        rank = _rank(kpis, reference, config)
        is_best = rank > best["rank"]
        if is_best:
            best["rank"] = rank
            best["state"] = copy.deepcopy(model.policy.state_dict())
            best["timesteps"] = timesteps
        point = EvalPoint(timesteps, time.perf_counter() - started, kpis, is_best)
        curve.append(point)
        for name, value in kpis.items():
            logger.record(f"eval/{name}", value)
            if name in reference:
                logger.record(f"eval_vs_{config.reference}/{name}", value - reference[name])
        logger.dump(timesteps)
        if on_eval is not None:
            on_eval(point)

    class _Hooks(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self._next_eval = config.eval_every if config.eval_every > 0 else None

        def _on_training_start(self) -> None:
            for key, value in config.to_dict().items():
                self.logger.record(f"config/{key}", str(value))
            self.logger.record("config/wait_bias", wait_bias)
            for name, value in imitation.items():
                self.logger.record(f"imitation/{name}", value)
            for name, value in reference.items():
                self.logger.record(f"reference/{name}", value)
            self.logger.dump(0)
            if config.eval_every > 0:
                # The starting point (random init, or the imitation) is a candidate too.
                evaluate_now(0, self.logger)

        def _on_step(self) -> bool:
            if on_step is not None:
                on_step(self.num_timesteps)
            if self._next_eval is not None and self.num_timesteps >= self._next_eval:
                self._next_eval += config.eval_every
                evaluate_now(self.num_timesteps, self.logger)
            return True

    hooks = _Hooks()
    model.learn(
        total_timesteps=config.total_timesteps,
        callback=hooks,
        tb_log_name=config.run_name,
        reset_num_timesteps=True,
    )
    if not curve or curve[-1].timesteps != model.num_timesteps:
        evaluate_now(model.num_timesteps, model.logger)
    if config.keep_best and best["state"] is not None:
        model.policy.load_state_dict(best["state"])
    env.close()
    wall = time.perf_counter() - started

    result = TrainResult(
        model=model,
        config=config,
        wall_time_s=wall,
        curve=curve,
        reference=reference,
        imitation=imitation,
    )
    # 5. Export.
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "curve.json").write_text(
        json.dumps([_point_dict(p) for p in curve], indent=2), encoding="utf-8"
    )
    if export:
        result.artifact_dir = export_run(result, best_timesteps=best.get("timesteps"))
    return result


def export_run(result: TrainResult, *, best_timesteps: int | None = None) -> Path:
    """Write the artifact folder of a finished run (model, weights, model card)."""
    from engine.compliance import ComplianceEngine
    from policies.artifacts import MODELS_DIR, build_model_card, export_policy

    config = result.config
    chosen = (
        _best_point(result.curve, result.reference, config)
        if config.keep_best
        else (result.curve[-1])
    )
    evaluation = {
        "held_out": {
            "scenario": config.scenario,
            "debtors": config.eval_debtors,
            "seed": config.eval_seed,
            "randomise": config.randomise,
            "deterministic": True,
            "timesteps": chosen.timesteps if chosen else None,
            "kpis": chosen.kpis if chosen else {},
            "reference": {"policy": config.reference, "kpis": result.reference},
        },
        "curve": [_point_dict(p) for p in result.curve],
        "imitation": result.imitation,
        "best_timesteps": best_timesteps,
    }
    card = build_model_card(
        result.model,
        name=config.artifact_name,
        scenario=config.scenario,
        seed=config.seed,
        ruleset_version=ComplianceEngine.load().version,
        training_wall_time_s=round(result.wall_time_s, 1),
        timesteps=int(result.model.num_timesteps),
        run_config={**config.to_dict(), "run_name": config.run_name},
        evaluation=evaluation,
    )
    root = Path(config.models_dir) if config.models_dir else MODELS_DIR
    return export_policy(result.model, root / config.artifact_name, card)


def training_scenario(scenario: Scenario, config: TrainConfig) -> Scenario:
    """The scenario the agent trains on: the real one, with the training complaint price."""
    if config.train_complaint_price is None:
        return scenario
    from simulator.scenario import NonNeg

    reward = scenario.reward.model_copy(
        update={"complaint_price": NonNeg(value=config.train_complaint_price)}
    )
    return scenario.model_copy(update={"reward": reward})


def _rank(
    kpis: dict[str, float], reference: dict[str, float], config: TrainConfig
) -> tuple[bool, float]:
    """Checkpoints compare by (qualifies, reward per case): a checkpoint qualifies when it
    complains no more than the reference (if the config caps complaints)."""
    cap = reference.get("complaints_per_1000")
    qualifies = (
        not config.cap_complaints_at_reference or cap is None or kpis["complaints_per_1000"] <= cap
    )
    return qualifies, kpis["reward_per_case"]


def _best_point(
    curve: list[EvalPoint], reference: dict[str, float], config: TrainConfig
) -> EvalPoint | None:
    if not curve:
        return None
    return max(curve, key=lambda p: _rank(p.kpis, reference, config))


def _point_dict(point: EvalPoint) -> dict[str, Any]:
    return {
        "timesteps": point.timesteps,
        "seconds": round(point.seconds, 1),
        "best": point.best,
        **{k: round(v, 4) for k, v in point.kpis.items()},
    }


def _ScaledReward(env: Any, scale: float, wrapper: type) -> Any:
    """``env`` with rewards multiplied by ``scale`` (training only)."""

    class ScaledReward(wrapper):  # type: ignore[misc, valid-type]
        def reset(self) -> np.ndarray:
            return np.asarray(self.venv.reset())

        def step_wait(self) -> Any:
            obs, rewards, dones, infos = self.venv.step_wait()
            return obs, rewards * scale, dones, infos

        def action_masks(self) -> np.ndarray:
            return np.asarray(self.venv.action_masks())

    return ScaledReward(env)


__all__ = [
    "EvalPoint",
    "MixedTeacher",
    "Served",
    "TrainResult",
    "export_run",
    "seed_everything",
    "served_policy",
    "set_wait_prior",
    "train",
]
