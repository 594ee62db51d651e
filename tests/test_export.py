"""Export: the zip's standalone script rebuilds the very network, scores the weights as the playground did, and retrains
the run step for step, with nothing but torch."""

import ast
import copy
import importlib.util
import inspect
import io
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import save as safetensors_bytes

from dlcore import activations, data, export, jobs, models, optim, runs, standalone, validation
from dlcore.config import PIXEL_STATS, ConvBlock, DenseLayer, DLCoreError, ModelSpec, TrainConfig, standardize

CNN = TrainConfig(
    dataset="mnist", epochs=1, batch_size=32, device="cpu", optimizer="sgd", lr=0.05, nesterov=True,
    schedule="onecycle", loss="mse",
    model=ModelSpec("cnn", conv=(ConvBlock(4, pool="max", batch_norm=True),), dense=(DenseLayer(16, "leaky-relu", 0.2),)),
)


def _train(config):
    manager = jobs.job_manager(serving=False)  # every core, as the exported script trains: the same sums, bit for bit
    run_id = manager.submit(config, student="Ada")
    manager.wait(run_id, timeout=120)
    return manager.store.get(run_id)


def _unpack(run, folder: Path) -> Path:
    name, content = export.bundle(run)
    assert name == f"run-{run.id}.zip"
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        assert sorted(archive.namelist()) == [f"run-{run.id}/run-{run.id}-config.json", f"run-{run.id}/run-{run.id}.py",
                                              f"run-{run.id}/run-{run.id}.safetensors"]
        archive.extractall(folder)
    return folder / f"run-{run.id}" / f"run-{run.id}.py"


def _script(path: Path, *args: str) -> dict:
    """Run an exported script as a user would, in a fresh interpreter with no dlcore on its path."""
    done = subprocess.run([sys.executable, "-I", str(path), *args, "--json"], capture_output=True, text=True,
                          timeout=180, cwd=path.parent)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _module(text: str, tmp_path: Path, name: str = "exported"):
    path = tmp_path / f"{name}.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_exported_script_scores_and_retrains_exactly_like_the_run(tiny_data_dir, tmp_path):
    run = _train(CNN)
    assert run.status == "done"
    script = _unpack(run, tmp_path)
    assert f"TITLE = 'Run #{run.id} from the Deep Learning Playground: " in script.read_text()
    assert f"test accuracy {run.accuracy:.2%}.'" in script.read_text()
    scored = _script(script, "evaluate", "--data", str(tiny_data_dir))
    assert scored["accuracy"] == run.accuracy and scored["loss"] == pytest.approx(run.results.loss, rel=1e-6)
    assert scored["test_images"] == 200
    retrained = _script(script, "train", "--data", str(tiny_data_dir / "mnist"), "--out", str(tmp_path / "again.safetensors"))
    assert retrained["accuracy"] == run.accuracy
    model, config = runs.load_checkpoint(tmp_path / "again.safetensors")  # the playground reads what the script wrote
    assert config == CNN
    original, _ = runs.load_checkpoint(run.checkpoint)
    for name, tensor in original.state_dict().items():
        assert torch.equal(tensor, model.state_dict()[name]), name


def test_sample_runs_export_with_their_held_out_digits(tmp_path, monkeypatch):
    monkeypatch.delenv("DLCORE_DATA_DIR", raising=False)
    run = _train(TrainConfig(dataset="mnist-sample", model=ModelSpec(dense=(DenseLayer(16),)), epochs=1,
                             batch_size=256, device="cpu"))
    script = _unpack(run, tmp_path)
    shutil.copy(data._sample_path(), script.parent)
    assert standalone.SAMPLE_FILE == data._sample_path().name
    scored = _script(script, "evaluate", "--data", str(script.parent))
    assert scored["accuracy"] == run.accuracy and scored["test_images"] == data.SAMPLE_TEST_SIZE


def test_missing_data_is_one_sentence(tiny_data_dir, tmp_path):
    script = _unpack(_train(CNN), tmp_path)
    done = subprocess.run([sys.executable, "-I", str(script), "evaluate", "--data", str(tmp_path / "nowhere")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and done.stderr.strip().startswith("error: the mnist IDX files are not in ")
    assert "--download" in done.stderr


@pytest.mark.parametrize("activation", activations.HIDDEN_ACTIVATIONS)
def test_script_builds_the_same_network(activation, tmp_path):
    spec = ModelSpec("cnn", conv=(ConvBlock(3, kernel=5, activation=activation, pool="avg", padding="same", batch_norm=True),
                                  ConvBlock(2, activation=activation, pool="max")),
                     dense=(DenseLayer(12, activation, 0.3, True), DenseLayer(5, activation)))
    module = _module(export.script(TrainConfig(model=spec)), tmp_path)
    torch.manual_seed(3)
    mine = module.build()
    torch.manual_seed(3)
    theirs = models.build(spec)
    assert str(mine) == str(theirs)
    for name, tensor in theirs.state_dict().items():
        assert torch.equal(tensor, mine.state_dict()[name]), name  # same constructors in the same order: same init


@pytest.mark.parametrize("changes", [
    {"optimizer": name} for name in optim.OPTIMIZERS
] + [{"optimizer": "sgd", "nesterov": True, "weight_decay": 1e-4}, {"optimizer": "rmsprop", "momentum": 0.0}])
def test_script_makes_the_same_optimizer(changes, tmp_path):
    config = TrainConfig(lr=0.02, **changes)
    module = _module(export.script(config), tmp_path)
    parameters = [torch.zeros(2, requires_grad=True) for _ in range(2)]  # a network has several tensors
    mine = module.make_optimizer(parameters)
    theirs = optim.make_optimizer(config, parameters)
    assert type(mine) is type(theirs) and mine.defaults == theirs.defaults


@pytest.mark.parametrize("schedule", list(optim.SCHEDULES))
def test_script_makes_the_same_schedule(schedule, tmp_path):
    config = TrainConfig(schedule=schedule, lr=0.1)
    module = _module(export.script(config), tmp_path)
    rates = []
    for make in (lambda opt: module.make_schedule(opt, 20, module.SCHEDULE, module.LR),
                 lambda opt: optim.make_schedule(config, opt, 20)):
        optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
        scheduler = make(optimizer)
        trajectory = []
        for _ in range(20):
            optimizer.step()
            scheduler.step()
            trajectory.append(scheduler.get_last_lr()[0])
        rates.append(trajectory)
    assert rates[0] == rates[1]


@pytest.mark.parametrize("loss", list(optim.LOSSES))
def test_script_computes_the_same_loss(loss, tmp_path):
    module = _module(export.script(TrainConfig(loss=loss)), tmp_path)
    logits, labels = torch.randn(8, 10), torch.arange(8)
    assert torch.equal(module.LOSS_FUNCTIONS[module.LOSS](logits, labels), optim.make_loss(loss)(logits, labels))


def test_script_reads_and_writes_safetensors_like_the_library(tmp_path):
    module = _module(export.script(TrainConfig()), tmp_path)
    tensors = {"w": torch.randn(3, 4), "n": torch.tensor(7), "b": torch.arange(5, dtype=torch.uint8)}
    module.write_safetensors(tensors, tmp_path / "mine.safetensors", {"format": "x"})
    from safetensors.torch import load_file, save_file

    loaded = load_file(str(tmp_path / "mine.safetensors"))
    save_file(tensors, str(tmp_path / "theirs.safetensors"))
    read = module.read_safetensors(tmp_path / "theirs.safetensors")
    for name, tensor in tensors.items():
        assert torch.equal(loaded[name], tensor) and torch.equal(read[name], tensor)


# ---- the standalone module is the script -------------------------------------------------------

STANDALONE = Path(standalone.__file__)


def test_the_standalone_module_is_the_script_of_the_default_config():
    """Its settings block holds what an export of TrainConfig() writes, so its defaults agree with dlcore's constants
    (image size, classes, mean and std, checkpoint format, evaluation batch)."""
    source = STANDALONE.read_text()
    assert source.count(export.SETTINGS_BEGIN) == 1 and source.count(export.SETTINGS_END) == 1
    assert export.script(TrainConfig()) == source, "write export.script(TrainConfig()) to dlcore/standalone.py"


def test_an_export_writes_only_between_the_markers():
    """The schedules, losses and data readers a script runs are dlcore's own, to the letter."""
    head, _, rest = STANDALONE.read_text().partition(export.SETTINGS_BEGIN)
    text = export.script(CNN)
    assert text.startswith(head) and text.endswith(rest.partition(export.SETTINGS_END)[2])
    for shared in (standalone.make_schedule, standalone.mse, standalone.read_idx, standalone.held_out):
        assert inspect.getsource(shared) in text


def test_the_standalone_module_imports_only_torch_and_the_standard_library():
    tree = ast.parse(STANDALONE.read_text())
    top = {alias.name.split(".")[0] for node in tree.body if isinstance(node, ast.Import) for alias in node.names}
    top |= {node.module.split(".")[0] for node in tree.body if isinstance(node, ast.ImportFrom)}
    assert top == {"argparse", "gzip", "json", "math", "sys", "pathlib", "torch"}
    nested = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)} - {"pathlib", "torch"}
    assert nested == {"torchvision"}  # for --download only, inside download()


def test_the_standalone_module_trains_as_it_stands_like_the_playground(tmp_path, monkeypatch):
    """Copied alone next to the sample digits, its defaults train the default network as dlcore does."""
    monkeypatch.delenv("DLCORE_DATA_DIR", raising=False)
    script = tmp_path / "standalone.py"
    shutil.copy(STANDALONE, script)
    shutil.copy(data._sample_path(), tmp_path)
    trained = _script(script, "train", "--data", str(tmp_path), "--epochs", "1", "--device", "cpu")
    scored = _script(script, "evaluate", "--data", str(tmp_path), "--weights", trained["weights"])
    run = _train(TrainConfig(epochs=1, device="cpu"))
    assert trained["accuracy"] == scored["accuracy"] == run.accuracy
    assert scored["test_images"] == data.SAMPLE_TEST_SIZE


@pytest.mark.parametrize("dataset", list(data.DATASETS))
def test_the_script_normalises_real_digits_as_dlcore_does(dataset, tmp_path, monkeypatch):
    """The script writes the formula again (it cannot import dlcore): on real digits both give the same floats."""
    monkeypatch.delenv("DLCORE_DATA_DIR", raising=False)
    images = data.load("mnist-sample").train_images[:500]
    module = _module(export.script(TrainConfig(dataset=dataset)), tmp_path)
    assert (module.MEAN, module.STD) == PIXEL_STATS[dataset]
    assert torch.equal(module.normalize(images), standardize(images, *PIXEL_STATS[dataset]).unsqueeze(1))


def test_a_run_without_weights_cannot_be_exported(tiny_data_dir):
    run = _train(CNN.with_changes(lr=1000.0, epochs=3, loss="cross-entropy", schedule="constant"))
    assert run.status == "diverged"
    with pytest.raises(DLCoreError, match=rf"Run #{run.id} has no saved weights to export \(its status is diverged\)"):
        export.bundle(run)


# ---- no code through an exported script ----------------------------------------------------------

FIELDS = {  # every setting of a config, by where it sits
    "config": ["dataset", "optimizer", "lr", "momentum", "nesterov", "weight_decay", "schedule", "loss", "batch_size",
               "epochs", "seed", "device"],
    "model": ["kind"],
    "dense": ["units", "activation", "dropout", "batch_norm"],
    "conv": ["channels", "kernel", "activation", "pool", "padding", "batch_norm"],
}
BREAKOUTS = [  # each escapes a different way from where a value could land; {touch} creates the marker file
    "0\n{touch}\n#",  # a bare value on its own line: a new statement follows
    '"""\n{touch}\n"""',  # inside the docstring: close it
    "x' + {touch} + '",  # inside a quoted string: close the quote
    "0 or {touch}",  # a bare value in an expression
]


def _forced(obj, **fields):
    """A copy of a frozen config with fields set behind its validation, as a damaged store or a lax parser might."""
    clone = copy.copy(obj)
    for name, value in fields.items():
        object.__setattr__(clone, name, value)
    return clone


def _with_payload(where: str, name: str, payload: str) -> TrainConfig:
    base = TrainConfig(dataset="mnist", model=ModelSpec("cnn", conv=(ConvBlock(4),), dense=(DenseLayer(8),)))
    model = base.model
    if where == "config":
        return _forced(base, **{name: payload})
    if where == "model":
        model = _forced(model, kind=payload)
    elif where == "dense":
        model = _forced(model, dense=(_forced(model.dense[0], **{name: payload}),))
    else:
        model = _forced(model, conv=(_forced(model.conv[0], **{name: payload}),))
    return _forced(base, model=model)


def _run_help(*scripts: Path) -> None:
    """`python SCRIPT --help` for each script, in one fresh interpreter so torch is imported once."""
    each = "\n".join(
        f"sys.argv = [{str(path)!r}, '--help']\ntry:\n    runpy.run_path(sys.argv[0], run_name='__main__')\n"
        "except BaseException:\n    pass" for path in scripts)
    subprocess.run([sys.executable, "-I", "-c", f"import runpy, sys\n{each}"], capture_output=True, text=True,
                   timeout=120, cwd=scripts[0].parent)


@pytest.mark.parametrize("validated", [True, False], ids=["validated", "validation-bypassed"])
@pytest.mark.parametrize("where, name", [(where, name) for where, names in FIELDS.items() for name in names])
def test_code_in_any_setting_never_runs_from_the_exported_script(where, name, validated, tmp_path, monkeypatch):
    """A payload in any field is refused or written as inert data; even with the config's validation bypassed, the
    exported script's --help runs none of it."""
    if not validated:
        monkeypatch.setattr(validation, "validate", lambda config: None)
    marker = tmp_path / "ran"
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(b"weights")
    scripts = []
    for number, breakout in enumerate(BREAKOUTS):
        payload = breakout.format(touch=f"__import__('pathlib').Path(r'{marker}').touch()")
        run = runs.Run(id=7, created=0.0, updated=0.0, status="done", message="", config=_with_payload(where, name, payload),
                       student="", device="cpu", history={}, results=None, checkpoint=str(weights), seconds=1.0)
        try:
            _, content = export.bundle(run)
        except (DLCoreError, TypeError, ValueError, KeyError):  # refused (a forced value can trip a check early)
            continue
        folder = tmp_path / f"export-{number}"
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            archive.extractall(folder)
        scripts.append(folder / "run-7" / "run-7.py")
    if scripts:
        _run_help(*scripts)
    assert not marker.exists()


def test_settings_are_written_as_checked_literals(tmp_path):
    """A string where a number belongs is refused, not pasted into the script."""
    config = _forced(TrainConfig(), seed="0\nimport os")
    with pytest.raises(DLCoreError, match=r"should be a whole number; this run cannot be exported"):
        export.script(config)


def test_a_weights_name_cannot_break_out_of_the_script(tmp_path):
    marker = tmp_path / "ran"
    touch = f"__import__('pathlib').Path(r'{marker}').touch()"
    weights = f'w\\\n{touch}\n#"""\n{touch}\n"""'
    text = export.script(TrainConfig(), weights=weights)
    assert "needs only PyTorch" in ast.get_docstring(ast.parse(text))  # the docstring is whole, nothing escaped it
    assert _module(text, tmp_path).WEIGHTS == weights
    script = tmp_path / "exported.py"
    script.write_text(text)
    _run_help(script)
    assert not marker.exists()


def test_imported_config_with_code_in_it_never_runs(tiny_data_dir, tmp_path):
    """The issue's path: a config carrying code is imported, then exported, then its script is run."""
    marker = tmp_path / "ran"
    config = TrainConfig(dataset="mnist", model=ModelSpec(dense=(DenseLayer(8),)))
    fields = config.to_dict() | {"seed": f"0\n__import__('pathlib').Path(r'{marker}').touch()\n#"}
    torch.manual_seed(0)
    weights = safetensors_bytes({k: v.contiguous() for k, v in models.build(config.model).state_dict().items()})
    try:
        run_id = export.import_weights(weights, "w.safetensors", config_json=json.dumps(fields))
        _, content = export.bundle(runs.RunStore().get(run_id))
    except DLCoreError as exc:
        assert "\n" not in str(exc)
    else:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            archive.extractall(tmp_path)
        _run_help(tmp_path / f"run-{run_id}" / f"run-{run_id}.py")
    assert not marker.exists()
