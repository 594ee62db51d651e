"""Reading one picture with a saved model: probabilities, the naive comparison, saliency, and the drawn-digits study."""

import numpy as np
import pytest
import torch

from dlcore import data, models, predict, preprocess, runs, training
from dlcore.config import DLCoreError, TrainConfig
from tests.test_preprocess import as_rgba_canvas, seven


@pytest.fixture
def checkpoint(tmp_path):
    """The starter network with its initial (untrained) weights: enough to test shapes and plumbing quickly."""
    torch.manual_seed(0)
    model = models.build(predict.STARTER_CONFIG.model).eval()
    return runs.save_checkpoint(tmp_path / "starter.safetensors", model, predict.STARTER_CONFIG)


def test_probabilities_for_a_canvas_drawing(checkpoint):
    classifier = predict.load(checkpoint)
    steps, prediction = predict.classify(classifier, as_rgba_canvas(seven()))
    assert len(prediction.probabilities) == 10 and sum(prediction.probabilities) == pytest.approx(1, abs=1e-5)
    assert prediction.prediction == int(np.argmax(prediction.probabilities))
    assert prediction.confidence == max(prediction.probabilities) and prediction.label == str(prediction.prediction)
    assert steps.normalized.shape == (28, 28)


def test_read_gives_the_naive_comparison_too(checkpoint):
    classifier = predict.load(checkpoint)
    reading = predict.read(classifier, seven(top=150, left=150, scale=4))
    assert reading.naive_input.shape == (28, 28)
    assert not np.allclose(reading.naive_input, reading.steps.centred)  # two different inputs
    assert sum(reading.naive_prediction.probabilities) == pytest.approx(1, abs=1e-5)


def test_blank_canvas_is_not_guessed(checkpoint):
    with pytest.raises(preprocess.EmptyImageError, match="draw a digit"):
        predict.read(predict.load(checkpoint), np.zeros((280, 280, 4), dtype=np.uint8))


def test_saliency_is_a_28x28_map_and_leaves_the_shared_model_untouched(checkpoint):
    classifier = predict.load(checkpoint)
    steps, prediction = predict.classify(classifier, seven())
    heat = predict.saliency(classifier, steps.normalized, prediction.prediction)
    assert heat.shape == (28, 28) and heat.min() >= 0 and heat.max() == pytest.approx(1)
    assert all(p.grad is None for p in classifier.model.parameters())


def test_load_by_run_id_and_refusals(checkpoint):
    store = runs.RunStore()
    run_id = store.create(predict.STARTER_CONFIG)
    store.update(run_id, status="done", checkpoint=str(checkpoint))
    assert predict.load(f"#{run_id}").path == str(checkpoint)
    with pytest.raises(DLCoreError, match="There is no run #99"):
        predict.load("99")
    with pytest.raises(DLCoreError, match="There is no checkpoint"):
        predict.load(str(checkpoint.parent / "missing.safetensors"))


def test_finished_runs_lists_usable_weights_digit_models_first(checkpoint):
    store = runs.RunStore()
    digits = store.create(predict.STARTER_CONFIG)
    fashion = store.create(TrainConfig(dataset="fashion-mnist"))
    no_weights = store.create(predict.STARTER_CONFIG)
    store.update(digits, status="done", checkpoint=str(checkpoint))
    store.update(fashion, status="done", checkpoint=str(checkpoint))
    store.update(no_weights, status="failed")
    assert [run.id for run in predict.finished_runs()] == [digits, fashion]


def test_predict_files_names_the_blank_file(checkpoint, tmp_path):
    from PIL import Image

    blank = tmp_path / "blank.png"
    Image.new("L", (50, 50), 255).save(blank)
    with pytest.raises(DLCoreError, match="blank.png shows no digit"):
        predict.predict_files(predict.load(checkpoint), [str(blank)])


@pytest.mark.slow
def test_drawn_digits_are_read_almost_as_well_as_mnist_ones(tmp_path):
    """The issue's bar on a small set: canvas-style digits at >= 0.97 of the original accuracy, naive far below."""
    trainer = training.Trainer(predict.STARTER_CONFIG)
    trainer.run()
    path = runs.save_checkpoint(tmp_path / "starter.safetensors", trainer.model, predict.STARTER_CONFIG)
    test = data.load("mnist-sample")  # the real MNIST test split, or 1,000 held-out real digits without it
    study = predict.drawn_digits(predict.load(path), test.test_images[:600], test.test_labels[:600], seed=1)
    assert study.original >= 0.9
    assert study.ratio >= 0.97, study
    assert study.naive < study.mnist_style - 0.4, study


def test_a_dot_or_an_unsure_answer_is_doubted_and_a_clear_digit_is_not():
    classes = data.DIGITS
    canvas = np.zeros((280, 280, 4), dtype=np.uint8)
    canvas[130:148, 130:148] = 255  # one dab of an 18-pixel brush
    steps = preprocess.mnist_style(canvas, 0.1307, 0.3081)
    sure = predict.Prediction([0.01] * 9 + [0.91], 9, 0.91, "9")
    assert predict.doubt(steps, sure, classes).startswith("This looks like a dot, not a digit: the ink spans 6%")
    digit = preprocess.mnist_style(as_rgba_canvas(seven()), 0.1307, 0.3081)
    assert predict.doubt(digit, sure, classes) == ""
    torn = predict.Prediction([0.0] * 3 + [0.35] + [0.0] * 4 + [0.30, 0.35 - 1e-9], 3, 0.35, "3")
    assert predict.doubt(digit, torn, classes) == ("The model is unsure: 3 at 35%, then 9 at 35%. Draw it more "
                                                  "clearly, or it may not be a digit it knows.")
    assert "not a picture" in predict.doubt(steps, sure, data.info("fashion-mnist").classes)


@pytest.mark.gpu
def test_a_model_trained_on_the_gpu_reads_a_drawing_on_the_cpu(tiny_data_dir):
    """The CUDA path end to end: a run trained on the GPU is recorded, and its checkpoint reads a canvas."""
    from dlcore import jobs

    manager = jobs.JobManager(runs.RunStore())
    config = predict.STARTER_CONFIG.with_changes(dataset="mnist", epochs=1, device="cuda")
    run_id = manager.submit(config)
    assert manager.wait(run_id, timeout=300).status == "done"
    run = manager.store.get(run_id)
    assert run.device == torch.cuda.get_device_name(0) and run.checkpoint
    classifier = predict.load(str(run_id))
    assert {parameter.device.type for parameter in classifier.model.parameters()} == {"cpu"}
    _, prediction = predict.classify(classifier, as_rgba_canvas(seven()))
    assert abs(sum(prediction.probabilities) - 1) < 1e-5 and 0 <= prediction.prediction <= 9
