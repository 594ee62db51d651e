"""`python -m dlcore predict`: one JSON object per image, in order, on the Draw page's code path."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from dlcore import cli, models, predict, runs
from tests.conftest import REPO
from tests.test_preprocess import as_rgba_canvas, seven


@pytest.fixture
def checkpoint(tmp_path):
    torch.manual_seed(0)
    model = models.build(predict.STARTER_CONFIG.model).eval()
    return runs.save_checkpoint(tmp_path / "model.safetensors", model, predict.STARTER_CONFIG)


@pytest.fixture
def images(tmp_path):
    """The same '7' as an RGBA canvas PNG, a dark-on-light RGB JPEG of another size, and a small L PNG."""
    folder = tmp_path / "digits"
    folder.mkdir()
    Image.fromarray(as_rgba_canvas(seven())).save(folder / "canvas.png")
    Image.fromarray(np.dstack([255 - seven(size=400, top=100, left=30, scale=8)] * 3)).save(folder / "paper.jpg", quality=90)
    Image.fromarray(seven()).resize((40, 40)).save(folder / "small.png")
    return ["digits/canvas.png", "digits/paper.jpg", "digits/small.png"]


def test_json_list_in_order_same_as_the_page(checkpoint, images, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-m", "dlcore", "predict", "--checkpoint", str(checkpoint), *images, "--json"],
                            cwd=tmp_path, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    answers = json.loads(result.stdout)
    assert [a["image"] for a in answers] == images
    classifier = predict.load(checkpoint)
    for answer, name in zip(answers, images):
        assert set(answer) == {"image", "prediction", "probabilities"} and isinstance(answer["prediction"], int)
        assert len(answer["probabilities"]) == 10 and sum(answer["probabilities"]) == pytest.approx(1, abs=1e-5)
        _, expected = predict.classify(classifier, np.asarray(Image.open(tmp_path / name)))
        assert answer["prediction"] == expected.prediction
        np.testing.assert_allclose(answer["probabilities"], expected.probabilities, atol=1e-5)


def test_run_id_and_plain_output(checkpoint, images, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    store = runs.RunStore()
    run_id = store.create(predict.STARTER_CONFIG)
    store.update(run_id, status="done", checkpoint=str(checkpoint))
    assert cli.main(["predict", "--checkpoint", str(run_id), images[0]]) == 0
    assert capsys.readouterr().out.startswith("digits/canvas.png: ")


@pytest.mark.parametrize("name, content, words", [
    ("notes.png", b"not a picture", "notes.png is not an image"),
    ("empty.png", b"", "empty.png is empty"),
    ("missing.png", None, "Cannot read missing.png"),
])
def test_bad_image_is_one_sentence(checkpoint, tmp_path, monkeypatch, capsys, name, content, words):
    monkeypatch.chdir(tmp_path)
    if content is not None:
        (tmp_path / name).write_bytes(content)
    assert cli.main(["predict", "--checkpoint", str(checkpoint), name, "--json"]) == 2
    out, err = capsys.readouterr()
    assert err.startswith("error: ") and words in err and err.count("\n") == 1
    assert json.loads(out) == {"error": err.removeprefix("error: ").strip()}  # --json: the last stdout line says it too


@pytest.mark.parametrize("reference, words", [("nowhere.safetensors", "There is no checkpoint"), ("42", "There is no run #42")])
def test_missing_checkpoint_is_one_sentence(reference, words, images, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["predict", "--checkpoint", reference, images[0], "--json"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and words in err and "Traceback" not in err
