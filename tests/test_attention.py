"""The transformer family: attention checked against PyTorch's own scaled_dot_product_attention, the network's table
against the network, what the page reads (maps, rollout, positions, next letters), the sort task's data, and the
goals in full under the goal marker."""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import torch

from dlcore import DLCoreError, TrainConfig, attention, cli, export, jobs, models, runs, sequences
from dlcore.config import ModelSpec
from dlcore.standalone import SelfAttention

TINY = ModelSpec("transformer", dense=(), width=16, heads=4, blocks=2)


def reference(layer: SelfAttention, x: torch.Tensor, mask: torch.Tensor | None, causal: bool = False) -> torch.Tensor:
    """Multi-head attention written with torch.nn.functional.scaled_dot_product_attention on the layer's weights."""
    n, steps, width = x.shape
    q, k, v = layer.qkv(x).split(width, dim=-1)
    heads = [t.view(n, steps, layer.heads, -1).transpose(1, 2) for t in (q, k, v)]
    mixed = torch.nn.functional.scaled_dot_product_attention(*heads, attn_mask=mask, is_causal=causal)
    return layer.mix(mixed.transpose(1, 2).reshape(n, steps, width))


@pytest.mark.parametrize("causal, context", [(False, 64), (True, 64), (True, 3)])
def test_attention_and_its_weights_agree_with_pytorchs_scaled_dot_product_attention(causal, context):
    torch.manual_seed(0)
    layer = SelfAttention(16, 4, causal, context)
    x = torch.randn(3, 9, 16)
    mask = None
    if causal:
        query, key = torch.arange(9)[:, None], torch.arange(9)[None]
        mask = (key <= query) & (query - key < context)
    expected = reference(layer, x, mask)
    torch.testing.assert_close(layer(x), expected)
    weights = layer.weights(x)  # the page's: the softmax in the open, then weighing the values by it
    _, _, v = layer.qkv(x).split(16, dim=-1)
    values = v.view(3, 9, 4, 4).transpose(1, 2)
    torch.testing.assert_close(layer.mix((weights @ values).transpose(1, 2).reshape(3, 9, 16)), expected)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 4, 9))
    if causal:
        assert (weights[..., ~mask] == 0).all()  # no token sees a later one, nor one beyond its context
        if context == 64:  # a whole context is PyTorch's own causal attention
            torch.testing.assert_close(layer(x), reference(layer, x, None, causal=True))


@pytest.mark.parametrize("dataset, output", [("text", (64, 96)), ("sort", (6, 10)), ("addition", (3, 13)),
                                             ("memory-5", (8,)), ("mnist", (10,))])
def test_the_table_is_the_network(dataset, output, tiny_data_dir):
    model = models.build(TINY, dataset)
    rows = models.describe(TINY, dataset)
    assert sum(row.parameters for row in rows) == models.count_parameters(model)
    assert [row.output_shape for row in rows][-1] == output
    x, _ = sequences.test_batch(dataset, 2)
    assert tuple(model(x).shape) == (2, *output)
    blocks = [row for row in rows if row.name.startswith("block")]
    assert len(blocks) == 2 and all(row.mixing > 0 and row.inner > 0 for row in blocks)  # attention costs counted


def test_a_vision_transformer_reads_16_patches_and_a_class_token(tiny_data_dir):
    rows = models.describe(TINY, "mnist")
    assert rows[0].output_shape == (16, 49) and rows[1].output_shape == (17, 16)
    assert rows[1].name == "tokens: a class token and 16 patches"
    image = torch.arange(784, dtype=torch.float32).reshape(1, 1, 28, 28)
    patches = models.build(TINY, "mnist")[0](image)
    torch.testing.assert_close(patches[0, 5].reshape(7, 7), image[0, 0, 7:14, 7:14])  # row 2, column 2


def test_refusals_are_sentences():
    with pytest.raises(DLCoreError, match="A width of 30 does not split into 4 heads; choose 1, 2, 3, 5 or 6 heads"):
        models.build(ModelSpec("transformer", dense=(), width=30, heads=4), "sort")
    with pytest.raises(DLCoreError, match="field heads cannot be 9"):
        ModelSpec("transformer", heads=9)
    with pytest.raises(DLCoreError, match="Type exactly 6 digits"):
        attention.check_row("12a456")
    with pytest.raises(DLCoreError, match="a transformer here learns text, sort or digits"):
        attention.dataset_name("poems")


def test_maps_rollout_and_positions_are_what_a_page_shows(tiny_data_dir):
    torch.manual_seed(0)
    model = models.build(TINY, "mnist").eval()
    reading, probabilities = attention.read_digit(model, np.zeros((28, 28), np.float32), tuple("0123456789"))
    assert reading.weights.shape == (2, 4, 17, 17) and reading.labels[:2] == ["CLS", "1,1"]
    np.testing.assert_allclose(reading.weights.sum(-1), 1, atol=1e-5)
    flow = attention.rollout(reading.weights)
    np.testing.assert_allclose(flow.sum(-1), 1, atol=1e-6)
    one = np.zeros((1, 1, 3, 3))
    one[..., 0] = 1  # every token attends only to the first: half of each block flows there
    np.testing.assert_allclose(attention.rollout(one)[2], [0.5, 0, 0.5])
    assert attention.class_attention(reading.weights).shape == (2, 4, 4, 4)
    assert math.isclose(probabilities.sum(), 1, rel_tol=1e-5)
    similarity = attention.position_similarity(model)
    assert similarity.shape == (17, 17) and np.allclose(np.diag(similarity), 1, atol=1e-5)


def test_a_text_transformer_reads_a_prompt_and_writes_greedily_with_top_1():
    torch.manual_seed(0)
    model = models.build(TINY, "text").eval()
    reading, nexts = attention.read_text(model, "The “quick” fox" * 10)  # curly quotes made plain, the last 64 read
    assert len(reading.labels) == 64 and reading.weights.shape == (2, 4, 64, 64)
    assert np.allclose(np.triu(reading.weights[0, 0], 1), 0)  # a decoder: no letter sees the ones after it
    assert len(nexts) == attention.TOP and nexts[0][1] >= nexts[-1][1]
    first, again = (sequences.samples(model, (1.0,), 30, "The ", seed=seed, top_k=1)[0] for seed in (0, 1))
    assert first == again  # top-1 is the likeliest letter every time, whatever the draw
    with torch.no_grad():
        likeliest = sequences.TEXT_ALPHABET[int(model(torch.tensor([sequences.encode("The ", sequences.TEXT_ALPHABET)]))[0, -1].argmax())]
    assert first[0] == likeliest
    with pytest.raises(DLCoreError, match="Type a prompt"):
        attention.read_text(model, "\u200b")


def test_the_sort_task_holds_each_row_once_and_its_answers_in_order():
    loaded = sequences.load("sort")
    rows = torch.cat([loaded.train_x, loaded.test_x])[:, : sequences.SORT_DIGITS]
    assert len({tuple(row) for row in rows.tolist()}) == len(rows) == sum(sequences.SORT_SIZES)
    torch.testing.assert_close(loaded.test_y, loaded.test_x[:, : sequences.SORT_DIGITS].sort(dim=1).values)
    first = "".join(sequences.SORT_ALPHABET[c] for c in loaded.test_x[0].tolist())  # the row, then its sort so far
    assert first == sequences.sort_question(first[:6], "".join(sorted(first[:6]))) and first[6] == "="


def test_a_vision_transformers_export_script_builds_the_same_network(tiny_data_dir):
    config = TrainConfig(dataset="mnist", model=TINY)
    namespace: dict = {}
    exec(compile(export.script(config), "run.py", "exec"), namespace)
    torch.manual_seed(0)
    scripted = namespace["build"]()
    ours = models.build(TINY, "mnist")
    assert {k: v.shape for k, v in scripted.state_dict().items()} == {k: v.shape for k, v in ours.state_dict().items()}
    scripted.load_state_dict(ours.state_dict())
    image = torch.randn(2, 1, 28, 28)
    torch.testing.assert_close(scripted.eval()(image), ours.eval()(image))


@pytest.mark.parametrize("dataset, label, scripted", [("sort", "sort: ", False), ("mnist", "mnist: ", True)])
def test_a_transformer_run_leaves_and_comes_back_scored_on_its_own_measure(dataset, label, scripted, tiny_data_dir):
    manager = jobs.job_manager()
    config = TrainConfig(dataset=dataset, model=ModelSpec("transformer", dense=(), width=16, heads=2, blocks=1),
                         epochs=1, device="cpu")
    run_id = manager.submit(config)
    assert manager.wait(run_id, timeout=120).status == "done"
    trained = manager.store.get(run_id)
    name, content = export.bundle(trained)
    assert (f"run-{run_id}/run-{run_id}.py" in zipfile.ZipFile(io.BytesIO(content)).namelist()) == scripted
    imported = runs.RunStore().get(export.import_weights(content, name))
    assert imported.config == config and label in imported.label
    assert imported.results.accuracy == pytest.approx(trained.results.accuracy, abs=1e-6)


@pytest.mark.slow
def test_the_cli_trains_a_sorting_transformer_and_prints_its_attention(tmp_path):
    done = subprocess.run([sys.executable, "-m", "dlcore", "attention", "--task", "sort", "--epochs", "1", "--width",
                           "32", "--input", "316402", "--json"], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "DLCORE_HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout.splitlines()[-1])
    assert summary["task"] == "sort" and summary["status"] == "done" and summary["checkpoint"].endswith(".safetensors")
    assert 0 <= summary["exact"] <= summary["test_accuracy"] <= 1 and summary["seconds"] > 0
    assert summary["tokens"] == list("316402=") + list(summary["answer"][:5]) and len(summary["answer"]) == 6
    weights = np.array(summary["attention"])
    assert weights.shape == (2, 4, 12, 12)
    np.testing.assert_allclose(weights.sum(-1), 1, atol=1e-3)


def test_the_cli_refuses_a_bad_input_before_training(capsys):
    assert cli.main(["attention", "--task", "sort", "--input", "31", "--json"]) == 2
    out, err = capsys.readouterr()
    assert "Type exactly 6 digits" in json.loads(out.splitlines()[-1])["error"] and "Traceback" not in err
    assert not runs.RunStore().list()  # nothing was trained


GOALS = {  # the issue's: (task, the metric and its bound, seconds allowed)
    "digits": (["--task", "digits", "--dataset", "mnist-sample"], "test_accuracy", 0.88, 180),
    "sort": (["--task", "sort"], "exact", 0.95, 120),
    "text": (["--task", "text"], "val_nats_per_char", 2.0, 180),
}


@pytest.mark.slow
@pytest.mark.goal
@pytest.mark.parametrize("goal", list(GOALS))
def test_goal(goal, tmp_path, real_data_dir):
    """The issue's goals on this machine's CPU, through the CLI a teacher would use, with each task's own settings."""
    flags, metric, bound, seconds = GOALS[goal]
    done = subprocess.run([sys.executable, "-m", "dlcore", "attention", *flags, "--json"], capture_output=True,
                          text=True, timeout=900, env={**os.environ, "DLCORE_HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout.splitlines()[-1])
    assert summary["seconds"] <= seconds
    assert summary[metric] <= bound if metric == "val_nats_per_char" else summary[metric] >= bound
