"""The class's drawings: kept MNIST-style and bounded in the runs store, frozen into datasets that data.py serves,
and read from a folder of pictures; every refusal a sentence."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from dlcore import data, drawings, preprocess
from dlcore.config import MNIST_STATS, DLCoreError
from dlcore.runs import RunStore

EMPTY = "The drawing is empty: draw the symbol, then add it."


def ink(shape: str, shift: int = 0) -> np.ndarray:
    """A symbol's strokes, 255 on 0, 280x280, moved right by shift pixels."""
    picture = Image.new("L", (280, 280), 0)
    pen = ImageDraw.Draw(picture)
    if shape == "circle":
        pen.ellipse((60 + shift, 60, 200 + shift, 220), outline=255, width=18)
    elif shape == "cross":
        pen.line((60 + shift, 60, 200 + shift, 220), fill=255, width=18)
        pen.line((200 + shift, 60, 60 + shift, 220), fill=255, width=18)
    else:
        pen.rectangle((120 + shift, 40, 140 + shift, 240), fill=255)
    return np.asarray(picture)


def canvas(shape: str, shift: int = 0) -> np.ndarray:
    """What the page's canvas gives: white strokes on a transparent background, RGBA."""
    alpha = ink(shape, shift)
    white = np.full_like(alpha, 255)
    return np.dstack([white, white, white, alpha])


def fill(store: RunStore, counts: dict[str, int], student: str = "", sender: str = "") -> None:
    for shape, count in counts.items():
        for number in range(count):
            store.add_drawing(shape, canvas(shape, 3 * number), student, sender)


def test_a_drawing_is_kept_as_preprocess_makes_a_digit_and_listed_by_class():
    store = RunStore()
    first = store.add_drawing("circle", canvas("circle"), "Ana", "browser-a")
    store.add_drawing("cross", ink("cross"), "Ben", "browser-b")  # grayscale
    paper = 255 - ink("circle", 6)
    store.add_drawing("circle", np.dstack([paper] * 3))  # dark on light RGB: inverted as a scanned digit is
    kept = store.drawings()
    assert [(d.id, d.label, d.student) for d in kept] == [(first, "circle", "Ana"), (first + 1, "cross", "Ben"),
                                                          (first + 2, "circle", "")]
    made = preprocess.mnist_style(canvas("circle"), *MNIST_STATS).centred
    assert kept[0].pixels.dtype == np.uint8 and kept[0].pixels.shape == (28, 28)
    assert np.array_equal(kept[0].pixels, np.round(made).astype(np.uint8))
    assert kept[0].pixels[0, 0] == 0 and kept[0].pixels.max() == 255  # white on black
    on_paper = preprocess.mnist_style(canvas("circle", 6), *MNIST_STATS).centred
    assert np.abs(kept[2].pixels.astype(int) - np.round(on_paper)).max() <= 1
    assert store.drawing_classes() == {"circle": 2, "cross": 1}
    assert [d.label for d in store.drawings("cross")] == ["cross"]


def test_classes_are_counted_in_the_order_they_were_first_drawn():
    store = RunStore()
    fill(store, {"cross": 1, "bar": 1})
    store.add_drawing("cross", canvas("cross", 5))
    assert list(store.drawing_classes().items()) == [("cross", 2), ("bar", 1)]


def test_a_label_is_one_visible_line():
    store = RunStore()
    store.add_drawing("  st\u200bar \n", canvas("circle"))  # a zero-width space and a line break
    store.add_drawing("\u202estar", canvas("circle", 4))  # right-to-left override: the same class, not a lookalike
    store.add_drawing("x" * drawings.MAX_LABEL_CHARS, canvas("bar"))
    assert store.drawing_classes() == {"star": 2, "x" * drawings.MAX_LABEL_CHARS: 1}


@pytest.mark.parametrize("label", ["", " \n\t", "\u200b\u202e", None, 7, "x" * (drawings.MAX_LABEL_CHARS + 1),
                                   "x" * 500], ids=["empty", "blank", "invisible", "none", "number", "25", "500"])
def test_a_bad_label_is_a_sentence(label):
    store = RunStore()
    with pytest.raises(DLCoreError, match="^(Name the symbol|The label '.*' is longer than 24 characters)"):
        store.add_drawing(label, canvas("circle"))
    assert store.drawings() == []


def test_an_eleventh_class_is_refused(monkeypatch):
    monkeypatch.setattr(drawings, "MAX_CLASSES", 3)
    store = RunStore()
    for label in "ABC":
        store.add_drawing(label, canvas("circle"))
    with pytest.raises(DLCoreError, match="already draws 3 symbols"):
        store.add_drawing("D", canvas("cross"))
    store.add_drawing("A", canvas("cross"))  # a class there already takes more
    assert store.drawing_classes() == {"A": 2, "B": 1, "C": 1}


def test_a_student_keeps_at_most_their_share_and_the_teacher_the_servers(monkeypatch):
    monkeypatch.setattr(drawings, "MAX_PER_STUDENT", 2)
    monkeypatch.setattr(drawings, "MAX_DRAWINGS", 5)
    store = RunStore()
    fill(store, {"circle": 2}, "Ana", "browser-a")
    with pytest.raises(DLCoreError, match="^You keep 2 drawings"):
        store.add_drawing("circle", canvas("circle", 9), "Ana", "browser-a")
    fill(store, {"cross": 2}, "Ben", "browser-b")  # another student's share is their own
    store.add_drawing("bar", canvas("bar"))  # the teacher: past a student's share, up to the server's
    with pytest.raises(DLCoreError, match="^This server keeps 5 drawings"):
        store.add_drawing("bar", canvas("bar", 5))
    assert len(store.drawings()) == 5


def test_the_server_bound_holds_for_students_too(monkeypatch):
    monkeypatch.setattr(drawings, "MAX_DRAWINGS", 2)
    store = RunStore()
    fill(store, {"circle": 1}, "Ana", "browser-a")
    fill(store, {"cross": 1}, "Ben", "browser-b")
    with pytest.raises(DLCoreError, match="^This server keeps 2 drawings"):
        store.add_drawing("bar", canvas("bar"), "Cleo", "browser-c")


def test_a_blank_or_nearly_blank_drawing_is_refused():
    store = RunStore()
    blank = np.zeros((280, 280, 4), dtype=np.uint8)
    faint = canvas("circle") // 20  # strokes too faint to tell from the background
    speck = blank.copy()
    speck[100:104, 100:104] = 255  # a stray click
    for picture in (blank, faint, speck):
        with pytest.raises(DLCoreError) as refusal:
            store.add_drawing("circle", picture)
        assert str(refusal.value) == EMPTY
    assert store.drawings() == []


@pytest.mark.parametrize("image, words", [
    (canvas("circle").astype(np.float64), "8-bit"),
    (np.full((280, 280), np.nan), "8-bit"),
    (canvas("circle").astype(object), "8-bit"),
    (canvas("circle").tolist(), "not list"),
    ("circle.png", "not str"),
    (None, "not NoneType"),
    (np.zeros((1, 1), dtype=np.uint8), "1x1 pixels"),
    (np.broadcast_to(np.uint8(255), (5000, 5000, 4)), "5000x5000 pixels"),  # no memory: refused by its shape
    (np.zeros((280, 280, 2), dtype=np.uint8), "grayscale, RGB or RGBA"),
    (np.zeros((2, 280, 280, 4), dtype=np.uint8), "grayscale, RGB or RGBA"),
    (np.zeros(280, dtype=np.uint8), "grayscale, RGB or RGBA"),
])
def test_what_is_not_a_drawing_is_a_sentence(image, words):
    store = RunStore()
    with pytest.raises(DLCoreError, match=words) as refusal:
        store.add_drawing("circle", image)
    assert str(refusal.value).startswith("The drawing ")
    assert store.drawings() == []


def test_a_student_removes_only_their_own_and_the_teacher_any():
    store = RunStore()
    fill(store, {"circle": 2}, "Ana", "browser-a")
    fill(store, {"cross": 1}, "Ben", "browser-b")
    anas, other_anas, bens = (d.id for d in store.drawings())
    with pytest.raises(DLCoreError, match="someone else's"):
        store.remove_drawing(bens, sender="browser-a")
    with pytest.raises(DLCoreError, match="someone else's"):
        store.remove_drawing(anas, sender="")  # the command line's own are those it added
    store.remove_drawing(anas, sender="browser-a")
    store.remove_drawing(bens)  # the teacher
    assert [d.id for d in store.drawings()] == [other_anas]
    for missing in (anas, 0, -1, 10**30):
        with pytest.raises(DLCoreError, match="no drawing"):
            store.remove_drawing(missing)


def test_the_teacher_removes_a_class():
    store = RunStore()
    fill(store, {"circle": 3, "cross": 2})
    assert store.remove_class("circle") == 3
    assert store.drawing_classes() == {"cross": 2}
    with pytest.raises(DLCoreError, match="no class 'circle'"):
        store.remove_class("circle")


def test_freezing_tests_every_fifth_drawing_of_each_class_from_its_third():
    store = RunStore()
    fill(store, {"circle": 8, "cross": 3, "bar": 2})
    kept = store.drawings()
    name = drawings.freeze(kept)
    assert name.startswith("drawings-") and len(name) == len("drawings-") + 16
    dataset = data.load(name)
    circles = [d for d in kept if d.label == "circle"]
    crosses = [d for d in kept if d.label == "cross"]
    tested = [circles[2], circles[7], crosses[2]]
    assert dataset.test_labels.tolist() == [0, 0, 1]  # bar's two drawings all train
    assert torch.equal(dataset.test_images, torch.from_numpy(np.stack([d.pixels for d in tested])))
    assert dataset.train_labels.tolist() == [0] * 6 + [1] * 2 + [2] * 2
    assert dataset.train_images.dtype == torch.uint8 and dataset.train_labels.dtype == torch.int64
    assert "every fifth" in dataset.test_source
    assert drawings.freeze(list(reversed(kept))) == name  # the same drawings, the same dataset
    assert drawings.freeze(kept[1:]) != name


def test_holding_out_a_student_tests_on_their_drawings_alone():
    store = RunStore()
    fill(store, {"circle": 3, "cross": 3}, "Ana", "browser-a")
    fill(store, {"circle": 2, "cross": 1}, "Ben", "browser-b")
    name = drawings.freeze(store.drawings(), hold_out="Ben")
    dataset = data.load(name)
    assert (len(dataset.train_labels), len(dataset.test_labels)) == (6, 3)
    assert dataset.test_labels.tolist() == [0, 0, 1] and dataset.test_source == "the 3 drawings by Ben"
    with np.load(drawings.home() / "drawings" / f"{name.removeprefix('drawings-')}.npz", allow_pickle=False) as saved:
        assert saved["test_students"].tolist() == ["Ben"] * 3
        assert saved["train_students"].tolist() == ["Ana"] * 6
    assert name != drawings.freeze(store.drawings())


def test_freezing_refuses_too_few_classes_or_drawings():
    store = RunStore()
    fill(store, {"circle": 5}, "Ana", "browser-a")
    with pytest.raises(DLCoreError, match="2 to 10 classes and these drawings have 1"):
        drawings.freeze(store.drawings())
    fill(store, {"cross": 1}, "Ana", "browser-a")
    with pytest.raises(DLCoreError, match="'cross' has 1 drawings to train on"):
        drawings.freeze(store.drawings())
    fill(store, {"cross": 2}, "Ben", "browser-b")
    with pytest.raises(DLCoreError, match="'cross' has 1 drawings to train on"):
        drawings.freeze(store.drawings(), hold_out="Ben")  # Ben's crosses test: Ana's one is all that trains
    with pytest.raises(DLCoreError, match="No drawing here is by 'Cleo'"):
        drawings.freeze(store.drawings(), hold_out="Cleo")
    assert not (drawings.home() / "drawings").exists() or not any((drawings.home() / "drawings").iterdir())


def test_a_frozen_dataset_is_served_by_data_as_digits_are():
    store = RunStore()
    fill(store, {"cross": 4, "circle": 3}, "Ana", "browser-a")
    name = drawings.freeze(store.drawings())
    described = data.info(name)
    assert described.classes == ("cross", "circle")
    assert described.title == "The class's drawings (2 classes, 7 drawings)"
    assert (described.mean, described.std) == MNIST_STATS
    loaded = data.load(name)
    assert isinstance(loaded, data.Dataset) and loaded.info == described
    train_x, train_y, test_x, test_y = loaded.tensors()
    assert train_x.shape == (5, 1, 28, 28) and test_x.shape == (2, 1, 28, 28)
    assert data.sizes(name) == (5, 2)
    status = data.status(name)
    assert status.available and status.where == "5 drawings by 1 of the class"
    assert list((drawings.home() / "drawings").iterdir()) == [drawings.home() / "drawings" / f"{name[9:]}.npz"]


def test_a_dataset_frozen_elsewhere_is_a_sentence(monkeypatch, tmp_path):
    store = RunStore()
    fill(store, {"cross": 3, "circle": 3})
    name = drawings.freeze(store.drawings())
    assert data.load(name).info.classes == ("cross", "circle")
    monkeypatch.setenv("DLCORE_HOME", str(tmp_path / "another-server"))  # read before: not served from memory
    with pytest.raises(DLCoreError, match=f"^The drawings of {name} are not on this server any more"):
        data.load(name)
    status = data.status(name)
    assert not status.available and "not on this server" in status.where


@pytest.mark.parametrize("name", ["drawings-../../etc", "drawings-../../etc/passwd", "drawings-0123456789ABCDEF",
                                  "drawings-0123456789abcde", "drawings-0123456789abcdef\n", "drawings-"])
def test_a_malformed_name_never_reaches_the_file_system(name, dlcore_home, monkeypatch):
    store = RunStore()
    fill(store, {"cross": 3, "circle": 3})
    frozen = drawings.home() / "drawings" / f"{drawings.freeze(store.drawings())[9:]}.npz"
    # Where each name would lead, were it joined to the folder as it is: a real dataset's file waits there.
    for target in (drawings.home() / "drawings" / "../../etc.npz", dlcore_home.parent / "etc" / "passwd.npz",
                   drawings.home() / "drawings" / "0123456789ABCDEF.npz",
                   drawings.home() / "drawings" / "0123456789abcde.npz"):
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(frozen.read_bytes())
    monkeypatch.setattr(np, "load", lambda *args, **kwargs: pytest.fail("a malformed name was looked up"))
    with pytest.raises(DLCoreError, match="is not a drawings dataset"):
        data.load(name)
    with pytest.raises(DLCoreError, match="is not a drawings dataset"):
        data.info(name)


def save(path, picture: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(picture).save(path)


def test_a_folder_of_pictures_is_a_dataset(tmp_path):
    folder = tmp_path / "symbols"
    for number, file in enumerate(("a.png", "b.png", "d.png")):
        save(folder / "star" / file, canvas("cross", 4 * number))  # RGBA, as the canvas
    save(folder / "star" / "c-scan.PNG", 255 - ink("cross", 20))  # a dark-on-light scan: star's third, so it tests
    save(folder / "ring" / "a.jpg", np.dstack([255 - ink("circle")] * 3))
    save(folder / "ring" / "b.png", ink("circle", 8))
    save(folder / "ring" / ".hidden.png", np.zeros((280, 280), dtype=np.uint8))  # blank: refused, were it read
    (folder / "ring" / "notes.txt").write_text("not a picture")
    (folder / ".thumbnails").mkdir()
    name = drawings.read_folder(folder)
    dataset = data.load(name)
    assert dataset.info.classes == ("ring", "star")  # the subfolders' names, in order
    assert (len(dataset.train_labels), len(dataset.test_labels)) == (5, 1)  # ring's two all train
    assert dataset.source == "5 drawings from the command line" and dataset.test_labels.tolist() == [1]
    scan = dataset.test_images[0].numpy().astype(int)
    drawn = drawings.picture(canvas("cross", 20)).astype(int)
    assert np.abs(scan - drawn).max() <= 1  # inverted, then made exactly as the canvas's


def test_a_folders_bounds_are_counted_before_any_picture_is_decoded(tmp_path, monkeypatch):
    monkeypatch.setattr(drawings, "MAX_CLASSES", 2)
    monkeypatch.setattr(drawings, "MAX_DRAWINGS", 4)
    monkeypatch.setattr(preprocess, "read", lambda *args, **kwargs: pytest.fail("a picture was decoded"))
    folder = tmp_path / "symbols"
    for label in ("a", "b", "c"):
        (folder / label).mkdir(parents=True)
    with pytest.raises(DLCoreError, match="more than 2 subfolders"):
        drawings.read_folder(folder)
    (folder / "c").rmdir()
    for label, count in (("a", 3), ("b", 2)):
        for number in range(count):
            (folder / label / f"{number}.png").write_bytes(b"unread")
    with pytest.raises(DLCoreError, match="more than 4 pictures"):
        drawings.read_folder(folder)


def test_a_bad_folder_is_a_sentence(tmp_path):
    with pytest.raises(DLCoreError, match="is not a folder"):
        drawings.read_folder(tmp_path / "missing")
    folder = tmp_path / "symbols"
    save(folder / "ring" / "a.png", ink("circle"))
    (folder / "star").mkdir()
    with pytest.raises(DLCoreError, match="star has no PNG or JPEG pictures"):
        drawings.read_folder(folder)
    save(folder / "star" / "a.png", np.zeros((280, 280), dtype=np.uint8))
    with pytest.raises(DLCoreError, match="^star/a.png is empty"):
        drawings.read_folder(folder)
    (folder / "star" / "a.png").write_bytes(b"not a picture")
    with pytest.raises(DLCoreError, match="^star/a.png is not an image"):
        drawings.read_folder(folder)


def test_the_frozen_sets_are_bounded_on_disk(monkeypatch):
    store = RunStore()
    fill(store, {"circle": 3, "cross": 3})
    first = drawings.freeze(store.drawings())
    monkeypatch.setenv("DLCORE_MAX_DRAWINGS_MB", "0")
    assert drawings.freeze(store.drawings()) == first  # a set already kept costs nothing more
    fill(store, {"bar": 3})
    with pytest.raises(DLCoreError, match="DLCORE_MAX_DRAWINGS_MB"):
        drawings.freeze(store.drawings())
