"""ui.charts: plain figures of runs, cheap enough for a browser to redraw several times a second."""

from ui import charts


def test_a_long_runs_loss_chart_sends_a_smooth_line_and_a_few_hundred_faint_dots():
    """Issue 14.3: each dot is an SVG element redrawn on every live poll; 1000 of them slowed the live chart."""
    losses = [1.0 / (step + 1) for step in range(5000)]
    dots, line = charts.loss_figure([("smoothed", losses, 79)]).data
    assert dots.mode == "markers" and len(dots.x) <= charts.MAX_MARKERS < len(line.x) == charts.MAX_POINTS
    assert dots.x[0] == line.x[0] == 1 and dots.x[-1] == line.x[-1] == 5000
    per_epoch = charts.loss_figure([("smoothed", losses, 100)], per_epoch=True).data[0]
    assert per_epoch.x[-1] == 50.0
