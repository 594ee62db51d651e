"""ui.charts: plain figures of runs, cheap enough for a browser to redraw several times a second."""

import math

import pytest

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


def tick_labels(axis) -> list[str]:
    """The labels Plotly draws on a linear axis with a fixed step: every multiple of dtick inside the range."""
    low, high = axis.range
    first = math.ceil((low - axis.tick0) / axis.dtick - 1e-9)
    values = [axis.tick0 + k * axis.dtick for k in range(first, first + 1000) if axis.tick0 + k * axis.dtick <= high + 1e-12]
    decimals = int(axis.tickformat.strip(".%"))
    return [f"{value:.{decimals}%}" for value in values]


@pytest.mark.parametrize("accuracies", [[0.835, 0.838, 0.842], [0.91], [1.0, 1.0], [0.1, 0.97], [0.8373, 0.8376]])
def test_accuracy_charts_tick_whole_epochs_with_labels_that_never_repeat(accuracies):
    """Issue 23.5: the accuracy axis read 84 %, 84 %, 83 % and the epoch axis showed epochs 0.5 and 1.5."""
    rows = [{"epoch": epoch, "train_accuracy": accuracy - 0.001, "test_accuracy": accuracy, "test_images": 1000}
            for epoch, accuracy in enumerate(accuracies, 1)]
    layout = charts.epoch_figure([("", rows)], "accuracy").layout
    labels = tick_labels(layout.yaxis)
    assert 2 <= len(labels) <= 2 * charts.MAX_TICKS and len(set(labels)) == len(labels)
    assert all(label.rstrip("%").replace(".", "").isdigit() and float(label[:-1]) <= 100 for label in labels)
    assert layout.yaxis.range[0] <= min(accuracies) - 0.001 and max(accuracies) <= layout.yaxis.range[1]
    assert layout.xaxis.tickmode == "linear" and layout.xaxis.dtick >= 1 and layout.xaxis.dtick == int(layout.xaxis.dtick)
    assert layout.xaxis.range == (0.5, len(accuracies) + 0.5)  # no epoch 0 or 2 beside a single epoch


def test_a_hundred_epochs_get_a_tick_every_twenty():
    assert charts.epoch_axis(100)["dtick"] == 20 and charts.epoch_axis(3)["dtick"] == 1


def test_a_diverged_curve_ends_in_a_cross_at_its_step_and_leaves_the_others_readable():
    """Issue 23.5: a race lane that diverged in a few steps was a 1-pixel spike, and its huge losses squashed the
    other lanes' curves flat."""
    calm = [2.3 - 0.01 * step for step in range(200)]
    wild = [2.3, 3.0, 40.0, 9e5, float("inf")]
    figure = charts.loss_figure([("Adam lr 0.001", calm, 100), ("SGD lr 5", wild, 100)])
    assert figure.layout.yaxis.range == (0, charts.LOSS_HEADROOM * 2.3)
    (cross,) = [trace for trace in figure.data if trace.mode == "markers+text"]
    assert cross.text == ("SGD lr 5 diverged at step 5",) and cross.x == (5,) and cross.y == (figure.layout.yaxis.range[1],)
    assert cross.marker.symbol == "x-thin" and cross.marker.color == figure.data[1].line.color
    alone = charts.loss_figure([("smoothed", [2.3, 2.2, 2.4, float("nan")], 4)])
    assert alone.data[-1].text == ("diverged at step 4",) and alone.data[-1].y[0] < 2.4
    assert (alone.layout.legend.xanchor, alone.layout.legend.yanchor) == ("left", "bottom")  # the cross is top right
    assert not [trace for trace in charts.loss_figure([("smoothed", calm, 100)]).data if trace.mode == "markers+text"]


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


def test_an_accuracy_axis_with_nothing_scored_yet_spans_0_to_100_percent():
    """A race's accuracy chart before its first epoch read -100 % to 400 % (Plotly's empty axis)."""
    assert charts.percent_axis([]) == {"tickformat": ".0%", "range": [0, 1]}
    assert charts.percent_axis([None, float("nan")])["range"] == [0, 1]


def test_a_misread_cell_shows_one_picture_under_its_count_and_the_others_their_counts_alone():
    confusion = [[5, 2, 0], [1, 6, 0], [0, 0, 4]]
    figure = charts.confusion_figure(confusion, ("star", "heart", "bar"), thumbnails={(0, 1): "data:image/png;base64,AA",
                                                                                      (1, 0): "data:image/png;base64,BB"})
    assert {(image.x, round(image.y, 2)) for image in figure.layout.images} == {(1, 0.22), (0, 1.22)}  # below centre
    cells = figure.data[0].text
    assert cells[0][1] == "" and cells[1][0] == "" and cells[0][0] == "5" and cells[2][2] == "4"
    counts = next(trace for trace in figure.data if trace.type == "scatter" and trace.mode == "text")
    assert list(counts.text) == ["2", "1"] and list(counts.x) == ["heart", "star"]
    assert not charts.confusion_figure(confusion, ("star", "heart", "bar")).layout.images
