"""A run on the class's drawings travels: its export carries their frozen file, and a playground without them keeps it,
checked, and scores the import on it; anything else in its place is a sentence."""

from __future__ import annotations

import io
import re
import zipfile

import numpy as np
import pytest
import torch

from dlcore import data, drawings, evaluate, export, models, runs
from dlcore.config import DenseLayer, DLCoreError, ModelSpec, TrainConfig
from tests.test_drawings import fill

SMALL = ModelSpec("mlp", dense=(DenseLayer(16),))
CLASSES = ("circle", "cross", "bar")


@pytest.fixture
def drawings_run() -> runs.Run:
    """A finished run on three drawn classes (drawn from a seed, not trained: travelling does not depend on it)."""
    store = runs.RunStore()
    fill(store, dict.fromkeys(CLASSES, 5))
    config = TrainConfig(dataset=drawings.freeze(store.drawings()), model=SMALL, epochs=1, device="cpu")
    torch.manual_seed(0)
    run_id = store.create(config, status="running")
    path = store.keep_checkpoint(run_id, runs.checkpoint_bytes(models.build(SMALL, config.dataset), config))
    store.update(run_id, status="done", checkpoint=str(path))
    return store.get(run_id)


@pytest.fixture
def exported(drawings_run) -> tuple[str, bytes]:
    """(file name, zip bytes) of the run's export, made where the run is."""
    return export.bundle(drawings_run)


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """Another playground: a runs home of its own, without the class's drawings."""
    monkeypatch.setenv("DLCORE_HOME", str(tmp_path / "elsewhere"))
    return runs.RunStore()


def _members(content: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _rezip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _arrays(content: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(content), allow_pickle=False) as saved:
        return {key: saved[key] for key in saved.files}


def _npz(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def test_a_drawings_run_is_imported_scored_and_named_by_its_classes_where_the_drawings_were_not(
        drawings_run, dlcore_home, exported, elsewhere):
    name, content = exported
    dataset = drawings_run.config.dataset
    frozen = dlcore_home / "drawings" / f"{dataset.removeprefix(drawings.PREFIX)}.npz"
    assert _members(content)[f"run-{drawings_run.id}/{dataset}.npz"] == frozen.read_bytes()
    assert not data.status(dataset).available  # this playground has never seen them
    imported = elsewhere.get(export.import_weights(content, name, store=elsewhere))
    assert imported.config == drawings_run.config and imported.message == f"Imported from {name}."
    assert data.info(dataset).classes == CLASSES and drawings.file_of(dataset).is_file()
    test = data.load(dataset)
    assert len(test.test_labels) == 3  # each class's third drawing
    model, _ = runs.load_checkpoint(drawings_run.checkpoint)
    expected = evaluate.evaluate(model, test.normalized(test.test_images.unsqueeze(1)), test.test_labels)
    assert imported.results.confusion == expected.confusion and imported.accuracy == expected.accuracy


def test_drawings_already_here_are_used_and_the_file_need_not_carry_them(drawings_run):
    name, content = export.bundle(drawings_run)
    without = _rezip({path: bytes_ for path, bytes_ in _members(content).items() if not path.endswith(".npz")})
    imported = runs.RunStore().get(export.import_weights(without, name))
    assert imported.config.dataset == drawings_run.config.dataset and imported.results is not None


def test_a_zip_without_the_drawings_it_was_trained_on_is_a_sentence(drawings_run, exported, elsewhere):
    name, content = exported
    without = _rezip({path: bytes_ for path, bytes_ in _members(content).items() if not path.endswith(".npz")})
    with pytest.raises(DLCoreError, match=f"^{name} was trained on the class's drawings, which are not in this file; "
                                          "export it again from a playground that has them.$"):
        export.import_weights(without, name, store=elsewhere)
    assert elsewhere.list() == []


def _replace_drawings(content: bytes, npz: bytes) -> bytes:
    return _rezip({path: npz if path.endswith(".npz") else bytes_ for path, bytes_ in _members(content).items()})


def test_drawings_changed_on_the_way_are_refused(drawings_run, exported, elsewhere):
    name, content = exported
    arrays = _arrays(next(bytes_ for path, bytes_ in _members(content).items() if path.endswith(".npz")))
    arrays["test_images"][0, 14, 14] ^= 0xFF  # one pixel: the file is as good as ever but no longer the named one
    dataset = drawings_run.config.dataset
    with pytest.raises(DLCoreError, match=f"^The drawings in this file are not those named {dataset}; "
                                          "export the run again.$"):
        export.import_weights(_replace_drawings(content, _npz(arrays)), name, store=elsewhere)
    assert not drawings.file_of(dataset).exists() and elsewhere.list() == []


def _relabelled(content: bytes, change) -> tuple[str, bytes]:
    """The export with its drawings changed by `change`, renamed after what they now hold (as a forger would), and
    the config naming them so."""
    members = _members(content)
    arrays = _arrays(next(bytes_ for path, bytes_ in members.items() if path.endswith(".npz")))
    change(arrays)
    forged = drawings.PREFIX + drawings._digest(arrays)
    renamed = {}
    for path, bytes_ in members.items():
        if path.endswith(".npz"):
            path, bytes_ = f"{path.rsplit('/', 1)[0]}/{forged}.npz", _npz(arrays)
        elif path.endswith("-config.json"):
            bytes_ = re.sub(rb"drawings-[0-9a-f]{16}", forged.encode(), bytes_)
        renamed[path] = bytes_
    return forged, _rezip(renamed)


def _set(key, value):
    return lambda arrays: arrays.__setitem__(key, value)


@pytest.mark.parametrize("change", [
    lambda arrays: arrays["train_labels"].__setitem__(0, 3),  # a fourth class that has no name
    lambda arrays: arrays["test_labels"].__setitem__(0, -1),
    _set("classes", np.array(["circle", "st\u200bar", "bar"])),  # a class name the store would have cleaned
    _set("classes", np.array(["circle", "circle", "bar"])),
    lambda arrays: arrays.update(classes=np.array(["circle"]), train_labels=np.zeros_like(arrays["train_labels"]),
                                 test_labels=np.zeros_like(arrays["test_labels"])),
    lambda arrays: arrays.update(train_labels=arrays["train_labels"].astype(np.int32)),
    lambda arrays: arrays["train_labels"].__setitem__(arrays["train_labels"] == 2, 0),  # no 'bar' to train on
    lambda arrays: arrays.update(test_images=arrays["test_images"][:, :14]),
    lambda arrays: arrays.update(test_students=arrays["test_students"][:1]),
    _set("test_students", np.array("")),  # one name for the split, not one a drawing
    lambda arrays: arrays.update(test_labels=np.append(arrays["test_labels"], 0)),
    lambda arrays: arrays.update(held_out=np.array(["Ann", "Bob"])),
    _set("held_out", np.array(["Ann\u202e"])),  # a name the store would have cleaned
    lambda arrays: arrays.update(test_students=np.array(["Ann\n"] * len(arrays["test_students"]))),
    lambda arrays: arrays.pop("held_out"),
    lambda arrays: arrays.update(extra=np.zeros(3)),
], ids=["label-past-classes", "negative-label", "unclean-class", "same-class-twice", "one-class", "int32-labels",
        "a-class-untrained", "half-pictures", "students-short", "students-as-one", "labels-longer", "two-held-out",
        "unclean-held-out", "unclean-student", "no-held-out", "extra-array"])
def test_drawings_not_as_freeze_writes_them_are_refused_even_under_their_own_digest(exported, elsewhere, change):
    name, content = exported
    forged, upload = _relabelled(content, change)
    with pytest.raises(DLCoreError, match=f"^The file of {forged} is damaged or was not frozen by a playground; "
                                          "export the run again.$"):
        export.import_weights(upload, name, store=elsewhere)
    assert not drawings.file_of(forged).exists() and elsewhere.list() == []


def test_the_drawings_relabelled_under_their_own_digest_are_accepted(exported, elsewhere):
    """The other side of the test above: what _relabelled makes of an acceptable change is accepted."""
    name, content = exported
    forged, upload = _relabelled(content, _set("classes", np.array(["ring", "x", "line"])))
    export.import_weights(upload, name, store=elsewhere)
    assert data.info(forged).classes == ("ring", "x", "line")


@pytest.mark.parametrize("npz", [np.random.default_rng(0).bytes(4000), b"", b"PK\x03\x04" + bytes(100)],
                         ids=["random", "empty", "broken-zip"])
def test_a_member_that_is_not_an_npz_is_refused(drawings_run, exported, elsewhere, npz):
    name, content = exported
    dataset = drawings_run.config.dataset
    with pytest.raises(DLCoreError, match=f"^The file of {dataset} is damaged or was not frozen by a playground; "
                                          "export the run again.$"):
        export.import_weights(_replace_drawings(content, npz), name, store=elsewhere)
    assert not drawings.file_of(dataset).exists()


UNPICKLED = []


def _unpickled() -> str:
    UNPICKLED.append(True)
    return "circle"


class _Trap:
    """An object whose unpickling is seen: loading a pickle runs what it names."""

    def __reduce__(self):
        return _unpickled, ()


def test_pickled_arrays_are_refused_unread(exported, elsewhere):
    name, content = exported
    arrays = _arrays(next(bytes_ for path, bytes_ in _members(content).items() if path.endswith(".npz")))
    arrays["classes"] = np.array([_Trap(), "cross", "bar"], dtype=object)  # np.savez pickles an object array
    with pytest.raises(DLCoreError, match="is damaged or was not frozen by a playground"):
        export.import_weights(_replace_drawings(content, _npz(arrays)), name, store=elsewhere)
    assert not UNPICKLED


def test_drawings_past_the_size_limit_are_refused_while_unpacking(exported, elsewhere, monkeypatch):
    name, content = exported
    npz = next(bytes_ for path, bytes_ in _members(content).items() if path.endswith(".npz"))
    monkeypatch.setattr(drawings, "MAX_FILE_BYTES", len(npz) - 1)
    with pytest.raises(DLCoreError, match=f"^{name} unpacks to more than the 0 MiB limit for the drawings.$"):
        export.import_weights(content, name, store=elsewhere)
    unpacked = sum(member.file_size for member in zipfile.ZipFile(io.BytesIO(npz)).infolist())
    monkeypatch.setattr(drawings, "MAX_FILE_BYTES", unpacked - 1)  # the file fits; the arrays it inflates to do not
    assert len(npz) < unpacked - 1
    with pytest.raises(DLCoreError, match="is damaged or was not frozen by a playground"):
        export.import_weights(content, name, store=elsewhere)
    monkeypatch.setattr(drawings, "MAX_FILE_BYTES", unpacked)
    export.import_weights(content, name, store=elsewhere)


def test_more_drawings_than_a_dataset_holds_are_refused(drawings_run, exported, elsewhere, monkeypatch):
    monkeypatch.setattr(drawings, "MAX_DRAWINGS", 14)  # the class drew 15
    with pytest.raises(DLCoreError, match="is damaged or was not frozen by a playground"):
        export.import_weights(exported[1], exported[0], store=elsewhere)
    assert not drawings.file_of(drawings_run.config.dataset).exists()


def test_drawings_zipped_otherwise_than_numpy_does_are_refused(drawings_run, exported, elsewhere):
    """The same arrays, so the same digest, but compressed with bzip2: what numpy writes is all that is read."""
    name, content = exported
    npz = _members(next(bytes_ for path, bytes_ in _members(content).items() if path.endswith(".npz")))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_BZIP2) as archive:
        for path, bytes_ in npz.items():
            archive.writestr(path, bytes_)
    with pytest.raises(DLCoreError, match="is damaged or was not frozen by a playground"):
        export.import_weights(_replace_drawings(content, buffer.getvalue()), name, store=elsewhere)
    assert not drawings.file_of(drawings_run.config.dataset).exists()


def test_a_drawings_run_whose_drawings_are_gone_cannot_be_exported(drawings_run):
    drawings.file_of(drawings_run.config.dataset).unlink()
    with pytest.raises(DLCoreError, match=f"^Run #{drawings_run.id} was trained on the class's drawings, which are not "
                                          "on this server any more, so no playground could read its export.$"):
        export.bundle(drawings_run)
