"""Reinforcement learning: an agent learns what each action is worth from what its actions bring. A Q-table in a
gridworld first (its values and policy on the grid, beside dynamic programming's), then a DQN balancing CartPole:
the cart and pole replayed from its latest episodes as it learns, its returns, epsilon and loss, the same settings on
three seeds, and the class's settings with their median returns."""

from __future__ import annotations

import time

import streamlit as st

from dlcore import DLCoreError, TrainConfig, jobs, race, reinforcement, sharing
from dlcore.config import AgentSettings, bounds
from ui import charts, literal
from ui.classroom import bring_into_view, is_teacher, keep_setup_in_address, presenting, refusal, session_owner
from ui.lanes import stop_ui
from ui.reinforcement import (SPEED_TITLES, episode_html, grid_picture, loss_figure, playback_seconds,
                              progress_figure, returns_figure, seeds_figure, values_figure)
from ui.runs import live_progress_ui, run_view_ui, submit_ui

ENVS = {"cartpole": "CartPole", "gridworld": "Gridworld"}
ALGOS = {"cartpole": ("double-dqn", "dqn"), "gridworld": ("q-learning", "double-dqn", "dqn")}
STEPS = (5_000, 10_000, 20_000, 30_000, 50_000, 100_000)
NETWORKS = ((64, 64), (128, 128), (256, 256))
SEEDS = 3  # "seed-honest": the same settings three times
# a table trains 20,000 steps in a second or two: slower, a class can follow it learn (REINFORCEjs's speed buttons)
TRAINING_SPEEDS = {0: "Full", 500: "500/s", 100: "100/s", 20: "20/s"}  # environment steps a second; 0: no limit
WATCH = {"latest": "Latest", "best": "Best so far"}
FIELDS = tuple(AgentSettings.__dataclass_fields__)
LINK_KEYS = ("env", "algo", "steps", "hidden", "lr", *FIELDS)
PLAYER_HEIGHT = {"cartpole": 300, "gridworld": 470}  # pixels; the picture fills what its column's width allows
HELP = {"gamma": "How much a reward a step later is worth: 0.99 looks about 100 steps ahead.",
        "epsilon_start": "The share of random actions at the first step.",
        "epsilon_end": "The share of random actions once exploring has fallen off.",
        "explore": "The share of the run's steps over which epsilon falls, in a straight line.",
        "replay": "Transitions kept to learn from; the oldest go first.",
        "warmup": "Steps of acting at random before the first update.",
        "train_every": "Environment steps per update.",
        "target_every": "Steps between copies of the network into its target network, which gives the targets.",
        "td_clamp": "TD errors past this count linearly (the Huber loss); 0 never clamps.",
        "lr": "Alpha for a table: how much of each new estimate it takes."}

manager = jobs.job_manager()
seeds_manager = race.race_manager()


def show(config: TrainConfig) -> None:
    """Put a config's settings in the widgets."""
    st.session_state.update({f"rl_{name}": getattr(config.agent, name) for name in FIELDS})
    st.session_state.update(rl_lr=config.lr, rl_steps=config.epochs * reinforcement.EPOCH_STEPS)
    if config.model.dense:
        st.session_state.rl_hidden = tuple(layer.units for layer in config.model.dense)


def defaults(env: str, algo: str, steps: int | None = None) -> None:
    """Put the environment's and algorithm's own settings in the widgets."""
    show(reinforcement.make_config(env, algo, steps))


def env_chosen() -> None:
    env = st.session_state.rl_env or "cartpole"
    st.session_state.rl_algo = ALGOS[env][0]
    defaults(env, ALGOS[env][0])


def algo_chosen() -> None:
    defaults(st.session_state.rl_env or "cartpole", st.session_state.rl_algo, st.session_state.rl_steps)


def link_ui() -> None:
    """The address's setup, once per visit: env, algo, steps and every AgentSettings field by its schema name; what
    cannot be used is named in one sentence."""
    if st.session_state.get("rl_linked"):
        return
    st.session_state.rl_linked = True
    query = {key: st.query_params[key] for key in LINK_KEYS if key in st.query_params}
    env = query.get("env", "cartpole")
    algo = query.get("algo")
    try:
        steps = int(query["steps"]) if "steps" in query else None
        if steps is not None and steps not in STEPS:
            raise DLCoreError(f"The link's steps cannot be {query['steps'][:20]}: choose one of "
                              f"{', '.join(f'{n:,}' for n in STEPS)}.")
        if env not in ENVS or (algo is not None and algo not in ALGOS[env]):
            raise DLCoreError(f"The link's env or algo cannot be used: choose env {' or '.join(ENVS)} and an algo "
                              f"it has ({', '.join(ALGOS.get(env, ALGOS['cartpole']))}).")
        hidden = tuple(int(units) for units in query["hidden"].split(",")) if "hidden" in query else None
        if hidden is not None and hidden not in NETWORKS:
            raise DLCoreError(f"The link's hidden cannot be {query['hidden'][:20]}: choose one of "
                              f"{', '.join(','.join(map(str, units)) for units in NETWORKS)}.")
        agent = sharing.fields_from_link(AgentSettings, query, FIELDS)
        config = reinforcement.make_config(env, algo, steps, hidden=hidden,
                                           lr=float(query["lr"]) if "lr" in query else None,
                                           **{name: getattr(agent, name) for name in FIELDS if name in query})
    except (DLCoreError, ValueError) as exc:
        st.session_state.rl_link_note = f"Part of the link could not be used, so the usual settings are shown: " \
                                        f"{sharing.reason(exc)}"
        env, algo, config = "cartpole", None, reinforcement.make_config("cartpole")
    st.session_state.update(rl_env=env, rl_algo=reinforcement.algorithm_of(config))
    show(config)


def link_of(config: TrainConfig) -> dict[str, str]:
    """The address of a setup: its environment, algorithm, steps and network, and each setting its algorithm's own
    first settings do not have, as link_ui reads them."""
    algo = reinforcement.algorithm_of(config)
    steps = config.epochs * reinforcement.EPOCH_STEPS
    usual = reinforcement.make_config(config.dataset, algo, steps)
    query = {"env": config.dataset, "algo": algo, "steps": str(steps)}
    if config.model.dense:
        query["hidden"] = ",".join(str(layer.units) for layer in config.model.dense)
    if config.lr != usual.lr:
        query["lr"] = f"{config.lr:g}"
    for name in FIELDS:
        value = getattr(config.agent, name)
        if value != getattr(usual.agent, name):
            query[name] = str(int(value)) if isinstance(value, bool) else f"{value:g}"
    return query


def settings_ui() -> tuple[TrainConfig | None, str]:
    """The environment, algorithm, steps and network in a row with Start and Start three seeds; how the agent acts
    and learns below, folded. Returns the config and which button was pressed ("", "one" or "seeds")."""
    link_ui()
    if note := st.session_state.pop("rl_link_note", None):
        st.warning(literal(note), icon=":material/link_off:")
    if presenting():  # larger type: the row in two, so that nothing is cut short on a projector
        env_column, algo_column, steps_column, net_column = st.columns([2.6, 2.2, 1.6, 1.6], vertical_alignment="bottom")
        start_column, seeds_column, _ = st.columns([1.3, 1.7, 5], vertical_alignment="bottom")
    else:
        env_column, algo_column, steps_column, net_column, start_column, seeds_column = st.columns(
            [1.9, 1.6, 1.3, 1.2, 1, 1.3], vertical_alignment="bottom")
    env = env_column.segmented_control("Environment", list(ENVS), format_func=ENVS.get, key="rl_env",
                                       on_change=env_chosen) or "cartpole"
    algo = algo_column.selectbox("Algorithm", ALGOS[env], key="rl_algo", on_change=algo_chosen,
                                 format_func=lambda name: reinforcement.ALGORITHMS[name].title,
                                 help="Q-learning: a table of values. DQN: a network gives the values. Double DQN: the "
                                      "network picks the next action and the target network values it.")
    if st.session_state.get("rl_steps") not in STEPS:
        st.session_state.rl_steps = reinforcement.make_config(env, algo).epochs * reinforcement.EPOCH_STEPS
    steps = steps_column.select_slider("Steps", STEPS, key="rl_steps", format_func=lambda n: f"{n // 1000}k")
    hidden, rate = None, 0
    if reinforcement.ALGORITHMS[algo].kind == "q-table":
        rate = net_column.selectbox("Training speed", list(TRAINING_SPEEDS), format_func=TRAINING_SPEEDS.get,
                                    key="rl_rate", help="Environment steps a second: a table learns 20,000 in a "
                                                        "second or two at full speed, too fast to follow.")
    else:
        hidden = net_column.selectbox("Network", NETWORKS, index=len(NETWORKS) - 1, key="rl_hidden",
                                      format_func=lambda units: "-".join(map(str, units)),
                                      help="Hidden layers of ReLU units between the state and the action values.")
    one = start_column.button("Start", type="primary", icon=":material/play_arrow:", width="stretch")
    seeds = seeds_column.button(f"{SEEDS} seeds", icon=":material/casino:", width="stretch",
                                help=f"The same settings on seeds 0 to {SEEDS - 1}, side by side: one lucky run "
                                     "proves little.")
    with st.expander("How it acts and learns", expanded=False):
        columns = st.columns(6)
        for number, name in enumerate((*FIELDS, "lr")):
            column = columns[number % 6]
            if name == "double":
                continue
            schema = TrainConfig if name == "lr" else AgentSettings
            low, high = bounds(schema, name)
            whole = isinstance(getattr(AgentSettings(), name, 0.0), int) and name != "lr"
            column.number_input(name.replace("_", " ").capitalize() if name != "lr" else "Learning rate",
                                int(low) if whole else float(low), int(high) if whole else float(high),
                                key=f"rl_{name}", step=1 if whole else None, format=None if whole else "%g",
                                help=HELP.get(name))
    try:
        changes = {name: st.session_state[f"rl_{name}"] for name in FIELDS if name != "double"}
        config = reinforcement.make_config(env, algo, int(steps), seed=0, hidden=hidden, lr=st.session_state.rl_lr,
                                           **changes)
    except DLCoreError as exc:
        st.error(literal(refusal(exc)))
        return None, ""
    keep_setup_in_address(link_of(config))
    st.session_state.rl_pace = int(steps) / rate if rate else 0.0
    return config, "seeds" if seeds else "one" if one else ""


def agent_runs() -> dict:
    """The server's agents' runs, newest first."""
    return {run.id: run for run in manager.store.list(with_history=False) if run.config.model.agent}


def shown_episode(run_id: int, view: dict, which: str, speed: str) -> dict:
    """The episode the page replays: kept until it has played through at its speed, then the newest one, so the
    replay is not restarted every second by a new episode."""
    env = view["env"]
    kept = st.session_state.get("rl_shown")
    newest = view.get(which)
    fresh = kept is None or kept["key"] != (run_id, which)
    if newest and (fresh or (time.monotonic() - kept["since"] >= playback_seconds(kept["record"], env, speed)
                             and newest["number"] != kept["record"]["number"])):
        kept = {"key": (run_id, which), "record": newest, "since": time.monotonic(), "table": view.get("table")}
        st.session_state.rl_shown = kept
    return kept if kept and kept["key"] == (run_id, which) else None


def player_ui(record: dict, env: str, speed: str, title: str, table=None) -> None:
    """An episode replayed in the browser: the cart and pole, or the grid under `table`'s values and policy."""
    info = reinforcement.env_of(env)
    grid = grid_picture(table, reinforcement.GRID) if env == "gridworld" else None
    st.iframe(episode_html(record, env, speed, info.actions, title, grid, presenting()),
              height=PLAYER_HEIGHT[env] + (90 if presenting() else 0))


def watch_controls_ui(live: bool) -> tuple[str, str]:
    """Which episode to replay while it learns (the latest or the best so far), and how fast."""
    left, right = (st.container(), st.container()) if presenting() else st.columns([1, 1.3])
    which = left.segmented_control("Watch", list(WATCH), format_func=WATCH.get, key="rl_which", default="latest") \
        if live else "latest"
    speed = right.segmented_control("Speed", list(SPEED_TITLES), format_func=SPEED_TITLES.get, key="rl_speed",
                                    default="real", help="How fast the episode replays: 1× is real time (CartPole "
                                                         "steps 50 times a second).") or "real"
    return which or "latest", speed


def live_ui(run_id: int, status: str) -> None:
    """A learning agent: its latest (or best) episode replayed, its returns, its greedy returns and epsilon, its loss."""
    progress = live_progress_ui(manager, run_id, status, "steps")
    trainer = manager.trainer(run_id)
    if progress is None or trainer is None:
        return
    config = trainer.config
    env = reinforcement.env_of(config.dataset)
    reading = trainer.strip_guesses()
    view = reading[1] if reading else None
    left, right = st.columns([1, 1.25], gap="medium")
    with left:
        which, speed = watch_controls_ui(True)
        shown = shown_episode(run_id, view, which, speed) if view else None
        if shown is None:
            st.caption("Its first episode appears here when it ends.")
        else:
            record = shown["record"]
            values = ", its values as it ended" if config.dataset == "gridworld" else ""
            player_ui(record, config.dataset, speed,
                      f"Episode {record['number']}, return {record['return']:g}{values}", shown["table"])
    with right:
        returns = view["returns"] if view else []
        right.plotly_chart(returns_figure(returns, view["first"] if view else 1, env.solved, presenting()),
                           key="rl_live_returns", width="stretch", config=charts.CONFIG)
        if view:
            st.caption(f"Epsilon now **{view['epsilon']:.2f}**: it acts at random {view['epsilon']:.0%} of the time. "
                       f"Dashed: {env.solved:g}, solved.")
    history_ui(progress.history, config, progress.step_losses, progress.steps_per_epoch, "rl_live")


def history_ui(history: list[dict], config, losses: list[float], steps_per_epoch: int, key: str) -> None:
    env = reinforcement.env_of(config.dataset)
    first, second = st.columns(2)
    first.plotly_chart(progress_figure(history, reinforcement.epsilon_curve(config), steps_per_epoch, env.solved,
                                       env.best, presenting()), key=f"{key}_progress", width="stretch", config=charts.CONFIG)
    second.plotly_chart(loss_figure(losses, presenting()), key=f"{key}_loss", width="stretch", config=charts.CONFIG)


def finished_ui(run, runs: dict) -> None:
    """A finished agent: a greedy episode replayed, its curves, the grid's values beside dynamic programming's, the
    seeds of its settings, and the class board."""
    env = reinforcement.env_of(run.config.dataset)
    result = reinforcement.metric(run.results) if run.results else {}
    if result.get("eval_return") is None:
        st.info(f"Run #{run.id} has no greedy score.")
        return
    optimal = f", the best action in **{result['optimal_share']:.0%}** of cells" if "optimal_share" in result else ""
    verdict = "solved" if result["eval_return"] >= env.solved else f"not solved (solved is {env.solved:g})"
    st.markdown(f"**Run #{run.id}: {reinforcement.setting_name(run.config)}, seed {run.config.seed}** · greedy return "
                f"**{result['eval_return']:.1f}** over {len(run.results.returns)} episode"
                f"{'s' if len(run.results.returns) > 1 else ''}, {verdict}{optimal}.")
    left, right = st.columns([1, 1.25], gap="medium")
    with left:
        _, speed = watch_controls_ui(False)
        number = st.session_state.get("rl_episode", 0)
        try:
            record, _ = reinforcement.greedy_episode(run.checkpoint, number)
            table = reinforcement.learned_table(run.checkpoint) if run.config.dataset == "gridworld" else None
        except DLCoreError as exc:
            st.error(literal(exc))
            return
        player_ui(record, run.config.dataset, speed, f"Greedy episode, return {record['return']:g}", table)
        if run.config.dataset == "cartpole" and st.button("Another start", icon=":material/refresh:"):
            st.session_state.rl_episode = number + 1
            st.rerun()
    board = reinforcement.class_board(runs.values())  # the seeds of this run's setting, and the class's settings
    full = manager.store.get(run.id)
    history, losses = full.history.get("epochs", []), full.history.get("steps", [])
    if run.config.dataset == "cartpole":
        with right:
            seeds_ui(run, board)
        history_ui(history, run.config, losses, reinforcement.EPOCH_STEPS, "rl_done")
    else:
        right.plotly_chart(progress_figure(history, reinforcement.epsilon_curve(run.config), reinforcement.EPOCH_STEPS,
                                           env.solved, env.best, presenting()),
                           key="rl_done_progress", width="stretch", config=charts.CONFIG)
        learned, best = st.columns(2)
        learned.plotly_chart(values_figure(table, reinforcement.GRID, "What it learned", presenting()),
                             key="rl_learned", width="stretch", config=charts.CONFIG)
        truth = reinforcement.value_iteration(run.config.agent.gamma).tolist()
        best.plotly_chart(values_figure(truth, reinforcement.GRID, "Dynamic programming", presenting()),
                          key="rl_truth", width="stretch", config=charts.CONFIG)
        st.caption("Colour: the value of each cell's best action; arrow: the action it takes. Dynamic programming "
                   "knows the rules and sweeps every cell until nothing changes; Q-learning only tried moves.")
        seeds_ui(run, board)
    board_ui(board)


def seeds_ui(run, board: list) -> None:
    """This run's settings on every seed trained so far, with their median."""
    mine = next((row for row in board
                 if row.setting == reinforcement.setting_name(run.config) and row.env == run.config.dataset), None)
    if mine is None:
        return
    env = reinforcement.env_of(run.config.dataset)
    st.plotly_chart(seeds_figure([(mine.setting, [(seed, value) for seed, value, _ in mine.seeds])], env.solved,
                                 presenting()), key=f"rl_seeds_{run.id}", width="stretch", config=charts.CONFIG)
    low, high = mine.spread
    more = "" if len(mine.seeds) >= SEEDS else f" Press {SEEDS} seeds to see if it holds."
    st.caption(f"{len(mine.seeds)} seed{'s' if len(mine.seeds) > 1 else ''}: median **{mine.median:.1f}**, from "
               f"{low:.1f} to {high:.1f}.{more}")


def board_ui(rows: list) -> None:
    """Every setting the class has tried, by environment, with the median greedy return over its seeds."""
    if not rows:
        return
    st.subheader("The class's settings")
    st.dataframe([{"Environment": ENVS[row.env], "Settings": row.setting, "Seeds": len(row.seeds),
                   "Median return": round(row.median, 1), "Lowest": round(row.spread[0], 1),
                   "Highest": round(row.spread[1], 1), "By": ", ".join(row.students)} for row in rows],
                 hide_index=True, width="stretch")
    st.caption("Each row is a setting trained on this server, over every seed it was trained on. A median over "
               f"{SEEDS} or more seeds says more than any one run.")


def seeds_live_ui(race_id: int) -> None:
    """The seeds training side by side: each one's greedy return after every thousand steps."""
    progress = seeds_manager.progress(race_id)
    if progress is None:
        return
    if progress.finished:
        st.session_state.pop("rl_seeds", None)
        st.rerun()
    if progress.status == "queued":
        st.info(progress.reading(), icon=":material/hourglass_top:")
        return
    st.progress(progress.fraction, f"{SEEDS} seeds side by side · step {progress.step:,} of "
                                   f"{progress.epochs * progress.steps_per_epoch:,}"
                + (f" · about {jobs.duration(progress.eta)} left" if progress.eta else ""))
    env = reinforcement.env_of(progress.lanes[0].config.dataset)
    groups = [(lane.name, [(lane.config.seed, row["test_return"]) for row in lane.history[-1:]])
              for lane in progress.lanes if lane.history]
    st.plotly_chart(seeds_figure(groups, env.solved, presenting()), key="rl_seeds_live", width="stretch",
                    config=charts.CONFIG)
    st.caption("Each seed's greedy return after its latest thousand steps; the runs appear on the run board when done.")


st.title("Reinforcement learning")
if not presenting():
    st.caption("No labels here: an agent acts, its environment pays it, and it learns what each action is worth. "
               "Start with a Q-table in the gridworld, then a DQN balancing CartPole.")
config, pressed = settings_ui()
if pressed == "one":
    submit_ui(manager, config, "rl", st.session_state.rl_pace)
    bring_into_view("rl_run")  # what it started is what the screen shows: its picker, atop its live view
elif pressed == "seeds":
    try:
        st.session_state.rl_seeds = seeds_manager.submit(
            [config.with_changes(seed=seed) for seed in range(SEEDS)], st.session_state.get("student_name", ""),
            owner=session_owner(), teacher=is_teacher())
    except DLCoreError as exc:
        st.error(literal(refusal(exc)))
if (seeds_race := st.session_state.get("rl_seeds")) is not None:
    if pressed == "seeds":
        bring_into_view("rl_seeds_view")
    with st.container(key="rl_seeds_view"):
        if (seeds := seeds_manager.progress(seeds_race)) is not None and not seeds.finished:
            stop_ui(seeds_race, "Stop the seeds", "training")  # outside the fragment, so a click lands
        st.fragment(run_every=1.0)(seeds_live_ui)(seeds_race)
run_view_ui(manager, agent_runs, "rl", "No agent has trained on this server yet: press Start.", live_ui, finished_ui,
            reinforcement.LIVE_SECONDS)
