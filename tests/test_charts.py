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


def test_the_test_curve_says_which_test_images_it_is_on_and_old_runs_still_draw():
    """Epochs are scored on a fixed 1,000 test images now; runs recorded before then have no count and were
    scored on the whole split."""
    row = {"epoch": 1, "train_accuracy": 0.8, "test_accuracy": 0.85, "train_loss": 0.5, "test_loss": 0.4}
    new = charts.epoch_figure([("", [{**row, "test_images": 1000}])], "accuracy")
    assert [trace.name for trace in new.data] == ["train", "test (1,000 images)"]
    old = charts.history_figures({"steps": [1.0, 0.5], "epochs": [row], "steps_per_epoch": 2})[1]
    assert [trace.name for trace in old.data] == ["train", "test (whole split)"] and old.data[1].y == (0.85,)
    assert charts.epoch_figure([("#3", [])], "loss").data[1].name == "#3 test"


def test_the_ten_class_colours_are_far_apart_for_every_eye():
    """Issue 23.4: in the embedding, Plotly's default colours gave 4 and 9 light orange and yellow (CIEDE2000 18).
    Any two class colours differ by 20 or more, and by 6 or more as red-, green- and blue-blind eyes see them."""
    import itertools

    from coloraide import Color

    colours = [Color(value) for value in charts.CLASS_COLOURS]
    assert len(colours) == 10
    for eye, least in ((None, 20), ("protan", 6), ("deutan", 6), ("tritan", 6)):
        seen = [colour.clone().filter(eye) if eye else colour for colour in colours]
        for (i, a), (j, b) in itertools.combinations(enumerate(seen), 2):
            assert a.delta_e(b, method="2000") >= least, (eye, i, j)
    assert colours[4].delta_e(colours[9], method="2000") > 40
