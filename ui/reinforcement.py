"""The Reinforcement learning page's pictures: an episode replayed (the cart and pole, or the agent on the grid with
its values and policy) by a small script in the browser, so a watchable pace costs the server nothing; and the
figures of returns, epsilon and loss, the grid's values against dynamic programming's, and the seeds' spread. Pure
builders, as charts.py's."""

from __future__ import annotations

import json
import math

import numpy as np

from ui.charts import bare_figure, chart_figure, margin, scaled, smoothed

# playback: CartPole's physics step is 0.02 s, so 50 frames a second is real time; a grid's 8 steps a second can be
# followed by eye, and a 100-step episode (an early one, exploring) still ends within 13 s
FRAMES_PER_SECOND = {"cartpole": 50.0, "gridworld": 8.0}
SPEEDS = {"slow": 0.25, "real": 1.0, "fast": 4.0, "very-fast": 16.0}
SPEED_TITLES = {"slow": "¼×", "real": "1×", "fast": "4×", "very-fast": "16×"}
ARROWS = ("↑", "→", "↓", "←")
PAUSE_SECONDS = 1.0  # the last frame stays this long before the next episode


def playback_seconds(record: dict | None, env: str, speed: str) -> float:
    """How long an episode takes to replay at a speed, its last frame's pause included."""
    if not record:
        return 0.0
    return len(record["states"]) / (FRAMES_PER_SECOND[env] * SPEEDS[speed]) + PAUSE_SECONDS


def episode_html(record: dict, env: str, speed: str, actions: tuple[str, ...], title: str, grid: dict | None = None,
                 presenter: bool = False) -> str:
    """A page of its own (st.iframe) that replays an episode frame by frame at `speed`, then holds its last
    frame: the cart and pole, or the agent's path on the grid over the values and policy of grid["table"]; below,
    the action values at each frame as bars, the chosen action's outlined."""
    data = {"env": env, "states": record["states"], "actions": record["actions"], "values": record["values"],
            "names": list(actions), "fps": FRAMES_PER_SECOND[env] * SPEEDS[speed], "title": title,
            "grid": grid, "font": 20 if presenter else 14}
    return _PLAYER.replace("__DATA__", json.dumps(data, allow_nan=False).replace("</", "<\\/"))


_PLAYER = """<!doctype html><html><body style="margin:0;font-family:'Source Sans Pro',sans-serif;color:#31333f">
<canvas id="scene"></canvas><div id="caption" style="padding:2px 4px"></div>
<script>
const D = __DATA__;
const canvas = document.getElementById("scene"), ctx = canvas.getContext("2d");
const W = document.body.clientWidth || 560;  // as tall as the width allows, within the frame, above the caption
const H = Math.round(Math.min(W * (D.env === "gridworld" ? 1.12 : 0.62), (window.innerHeight || 9999) - 1.8 * D.font - 8));
canvas.width = W; canvas.height = H;
const F = D.font, barsTop = H - 3.2 * F;
let frame = 0;
function values(v, i) { return v.length ? v[Math.min(i, v.length - 1)] : []; }
function drawBars(i) {
  const v = values(D.values, i), n = D.names.length, width = W / n;
  const top = Math.max(1e-6, ...v.map(Math.abs));
  ctx.font = (F - 2) + "px sans-serif"; ctx.textAlign = "center";
  for (let a = 0; a < n; a++) {
    const x = a * width + width * 0.15, w = width * 0.7, h = (2.0 * F) * Math.abs(v[a] || 0) / top;
    ctx.fillStyle = (v[a] || 0) >= 0 ? "#1f77b4" : "#d62728";
    ctx.fillRect(x, barsTop + 2.2 * F - h, w, h);
    if (D.actions[i] === a) { ctx.strokeStyle = "#000"; ctx.lineWidth = 2; ctx.strokeRect(x, barsTop + 0.2 * F, w, 2.0 * F); }
    ctx.fillStyle = "#31333f";
    ctx.fillText(D.names[a] + ": " + (v[a] === undefined ? "?" : v[a].toFixed(2)), x + w / 2, barsTop + 3.1 * F);
  }
}
function drawCart(i) {
  const s = D.states[Math.min(i, D.states.length - 1)], ground = barsTop - 1.2 * F;
  const scale = W / 5.6, cx = W / 2 + s[0] * scale, pole = 1.0 * scale * 0.9;
  ctx.strokeStyle = "#888"; ctx.lineWidth = 2;
  ctx.beginPath(); ctx.moveTo(W / 2 - 2.4 * scale, ground); ctx.lineTo(W / 2 + 2.4 * scale, ground); ctx.stroke();
  ctx.fillStyle = "#d62728";
  for (const edge of [-2.4, 2.4]) ctx.fillRect(W / 2 + edge * scale - 2, ground - 12, 4, 12);
  const cw = 0.5 * scale, ch = 0.3 * scale;
  ctx.fillStyle = "#31333f"; ctx.fillRect(cx - cw / 2, ground - ch, cw, ch);
  const px = cx + Math.sin(s[2]) * pole, py = ground - ch - Math.cos(s[2]) * pole;
  ctx.strokeStyle = Math.abs(s[2]) > 0.2095 ? "#d62728" : "#e69f00"; ctx.lineWidth = Math.max(6, scale * 0.08);
  ctx.lineCap = "round"; ctx.beginPath(); ctx.moveTo(cx, ground - ch); ctx.lineTo(px, py); ctx.stroke();
  ctx.fillStyle = "#555"; ctx.beginPath(); ctx.arc(cx, ground - ch, 4, 0, 2 * Math.PI); ctx.fill();
}
function colour(v) {
  const t = Math.max(-1, Math.min(1, v)), k = Math.round(255 * (1 - Math.abs(t)));
  return t >= 0 ? `rgb(${k},${Math.round(200 + 55 * (1 - t))},${k})` : `rgb(255,${k},${k})`;
}
function drawGrid(i) {
  const g = D.grid, side = g.side, size = Math.min(W, barsTop - 4) / side, left = (W - size * side) / 2;
  ctx.textAlign = "center"; ctx.textBaseline = "middle";
  for (let r = 0; r < side; r++) for (let c = 0; c < side; c++) {
    const mark = g.rows[r][c], cell = r * side + c, x = left + c * size, y = r * size;
    const q = g.table[cell], best = Math.max(...q);
    ctx.fillStyle = mark === "#" ? "#555" : mark === "G" ? "#2ca02c" : mark === "X" ? "#d62728" : colour(best);
    ctx.fillRect(x, y, size, size); ctx.strokeStyle = "#ccc"; ctx.lineWidth = 1; ctx.strokeRect(x, y, size, size);
    ctx.fillStyle = "#fff"; ctx.font = "bold " + Math.round(size * 0.4) + "px sans-serif";
    if (mark === "G") ctx.fillText("+1", x + size / 2, y + size / 2);
    else if (mark === "X") ctx.fillText("-1", x + size / 2, y + size / 2);
    else if (mark !== "#") {
      ctx.fillStyle = "#31333f"; ctx.font = Math.round(size * 0.36) + "px sans-serif";
      const chosen = q.indexOf(best), known = q.some(v => v !== 0);
      ctx.fillText(known ? g.arrows[chosen] : "·", x + size / 2, y + size * 0.38);
      ctx.font = Math.round(size * 0.24) + "px sans-serif";
      ctx.fillText(best.toFixed(2), x + size / 2, y + size * 0.78);
    }
  }
  const cell = D.states[Math.min(i, D.states.length - 1)][0], r = Math.floor(cell / side), c = cell % side;
  ctx.fillStyle = "#1f77b4"; ctx.beginPath();
  ctx.arc(left + (c + 0.5) * size, (r + 0.5) * size, size * 0.3, 0, 2 * Math.PI); ctx.fill();
  ctx.textBaseline = "alphabetic";
}
function draw() {
  ctx.clearRect(0, 0, W, H);
  (D.env === "gridworld" ? drawGrid : drawCart)(frame);
  drawBars(frame);
  document.getElementById("caption").style.fontSize = F + "px";
  document.getElementById("caption").textContent =
    `${D.title} · step ${Math.min(frame + 1, D.states.length)} of ${D.states.length}`;
}
let last = performance.now();
function tick(now) {
  if (frame < D.states.length - 1 && now - last >= 1000 / D.fps) {
    frame += Math.max(1, Math.floor((now - last) * D.fps / 1000)); frame = Math.min(frame, D.states.length - 1);
    last = now; draw();
  }
  requestAnimationFrame(tick);
}
draw(); requestAnimationFrame(tick);
</script></body></html>"""


def grid_picture(table: list[list[float]], rows: tuple[str, ...]) -> dict:
    """What the replay needs to draw the grid: its cells' marks, each cell's action values, the arrows."""
    return {"side": len(rows), "rows": list(rows), "table": table, "arrows": list(ARROWS)}


def returns_figure(returns: list[float], first: int, solved: float, presenter: bool = False) -> object:
    """Each training episode's return (thin) and its running mean (thick), with the return that counts as solved."""
    episodes = list(range(first, first + len(returns)))
    traces = [dict(type="scatter", x=episodes, y=returns, mode="lines", name="each episode",
                   line=dict(color="rgba(31,119,180,0.35)", width=1), hovertemplate="episode %{x}: %{y:g}<extra></extra>"),
              dict(type="scatter", x=episodes, y=smoothed(returns).tolist() if returns else [], mode="lines",
                   name="smoothed", line=dict(color="#1f77b4", width=3),
                   hovertemplate="episode %{x}: mean %{y:.1f}<extra></extra>")]
    layout = dict(shapes=[dict(type="line", xref="paper", x0=0, x1=1, y0=solved, y1=solved,
                               line=dict(color="#2ca02c", dash="dash", width=1.5))])
    figure = chart_figure(traces, "Return of each training episode", "episode", "return", height=260, legend_at="top left",
                     empty="" if returns else "The first episode's return appears when it ends.", presenter=presenter)
    figure.update_layout(**layout)
    return figure


def progress_figure(history: list[dict], epsilon: list[tuple[float, float]], steps_per_epoch: int, solved: float,
                    best: float, presenter: bool = False) -> object:
    """Against thousands of steps: the greedy episodes' mean return after each epoch, the training episodes' mean,
    and epsilon (right axis); both axes' ticks at the same heights, the return's up to the most an episode pays
    (`best`)."""
    epochs = [row["epoch"] * steps_per_epoch / 1000 for row in history]
    greedy = [_finite(row.get("test_return")) for row in history]
    training = [_finite(row.get("train_return")) for row in history]
    traces = [dict(type="scatter", x=epochs, y=greedy, mode="lines+markers", name="greedy (no exploring)",
                   line=dict(color="#2ca02c", width=3), hovertemplate="%{x:g}k steps: %{y:.1f}<extra></extra>"),
              dict(type="scatter", x=epochs, y=training, mode="lines", name="training episodes",
                   line=dict(color="#1f77b4", dash="dot"), hovertemplate="%{x:g}k steps: %{y:.1f}<extra></extra>"),
              dict(type="scatter", x=[x / 1000 for x, _ in epsilon], y=[e for _, e in epsilon], mode="lines",
                   name="epsilon", yaxis="y2", line=dict(color="#ff7f0e", width=1.5),
                   hovertemplate="%{x:g}k steps: epsilon %{y:.2f}<extra></extra>")]
    figure = chart_figure(traces, "Mean return after each thousand steps", "thousand steps", "return", height=260,
                     legend_at="bottom", presenter=presenter)
    top = max([best, *(value for value in greedy + training if value is not None)]) * 1.05
    low = min([0.0, *(value for value in greedy + training if value is not None)]) * 1.05
    figure.update_layout(yaxis=dict(range=[low, top],
                                    tickmode="array", tickvals=[top / 1.05 * share for share in (0, 0.25, 0.5, 0.75, 1)],
                                    tickformat=".3~g"),
                         yaxis2=dict(overlaying="y", side="right", range=[0, 1.05], title="epsilon", showgrid=False,
                                     tickmode="array", tickvals=[0, 0.25, 0.5, 0.75, 1], tickformat=".2f"),
                         shapes=[dict(type="line", xref="paper", x0=0, x1=1, y0=solved, y1=solved,
                                      line=dict(color="#2ca02c", dash="dash", width=1.5))])
    return figure


def loss_figure(losses: list[float], presenter: bool = False) -> object:
    """The TD loss of each update, smoothed, on a log scale: it need not fall as the agent gets better, since better
    play reaches states whose values it has yet to learn."""
    shown = [value for value in losses if math.isfinite(value) and value > 0]
    step = max(1, len(shown) // 2000)
    y = smoothed(shown)[::step].tolist() if shown else []
    traces = [dict(type="scatter", x=list(range(1, len(shown) + 1, step)), y=y, mode="lines", name="TD loss",
                   line=dict(color="#9467bd"), hovertemplate="update %{x}: %{y:.3g}<extra></extra>")]
    return chart_figure(traces, "TD loss of each update (smoothed)", "update", "loss", height=260, presenter=presenter,
                   empty="" if shown else "Updates start after the warmup steps.", yaxis=dict(type="log"))


def values_figure(table: list[list[float]], rows: tuple[str, ...], title: str, presenter: bool = False) -> object:
    """A grid's value of each cell (its best action's) as colours, its greedy action as an arrow."""
    side = len(rows)
    values = np.array(table).max(axis=1).reshape(side, side)
    shown = np.where(np.array([[mark in ".S" for mark in row] for row in rows]), values, np.nan)
    text = [[("+1" if mark == "G" else "-1" if mark == "X" else "" if mark == "#" else
              ARROWS[int(np.argmax(table[r * side + c]))] if any(table[r * side + c]) else "·")
             for c, mark in enumerate(row)] for r, row in enumerate(rows)]
    walls = [[1 if mark == "#" else None for mark in row] for row in rows]
    ends = [[1 if mark == "G" else -1 if mark == "X" else None for mark in row] for row in rows]
    traces = [dict(type="heatmap", z=shown.tolist(), colorscale="RdYlGn", zmin=-1, zmax=1, showscale=False,
                   hovertemplate="value %{z:.3f}<extra></extra>"),
              dict(type="heatmap", z=walls, colorscale=[[0, "#555"], [1, "#555"]], showscale=False, hoverinfo="skip"),
              dict(type="heatmap", z=ends, colorscale=[[0, "#d62728"], [1, "#2ca02c"]], zmin=-1, zmax=1, showscale=False,
                   hoverinfo="skip"),
              dict(type="scatter", x=[c for r in range(side) for c in range(side)],
                   y=[r for r in range(side) for _ in range(side)], text=[t for row in text for t in row], mode="text",
                   textfont=dict(size=18 if presenter else 14), hoverinfo="skip")]
    figure = bare_figure(traces, dict(height=330, margin=margin(top=36), title=dict(text=title), showlegend=False,
                                      xaxis=dict(visible=False, constrain="domain"),
                                      yaxis=dict(visible=False, autorange="reversed", scaleanchor="x")))
    return scaled(figure, presenter)


def seeds_figure(groups: list[tuple[str, list[tuple[int, float]]]], solved: float, presenter: bool = False) -> object:
    """Each setting's runs as dots (one per seed) with their median as a bar: one lucky seed proves little."""
    traces = []
    for label, points in groups:
        returns = [value for _, value in points]
        traces.append(dict(type="bar", x=[label], y=[float(np.median(returns))], name="median", marker_color="#c6dbef",
                           showlegend=False, hovertemplate=f"{label}: median %{{y:.1f}} of {len(returns)}<extra></extra>"))
        traces.append(dict(type="scatter", x=[label] * len(points), y=returns, mode="markers", showlegend=False,
                           marker=dict(size=10, color="#1f77b4"), text=[f"seed {seed}" for seed, _ in points],
                           hovertemplate="%{text}: %{y:.1f}<extra></extra>"))
    figure = chart_figure(traces, "Greedy return of each seed, and the median", "", "return", height=280,
                     presenter=presenter, empty="" if groups else "No finished runs yet.")
    figure.update_layout(shapes=[dict(type="line", xref="paper", x0=0, x1=1, y0=solved, y1=solved,
                                      line=dict(color="#2ca02c", dash="dash", width=1.5))])
    return figure


def _finite(value) -> float | None:
    return value if value is not None and math.isfinite(value) else None
