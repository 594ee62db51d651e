"""`python -m dlcore inspect`: one JSON object, the prediction and every layer's name, shape and strongest units."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from dlcore import cli, inside, models, predict, runs
from dlcore.config import TrainConfig
from tests.conftest import REPO
from tests.test_preprocess import as_rgba_canvas, seven

CNN = TrainConfig(model=models.preset("cnn"))


@pytest.fixture
def checkpoint(tmp_path):
    import torch

    torch.manual_seed(0)
    return runs.save_checkpoint(tmp_path / "cnn.safetensors", models.build(CNN.model).eval(), CNN)


@pytest.fixture
def canvas(tmp_path):
    path = tmp_path / "seven.png"
    Image.fromarray(as_rgba_canvas(seven())).save(path)
    return path


def test_json_names_every_layer_in_order_with_its_shape(checkpoint, canvas, tmp_path):
    store = runs.RunStore()
    run_id = store.create(CNN)
    store.update(run_id, status="done", checkpoint=str(checkpoint))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-m", "dlcore", "inspect", "--checkpoint", str(run_id), str(canvas), "--json"],
                            cwd=tmp_path, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert [(layer["name"], layer["shape"]) for layer in answer["layers"]] == \
        [(row.name, list(row.output_shape)) for row in models.describe(CNN.model)]
    assert answer["layers"][0]["shape"] == [32, 26, 26]
    classifier = predict.load(checkpoint)
    _, expected = predict.classify(classifier, np.asarray(Image.open(canvas)))
    assert answer["prediction"] == expected.prediction
    np.testing.assert_allclose(answer["probabilities"], expected.probabilities, atol=1e-5)
    top = answer["layers"][-1]["top_units"]
    assert top[0]["unit"] == expected.prediction and len(top) == inside.TOP_UNITS


def test_plain_output_and_a_blank_picture(checkpoint, canvas, tmp_path, capsys):
    assert cli.main(["inspect", "--checkpoint", str(checkpoint), str(canvas)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("conv1 3x3, 32") and "32 x 26 x 26" in lines[0]
    assert lines[-1].startswith("prediction: ")
    blank = tmp_path / "blank.png"
    Image.fromarray(np.zeros((50, 50), np.uint8)).save(blank)
    assert cli.main(["inspect", "--checkpoint", str(checkpoint), str(blank), "--json"]) == 2
    assert "shows no digit" in json.loads(capsys.readouterr().out.splitlines()[-1])["error"]
