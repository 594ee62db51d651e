"""Reinforcement learning: an agent learns what each action is worth from what its actions bring, by Q-learning: a
table of values in a gridworld (the first lesson, checked against dynamic programming), a network in gymnasium's
CartPole (DQN, with a replay buffer, a target network, an epsilon schedule and a Double-DQN switch).

It trains through the one loop. An environment is a dataset whose training "samples" are environment steps and whose
test "samples" are greedy episodes; the lane's model is the Q-network (models.build), and its objective is an Agent's:
act one step, keep the transition, and, every train_every steps past the warmup, return the TD loss of a batch drawn
from the replay buffer (None for a step that only acts). With a replay of one, a batch of one, a target copied every
step, no clamp and SGD at rate alpha, that loss's step is exactly tabular Q-learning's update.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from . import data
from .config import ENVIRONMENTS, AgentSettings, DenseLayer, DLCoreError, ModelSpec, TrainConfig
from .evaluate import Evaluation

EPOCH_STEPS = 1_000  # environment steps per epoch: each epoch ends with greedy episodes scored
LIVE_SECONDS = 1.0  # how often a training agent's view reaches its page: a new episode to watch every second or so
SHOWN_RETURNS = 2_000  # the latest episodes' returns a live view carries
EVAL_SEED = 10_000  # greedy episodes start from the same states in every run: seeds EVAL_SEED, EVAL_SEED + 1, ...

# ---- the gridworld: REINFORCEjs's first lesson, drawn here ----------------------------------------------------
# S: where its greedy episode starts; G: +1 and the episode ends; X: -1 and it ends; #: a wall. Every other step
# pays nothing, so with a discount below 1 the best path is the shortest that keeps off the pits.
GRID = (
    "S.........",
    "..........",
    "..####.##.",
    "..#....#..",
    "..#.XX.#..",
    "..#.XG.#..",
    "..#....#..",
    "..###.##..",
    "..........",
    "....XX....",
)
GRID_SIDE = len(GRID)
MOVES = ((-1, 0), (0, 1), (1, 0), (0, -1))  # up, right, down, left: the action numbers
GRID_EPISODE_STEPS = 100  # a gridworld episode ends after this many steps (truncated: not a terminal state)
REWARDS = {"G": 1.0, "X": -1.0}


@dataclass(frozen=True)
class Environment:
    """What a page, the loop and a model need to know of one environment."""

    name: str
    title: str
    actions: tuple[str, ...]  # each action's name: the "classes" a Q-network scores
    features: int  # numbers a network reads for one state
    eval_episodes: int  # greedy episodes each epoch is scored on
    solved: float  # the mean greedy return that counts as solved
    best: float  # the most an episode can return
    longest: int  # steps an episode may last


ENVS = {
    "cartpole": Environment("cartpole", "CartPole: balance a pole on a cart", ("push left", "push right"), 4, 10,
                            195.0, 500.0, 500),
    "gridworld": Environment("gridworld", "Gridworld: find the goal, keep off the pits", ("up", "right", "down", "left"),
                             GRID_SIDE * GRID_SIDE, 1, 1.0, 1.0, GRID_EPISODE_STEPS),
}
assert tuple(ENVS) == ENVIRONMENTS


@dataclass(frozen=True)
class Algorithm:
    """How a name a user types (`--algo`) sets up the network and the agent."""

    title: str
    kind: str  # the ModelSpec kind
    changes: dict  # AgentSettings changed from their defaults
    optimizer: str
    lr: float
    batch_size: int


ALGORITHMS = {
    "dqn": Algorithm("DQN", "dqn", {"double": False}, "adam", 1e-3, 64),
    "double-dqn": Algorithm("Double DQN", "dqn", {"double": True}, "adam", 1e-3, 64),
    # a table learns online: each step's own transition, bootstrapped from the table as it is, at rate alpha; the
    # gridworld is deterministic, so alpha 1 takes each new estimate whole (at 0.5 one seed in three was still short
    # of the optimal policy after 20,000 steps: bench/reinforcement.py)
    "q-learning": Algorithm("Q-learning", "q-table", {"replay": 1, "warmup": 0, "train_every": 1, "target_every": 1,
                                                      "double": False, "td_clamp": 0.0}, "sgd", 1.0, 1),
}
# each environment's own first settings: CartPole a Double DQN over 50,000 steps; the gridworld a table over 20,000
# steps, discounted at 0.9 and acting at random half the time throughout (at a tenth, cells its first paths skip
# kept a worse action for thousands of steps: bench/reinforcement.py)
ENV_DEFAULTS = {
    "cartpole": {"algo": "double-dqn", "steps": 50_000, "hidden": (256, 256), "agent": {}},
    "gridworld": {"algo": "q-learning", "steps": 20_000, "hidden": (),
                  "agent": {"gamma": 0.9, "epsilon_start": 0.5, "epsilon_end": 0.5, "explore": 0.0}},
}


def is_env(dataset: str) -> bool:
    return dataset in ENVS


def env_of(dataset: str) -> Environment:
    try:
        return ENVS[dataset]
    except KeyError:
        raise DLCoreError(f"Unknown environment '{dataset}'; choose one of: {', '.join(ENVS)}.") from None


def algorithm_of(config: TrainConfig) -> str:
    """The name a config's algorithm goes by: q-learning for a table, else dqn or double-dqn."""
    if config.model.kind == "q-table":
        return "q-learning"
    return "double-dqn" if config.agent.double else "dqn"


def make_config(env: str = "cartpole", algo: str | None = None, steps: int | None = None, seed: int = 0,
                hidden: tuple[int, ...] | None = None, **changes) -> TrainConfig:
    """A run's config from the names a user types: the environment's first settings, the algorithm's, then any
    AgentSettings or TrainConfig field given (None: unchanged). Steps must be whole epochs of EPOCH_STEPS."""
    defaults = ENV_DEFAULTS[env_of(env).name]
    algo = algo or defaults["algo"]
    if algo not in ALGORITHMS:
        raise DLCoreError(f"Unknown algorithm '{algo}'; choose one of: {', '.join(ALGORITHMS)}.")
    chosen = ALGORITHMS[algo]
    steps = defaults["steps"] if steps is None else steps
    if not isinstance(steps, int) or steps < EPOCH_STEPS or steps % EPOCH_STEPS:
        raise DLCoreError(f"Steps must be a whole number of thousands, from {EPOCH_STEPS:,}; {steps!r} is not.")
    hidden = defaults["hidden"] if hidden is None else tuple(hidden)
    if chosen.kind == "dqn" and not hidden:
        hidden = ENV_DEFAULTS["cartpole"]["hidden"]
    spec = ModelSpec(chosen.kind, dense=tuple(DenseLayer(units) for units in hidden) if chosen.kind == "dqn" else ())
    changes = {name: value for name, value in changes.items() if value is not None}
    agent_fields = set(AgentSettings.__dataclass_fields__)
    agent = AgentSettings().with_changes(**{**defaults["agent"], **chosen.changes,
                                            **{k: v for k, v in changes.items() if k in agent_fields}})
    rest = {k: v for k, v in changes.items() if k not in agent_fields}
    base = TrainConfig(dataset=env, model=spec, agent=agent, optimizer=chosen.optimizer, lr=chosen.lr,
                       batch_size=chosen.batch_size, momentum=0.0, loss="mse", epochs=steps // EPOCH_STEPS, seed=seed)
    return base.with_changes(**rest)


def check_network(spec: ModelSpec, dataset: str) -> None:
    """An agent acts in an environment and nothing else does; a table needs states it can count (the gridworld's)."""
    if is_env(dataset) != spec.agent:
        if spec.agent:
            raise DLCoreError(f"A {spec.summary()} acts in an environment: choose {' or '.join(ENVS)}.")
        raise DLCoreError(f"{env_of(dataset).title.split(':')[0]} is an environment: train a DQN or a Q-table in it "
                          "(the Reinforcement learning page).")
    if spec.conv:
        raise DLCoreError(f"A {spec.summary()} reads an environment's state, not a picture: remove its conv blocks.")
    if spec.kind == "q-table" and (spec.dense or dataset != "gridworld"):
        raise DLCoreError("A Q-table is one value per cell and action of the gridworld: it has no layers, and no other "
                          "environment's states can be counted; use a DQN in CartPole.")
    if any(layer.batch_norm or layer.dropout for layer in spec.dense):
        raise DLCoreError("A DQN's layers take no batch norm or dropout here: the same state must get the same values "
                          "when it acts and when it learns.")


def validate(config: TrainConfig) -> None:
    """What an environment's run needs beyond its network: a batch the replay buffer can give."""
    if is_env(config.dataset) and config.batch_size > config.agent.replay:
        raise DLCoreError(f"A batch of {config.batch_size} cannot be drawn from a replay buffer of "
                          f"{config.agent.replay}; make the batch smaller or the buffer larger.")


# ---- environments ------------------------------------------------------------------------------------------

def _cell(row: int, col: int) -> int:
    return row * GRID_SIDE + col


FREE_CELLS = tuple(_cell(r, c) for r in range(GRID_SIDE) for c in range(GRID_SIDE) if GRID[r][c] in ".S")
START_CELL = next(_cell(r, c) for r in range(GRID_SIDE) for c in range(GRID_SIDE) if GRID[r][c] == "S")


class GridWorld:
    """The gridworld as gymnasium's API has it (reset, step): a state is a cell's number; a move into a wall or off
    the grid stays put. Training episodes start in a random free cell, so every cell is visited (exploring starts);
    greedy ones start at S."""

    def __init__(self, explore_starts: bool = True):
        self.explore_starts = explore_starts
        self.rng = np.random.default_rng(0)
        self.cell, self.steps = START_CELL, 0

    def reset(self, seed: int | None = None):
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self.cell = int(self.rng.choice(FREE_CELLS)) if self.explore_starts else START_CELL
        self.steps = 0
        return np.array([self.cell], dtype=np.float32), {}

    def step(self, action: int):
        self.cell, reward, terminal = grid_move(self.cell, int(action))
        self.steps += 1
        return (np.array([self.cell], dtype=np.float32), reward, terminal, self.steps >= GRID_EPISODE_STEPS and not terminal,
                {})


def grid_move(cell: int, action: int) -> tuple[int, float, bool]:
    """Where a move leads, what it pays and whether the episode ends there."""
    row, col = divmod(cell, GRID_SIDE)
    down, right = MOVES[action]
    new_row, new_col = row + down, col + right
    if not (0 <= new_row < GRID_SIDE and 0 <= new_col < GRID_SIDE) or GRID[new_row][new_col] == "#":
        new_row, new_col = row, col
    mark = GRID[new_row][new_col]
    return _cell(new_row, new_col), REWARDS.get(mark, 0.0), mark in REWARDS


ONE_HOT = np.eye(GRID_SIDE * GRID_SIDE, dtype=np.float32)  # a cell's features: its row of this


def make_env(name: str, explore_starts: bool = True):
    if name == "gridworld":
        return GridWorld(explore_starts)
    import gymnasium  # here: only an agent's run needs it, not every page that imports dlcore

    return gymnasium.make("CartPole-v1")


def features(name: str, observations: np.ndarray) -> torch.Tensor:
    """What a network reads of states (N, obs): CartPole's four numbers as they are; a gridworld cell one-hot."""
    if name == "gridworld":
        return torch.from_numpy(ONE_HOT[np.asarray(observations, dtype=np.int64)[:, 0]])
    return torch.from_numpy(np.asarray(observations, dtype=np.float32))


def observation_size(name: str) -> int:
    return 1 if name == "gridworld" else ENVS[name].features


def value_iteration(gamma: float, tolerance: float = 1e-10) -> np.ndarray:
    """The gridworld's true action values Q*(cell, action) by dynamic programming (Bellman's optimality equation
    until nothing changes), (cells, 4); walls and the goal and pits have none (zeros). A few milliseconds."""
    q = np.zeros((GRID_SIDE * GRID_SIDE, len(MOVES)))
    while True:
        values = q.max(axis=1)
        new = np.zeros_like(q)
        for cell in FREE_CELLS:
            for action in range(len(MOVES)):
                after, reward, terminal = grid_move(cell, action)
                new[cell, action] = reward + (0.0 if terminal else gamma * values[after])
        if np.abs(new - q).max() < tolerance:
            return new
        q = new


def optimal_share(q_values: np.ndarray, gamma: float) -> float:
    """The share of the gridworld's free cells whose greedy action (the highest of q_values) is an optimal one."""
    best = value_iteration(gamma)
    chosen = np.asarray(q_values).argmax(axis=1)
    right = [best[cell, chosen[cell]] >= best[cell].max() - 1e-9 for cell in FREE_CELLS]
    return float(np.mean(right))


# ---- the agent -----------------------------------------------------------------------------------------------

class Replay:
    """The last `size` transitions in a ring of NumPy arrays, drawn from uniformly."""

    def __init__(self, size: int, observation: int):
        self.states = np.zeros((size, observation), np.float32)
        self.next_states = np.zeros((size, observation), np.float32)
        self.actions = np.zeros(size, np.int64)
        self.rewards = np.zeros(size, np.float32)
        self.ends = np.zeros(size, np.float32)  # 1 where the episode ended in a terminal state: nothing to bootstrap
        self.size, self.count, self.next = size, 0, 0

    def __len__(self) -> int:
        return self.count

    def add(self, state, action: int, reward: float, next_state, terminal: bool) -> None:
        i = self.next
        self.states[i], self.actions[i], self.rewards[i] = state, action, reward
        self.next_states[i], self.ends[i] = next_state, float(terminal)
        self.next = (i + 1) % self.size
        self.count = min(self.count + 1, self.size)

    def sample(self, batch: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        chosen = rng.integers(0, self.count, batch) if self.count > 1 else np.zeros(batch, np.int64)
        return (self.states[chosen], self.actions[chosen], self.rewards[chosen], self.next_states[chosen],
                self.ends[chosen])


def td_target(target: nn.Module, online: nn.Module, rewards: torch.Tensor, next_states: torch.Tensor,
              ends: torch.Tensor, gamma: float, double: bool) -> torch.Tensor:
    """r + gamma * Q_target(s', a') where the episode went on; a' is the target network's own best (DQN), or the
    online network's best (Double DQN, which does not let one network both choose and value an overrated action)."""
    with torch.no_grad():
        next_values = target(next_states)
        if double:
            best = online(next_states).argmax(dim=1, keepdim=True)
            following = next_values.gather(1, best).squeeze(1)
        else:
            following = next_values.max(dim=1).values
        return rewards + gamma * (1.0 - ends) * following


def td_loss(chosen_values: torch.Tensor, targets: torch.Tensor, clamp: float) -> torch.Tensor:
    """Half the squared TD error, whose gradient is the error itself (a table's update); past `clamp` the Huber
    loss, whose gradient stays at the clamp (REINFORCEjs's TD-error clamp)."""
    if clamp > 0:
        return functional.huber_loss(chosen_values, targets, delta=clamp)
    return 0.5 * functional.mse_loss(chosen_values, targets)


class Agent:
    """A Q-network acting in its environment with epsilon-greedy actions, and what it has done: the lane's
    objective. It keeps every episode's return, the latest and the best training episode's states (what a page
    animates), and the action values of its state now."""

    def __init__(self, network: nn.Module, config: TrainConfig, total_steps: int):
        self.network, self.config, self.settings = network, config, config.agent
        self.env_name = config.dataset
        self.env = make_env(self.env_name)
        self.rng = np.random.default_rng(config.seed)
        self.replay = Replay(self.settings.replay, observation_size(self.env_name))
        self.target = copy.deepcopy(network).requires_grad_(False)  # every step's copy is the network itself
        self.explore_steps = self.settings.explore * total_steps
        self.batch = config.batch_size
        self.steps = 0
        self.returns: list[float] = []  # every finished episode's, in order
        self.latest: dict | None = None  # the latest finished training episode (episode_record)
        self.best: dict | None = None  # the training episode with the highest return so far
        self.state, _ = self.env.reset(seed=config.seed)
        self.values_now = [0.0] * len(ENVS[self.env_name].actions)
        self._episode: list[tuple] = []  # (state, action, values) of the episode under way
        self._return = 0.0
        self._counted = 0  # episodes an epoch's row has counted (epoch_returns)

    @property
    def epsilon(self) -> float:
        start, end = self.settings.epsilon_start, self.settings.epsilon_end
        if self.steps >= self.explore_steps:
            return end
        return start + (end - start) * self.steps / self.explore_steps

    def _device(self) -> torch.device:
        return next(self.network.parameters()).device

    def values(self) -> list[float]:
        """What the network says each action is worth in the state now."""
        with torch.no_grad():
            return self.network(features(self.env_name, self.state[None]).to(self._device()))[0].float().cpu().tolist()

    def act(self) -> int:
        """Epsilon-greedy: a random action with probability epsilon, else the one the network values most."""
        self.values_now = self.values()
        if self.rng.random() < self.epsilon:
            return int(self.rng.integers(len(self.values_now)))
        top = max(self.values_now)
        best = [action for action, value in enumerate(self.values_now) if value == top]
        return best[0] if len(best) == 1 else best[int(self.rng.integers(len(best)))]  # ties at random: a fresh
        # table's are all zero, and always taking the first sent it up into the wall

    def experience(self) -> tuple[int, float, bool]:
        """One environment step, kept in the replay buffer and the episode: (action, reward, terminal)."""
        action = self.act()
        self._episode.append((self.state, action, self.values_now))
        after, reward, terminal, truncated, _ = self.env.step(action)
        self.replay.add(self.state, action, float(reward), after, bool(terminal))
        self._return += float(reward)
        self.state = after
        if terminal or truncated:
            self._end_episode()
        self.steps += 1
        return action, float(reward), bool(terminal)

    def objective(self, _batch) -> torch.Tensor | None:
        """One environment step, then the TD loss of a replayed batch, or None while the agent only acts."""
        self.experience()
        settings = self.settings
        if settings.target_every > 1 and self.steps % settings.target_every == 0:
            self.target.load_state_dict(self.network.state_dict())
        if self.steps < settings.warmup or len(self.replay) < min(self.batch, settings.replay) or \
                self.steps % settings.train_every:
            return None
        states, actions, rewards, next_states, ends = self.replay.sample(self.batch, self.rng)
        device = self._device()
        values = self.network(features(self.env_name, states).to(device))
        chosen = values.gather(1, torch.from_numpy(actions).to(device)[:, None]).squeeze(1)
        targets = td_target(self.target if settings.target_every > 1 else self.network, self.network, torch.from_numpy(rewards).to(device),
                            features(self.env_name, next_states).to(device), torch.from_numpy(ends).to(device),
                            settings.gamma, settings.double)
        return td_loss(chosen.float(), targets.float(), settings.td_clamp)

    def epoch_returns(self) -> dict[str, float]:
        """The mean return of the training episodes that ended since the last call, and the best so far (NaN for
        none), as an epoch's row keeps them."""
        new = self.returns[self._counted:]
        self._counted = len(self.returns)
        return {"train_return": float(np.mean(new)) if new else math.nan,
                "best_return": self.best["return"] if self.best else math.nan}

    def _end_episode(self) -> None:
        record = episode_record(len(self.returns) + 1, self._return, self._episode)
        self.returns.append(self._return)
        self.latest = record
        if self.best is None or record["return"] > self.best["return"]:
            self.best = record
        self._episode, self._return = [], 0.0
        self.state, _ = self.env.reset()

    def live_view(self) -> dict:
        """What the page shows while it learns, as plain data: returns, epsilon, the latest and best episodes, the
        values of the state now, and a gridworld's whole table."""
        view = {"env": self.env_name, "steps": self.steps, "epsilon": self.epsilon,
                "returns": self.returns[-SHOWN_RETURNS:], "first": max(1, len(self.returns) - SHOWN_RETURNS + 1),
                "latest": self.latest, "best": self.best, "values_now": self.values_now}
        if self.env_name == "gridworld":
            view["table"] = table(self.network)
        return view


class TableAgent(Agent):
    """A Q-table on the CPU that learns online (a replay of one, a batch of one, no warmup, its own values as the
    target): the loop steps it in NumPy with its optimizer's rules (loop.Lane.rules, as the 2-D playground's networks),
    since torch's fixed cost was nine tenths of such a step. Its gradient is the TD error at the cell and action
    taken, clamped as td_loss clamps it; SGD at rate alpha then makes Q-learning's update exactly."""

    def __init__(self, network: nn.Module, config: TrainConfig, total_steps: int):
        super().__init__(network, config, total_steps)
        self.weights = network[0].weight.detach().numpy()  # (actions, cells), the network's own memory

    @staticmethod
    def fits(network: nn.Module, config: TrainConfig) -> bool:
        settings = config.agent
        return (config.model.kind == "q-table" and next(network.parameters()).device.type == "cpu"
                and (settings.replay, config.batch_size, settings.warmup, settings.train_every, settings.target_every)
                == (1, 1, 0, 1, 1) and not settings.double)

    @property
    def flat(self) -> torch.Tensor:
        return self.network[0].weight.view(-1)

    def values(self) -> list[float]:
        return self.weights[:, int(self.state[0])].tolist()

    def numpy_gradient(self, _x, _y, _loss) -> tuple[float, float, np.ndarray]:
        """One step's (loss, correct: none to count, gradient of the flat table)."""
        cell = int(self.state[0])
        action, reward, terminal = self.experience()
        after = int(self.replay.next_states[(self.replay.next - 1) % self.replay.size, 0])  # where it went (the
        # state now is a new episode's first, after an ending)
        target = reward + (0.0 if terminal else self.settings.gamma * float(self.weights[:, after].max()))
        error = float(self.weights[action, cell]) - target
        clamp = self.settings.td_clamp
        grad = np.zeros(self.weights.size, self.weights.dtype)
        grad[action * self.weights.shape[1] + cell] = max(-clamp, min(clamp, error)) if clamp > 0 else error
        loss = 0.5 * error ** 2 if clamp <= 0 or abs(error) <= clamp else clamp * (abs(error) - 0.5 * clamp)
        return loss, math.nan, grad


def episode_record(number: int, total: float, steps: list[tuple]) -> dict:
    """An episode as a page replays it: each step's state, action and action values, rounded for the wire."""
    return {"number": number, "return": round(total, 4),
            "states": [[round(float(v), 4) for v in state] for state, _, _ in steps],
            "actions": [action for _, action, _ in steps],
            "values": [[round(v, 4) for v in values] for _, _, values in steps]}


def value_layer(inputs: int, actions: int, table: bool) -> nn.Linear:
    """A network's last layer: each action's value. A table's starts at zero (nothing is known yet) and has no bias,
    so that each cell's values are its own."""
    layer = nn.Linear(inputs, actions, bias=not table)
    if table:
        nn.init.zeros_(layer.weight)
    return layer


def table(network: nn.Module) -> list[list[float]]:
    """A gridworld network's value of every action in every cell, (cells, 4)."""
    cells = np.arange(GRID_SIDE * GRID_SIDE, dtype=np.float32)[:, None]
    with torch.no_grad():
        return network(features("gridworld", cells).to(next(network.parameters()).device)).float().cpu().tolist()


def prepare(model: nn.Module, config: TrainConfig, total_steps: int) -> Agent | None:
    """An environment's lane acts through an Agent around its network; None for any other run."""
    if not is_env(config.dataset):
        return None
    return (TableAgent if TableAgent.fits(model, config) else Agent)(model, config, total_steps)


def greedy_returns(network: nn.Module, env_name: str, episodes: int, on_batch=None) -> list[float]:
    """The undiscounted return of `episodes` greedy episodes (no exploring), stepped side by side so that the
    network reads all their states at once; each starts from seed EVAL_SEED + its number (at S, in the gridworld)."""
    was_training = network.training
    network.eval()
    envs = [make_env(env_name, explore_starts=False) for _ in range(episodes)]
    states = [env.reset(seed=EVAL_SEED + number)[0] for number, env in enumerate(envs)]
    totals, going = [0.0] * episodes, list(range(episodes))
    device = next(network.parameters()).device
    try:
        while going:
            with torch.no_grad():
                values = network(features(env_name, np.stack([states[i] for i in going])).to(device))
            for i, action in zip(list(going), values.argmax(dim=1).tolist()):
                states[i], reward, terminal, truncated, _ = envs[i].step(action)
                totals[i] += float(reward)
                if terminal or truncated:
                    going.remove(i)
                    if on_batch is not None:
                        on_batch(episodes - len(going), episodes)
    finally:
        network.train(was_training)
    return totals


def evaluate(network: nn.Module, config: TrainConfig, episodes: int, on_batch=None) -> Evaluation:
    """An agent's score, as the loop keeps every model's: its greedy episodes' returns; in the gridworld its
    accuracy is the share of cells where its greedy action is an optimal one (optimal_share)."""
    returns = greedy_returns(network, config.dataset, episodes, on_batch)
    accuracy = optimal_share(np.array(table(network)), config.agent.gamma) if config.dataset == "gridworld" \
        else math.nan
    return Evaluation(accuracy=accuracy, loss=math.nan, per_class=[], confusion=[], misclassified=[],
                      returns=[round(value, 4) for value in returns])


def mean_return(evaluation: Evaluation | None) -> float | None:
    if evaluation is None or not evaluation.returns:
        return None
    return float(np.mean(evaluation.returns))


# ---- the environments as datasets ------------------------------------------------------------------------------

@dataclass(frozen=True)
class EnvData:
    """An environment as the loop takes a dataset: EPOCH_STEPS training "samples" (the steps, one at a time) and
    its greedy episodes as test ones; numbers that only count, since the agent makes its own data."""

    info: data.DatasetInfo

    @property
    def name(self) -> str:
        return self.info.name

    def tensors(self) -> tuple[torch.Tensor, ...]:
        episodes = ENVS[self.name].eval_episodes
        return (torch.arange(EPOCH_STEPS), torch.zeros(EPOCH_STEPS, dtype=torch.long), torch.arange(episodes),
                torch.zeros(episodes, dtype=torch.long))


def info(dataset: str) -> data.DatasetInfo:
    env = env_of(dataset)
    return data.DatasetInfo(env.name, env.title, env.actions, 0.0, 1.0)


def load(dataset: str) -> EnvData:
    return EnvData(info(dataset))


def sizes(dataset: str) -> tuple[int, int]:
    """(train, test) "examples" for estimates (data.sizes): an epoch's steps, and its greedy episodes' steps at most."""
    env = env_of(dataset)
    return EPOCH_STEPS, env.eval_episodes * env.longest


def step_cost(config: TrainConfig) -> float:
    """What one of a run's training samples costs, in training samples of its network (a forward and a backward
    pass): an agent's step is a forward pass to act and, every train_every steps, an update on a replayed batch."""
    if not is_env(config.dataset):
        return 1.0
    return (1 + 3 * config.batch_size / config.agent.train_every) / 3


def metric(evaluation: Evaluation) -> dict[str, float]:
    """An agent's headline numbers: the mean return of its greedy episodes, and in the gridworld its optimal share."""
    found = {"eval_return": mean_return(evaluation)}
    if not math.isnan(evaluation.accuracy):
        found["optimal_share"] = evaluation.accuracy
    return found


# ---- what the page shows of finished runs ---------------------------------------------------------------------

def epsilon_curve(config: TrainConfig) -> list[tuple[float, float]]:
    """(step, epsilon) at the corners of its schedule: a straight fall over the exploring steps, then flat."""
    total = config.epochs * EPOCH_STEPS
    turn = config.agent.explore * total
    return [(0.0, config.agent.epsilon_start), (turn, config.agent.epsilon_end), (float(total), config.agent.epsilon_end)]


def greedy_episode(checkpoint: str, number: int = 0) -> tuple[dict, TrainConfig]:
    """One greedy episode of a finished agent, as a page replays it, from the start greedy scoring uses
    (EVAL_SEED + number; the gridworld's S), with its config."""
    from .predict import shared  # the server's one loaded copy of a run's weights; not needed while training

    loaded = shared(checkpoint)
    network, config = loaded.model, loaded.config
    env = make_env(config.dataset, explore_starts=False)
    state, _ = env.reset(seed=EVAL_SEED + number)
    steps, total, ended = [], 0.0, False
    while not ended:
        with torch.no_grad():
            values = network(features(config.dataset, state[None]))[0].tolist()
        action = int(np.argmax(values))
        steps.append((state, action, values))
        state, reward, terminal, truncated, _ = env.step(action)
        total += float(reward)
        ended = terminal or truncated
    steps.append((state, action, values))  # where it ended: the pole down, the goal or a pit reached
    return episode_record(number + 1, total, steps), config


def learned_table(checkpoint: str) -> list[list[float]]:
    """A finished gridworld agent's value of every action in every cell."""
    from .predict import shared

    return table(shared(checkpoint).model)


def setting_name(config: TrainConfig) -> str:
    """A config's settings without its seed, in a line: its algorithm, network and steps, then each setting that
    differs from its environment's own (make_config): what the class board groups runs by."""
    algo = algorithm_of(config)
    hidden = tuple(layer.units for layer in config.model.dense)
    usual = make_config(config.dataset, algo, config.epochs * EPOCH_STEPS, hidden=hidden)
    network = f" {'-'.join(map(str, hidden))}" if hidden else ""
    parts = [f"{ALGORITHMS[algo].title}{network}, {config.epochs * EPOCH_STEPS // 1000}k steps"]
    for name in ("lr", "batch_size", "optimizer"):
        if getattr(config, name) != getattr(usual, name):
            parts.append(f"{name.replace('_size', '')} {getattr(config, name):g}" if name != "optimizer"
                         else config.optimizer)
    for name in AgentSettings.__dataclass_fields__:
        value = getattr(config.agent, name)
        if value != getattr(usual.agent, name):
            parts.append(f"{name.replace('_', ' ')} {value:g}" if not isinstance(value, bool)
                         else f"{'' if value else 'no '}{name}")
    return ", ".join(parts)


@dataclass(frozen=True)
class SettingResults:
    """Every finished run of one environment with the same settings but its seed: the class board's row."""

    env: str
    setting: str
    seeds: tuple[tuple[int, float, int], ...]  # (seed, greedy return, run id), best first
    students: tuple[str, ...]

    @property
    def median(self) -> float:
        return float(np.median([value for _, value, _ in self.seeds]))

    @property
    def spread(self) -> tuple[float, float]:
        values = [value for _, value, _ in self.seeds]
        return min(values), max(values)


def class_board(runs) -> list[SettingResults]:
    """The finished agents' runs grouped by setting (all but the seed), the best median first; a seed trained
    twice counts once (its latest run)."""
    groups: dict[tuple[str, str], dict] = {}
    for run in sorted(runs, key=lambda run: run.id):
        result = mean_return(run.results) if run.config.model.agent else None
        if result is None or run.status not in ("done", "stopped"):
            continue
        group = groups.setdefault((run.config.dataset, setting_name(run.config)), {"seeds": {}, "students": set()})
        group["seeds"][run.config.seed] = (run.config.seed, result, run.id)
        if run.student:
            group["students"].add(run.student)
    rows = [SettingResults(env, setting, tuple(sorted(found["seeds"].values(), key=lambda seed: -seed[1])),
                           tuple(sorted(found["students"]))) for (env, setting), found in groups.items()]
    return sorted(rows, key=lambda row: (row.env, -row.median))
