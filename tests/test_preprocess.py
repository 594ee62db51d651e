"""MNIST-style preprocessing: every kind of picture a user can give ends up as a centred 20x20-in-28x28 digit."""

import io
import subprocess
import sys
import warnings

import numpy as np
import pytest
from PIL import ExifTags, Image, ImageDraw
from scipy import ndimage

from dlcore import preprocess
from dlcore.config import DLCoreError
from tests.conftest import REPO

MEAN, STD = 0.1307, 0.3081


def seven(size: int = 280, top: int = 60, left: int = 80, scale: int = 6) -> np.ndarray:
    """A light-on-dark '7' drawn with thick strokes on a size x size black canvas."""
    canvas = np.zeros((size, size), dtype=np.uint8)
    canvas[top : top + 3 * scale, left : left + 20 * scale] = 255  # the bar
    for row in range(top, top + 28 * scale):  # the diagonal stroke
        col = left + 20 * scale - (row - top) * 12 // 28
        canvas[row, max(col - 2 * scale, 0) : col] = 255
    return canvas


def as_rgba_canvas(ink: np.ndarray) -> np.ndarray:
    """How the drawing canvas hands a drawing over: white strokes, alpha = ink, transparent elsewhere."""
    white = np.full_like(ink, 255)
    return np.dstack([white, white, white, ink])


def png_bytes(array: np.ndarray, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt)
    return buffer.getvalue()


def ink_box(field: np.ndarray) -> tuple[int, int]:
    rows = np.flatnonzero((field > 0).any(axis=1))
    cols = np.flatnonzero((field > 0).any(axis=0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def assert_mnist_like(steps: preprocess.Steps) -> None:
    assert steps.centred.shape == (28, 28) and steps.normalized.shape == (28, 28)
    assert max(steps.scaled.shape) == 20 and max(ink_box(steps.centred)) <= 20
    cy, cx = ndimage.center_of_mass(steps.centred)
    assert 13.5 <= cy <= 14.5 and 13.5 <= cx <= 14.5  # where MNIST's own centres of mass lie
    assert steps.centred.max() == pytest.approx(255, abs=1)
    assert steps.normalized.min() == pytest.approx(-MEAN / STD, abs=1e-5)  # the background, as in training


@pytest.mark.parametrize("blank", [
    np.zeros((280, 280, 4), dtype=np.uint8),  # the cleared canvas: all transparent
    np.zeros((280, 280), dtype=np.uint8),
    np.full((50, 80, 3), 255, dtype=np.uint8),  # white paper
    np.full((64, 64), 128, dtype=np.uint8) + np.random.default_rng(0).integers(0, 8, (64, 64)).astype(np.uint8),
], ids=["transparent-rgba", "black-l", "white-rgb", "flat-grey-noise"])
def test_blank_pictures_ask_for_a_digit(blank):
    with pytest.raises(preprocess.EmptyImageError, match="draw a digit"):
        preprocess.mnist_style(blank, MEAN, STD)


def test_off_centre_digit_is_cropped_scaled_and_centred():
    corner = seven(top=150, left=150, scale=4)  # bottom-right corner of the canvas
    steps = preprocess.mnist_style(corner, MEAN, STD)
    assert not steps.inverted and steps.cropped.shape == (28 * 4, 20 * 4)
    assert steps.scaled.shape == (20, 14)  # aspect ratio kept: 112x80 -> 20x14
    assert_mnist_like(steps)


def test_tiny_picture_is_enlarged_to_the_20x20_box():
    tiny = np.zeros((6, 5), dtype=np.uint8)
    tiny[1:5, 2] = 255  # a 4-pixel '1'
    steps = preprocess.mnist_style(tiny, MEAN, STD)
    assert steps.cropped.shape == (4, 1) and steps.scaled.shape == (20, 5)
    assert_mnist_like(steps)


def test_light_background_is_inverted_to_the_same_input():
    dark_on_light = 255 - seven()
    light, dark = preprocess.mnist_style(seven(), MEAN, STD), preprocess.mnist_style(dark_on_light, MEAN, STD)
    assert dark.inverted and not light.inverted
    np.testing.assert_allclose(dark.normalized, light.normalized, atol=1e-4)


def test_faint_pencil_on_grey_paper_is_stretched_to_full_ink():
    paper = np.full((200, 160), 200, dtype=np.uint8)
    paper[40:160, 70:82] = 120  # a grey '1' on light grey paper
    steps = preprocess.mnist_style(paper, MEAN, STD)
    assert steps.inverted and steps.centred.max() == pytest.approx(255, abs=1)
    assert_mnist_like(steps)


@pytest.mark.parametrize("look", ["L", "RGB", "RGBA-canvas", "RGBA-dark-ink", "RGB-dark-on-light", "L-float"])
def test_every_colour_mode_gives_the_same_input(look):
    ink = seven()
    pictures = {
        "L": ink,
        "RGB": np.dstack([ink] * 3),
        "RGBA-canvas": as_rgba_canvas(ink),
        "RGBA-dark-ink": np.dstack([np.zeros_like(ink)] * 3 + [ink]),  # black strokes on a transparent background
        "RGB-dark-on-light": np.dstack([255 - ink] * 3),
        "L-float": ink.astype(np.float32) / 255.0,
    }
    reference = preprocess.mnist_style(ink, MEAN, STD)
    steps = preprocess.mnist_style(pictures[look], MEAN, STD)
    np.testing.assert_allclose(steps.normalized, reference.normalized, atol=1e-3)


def test_naive_resize_squashes_the_whole_picture():
    small, model_input = preprocess.naive(seven(top=150, left=150, scale=4), MEAN, STD)
    assert small.shape == model_input.shape == (28, 28)
    assert ndimage.center_of_mass(small)[0] > 17  # still in the bottom-right corner, unlike an MNIST digit
    np.testing.assert_allclose(model_input, (small / 255 - MEAN) / STD, rtol=1e-5)


def test_pictures_are_uint8_and_crisp():
    steps = preprocess.mnist_style(seven(), MEAN, STD)
    pictures = steps.pictures()
    assert len(pictures) == 5 and all(image.dtype == np.uint8 and image.shape == (112, 112) for _, image in pictures)
    centred = pictures[-1][1]
    assert centred.shape == (112, 112) and np.array_equal(centred[::4, ::4], steps.centred.astype(np.uint8))


# ---- decoding files ------------------------------------------------------------------------------

def test_decode_keeps_transparency_and_reads_jpeg():
    rgba = as_rgba_canvas(seven())
    assert np.array_equal(preprocess.decode(png_bytes(rgba)), rgba)
    jpeg = preprocess.decode(png_bytes(np.dstack([255 - seven()] * 3), "JPEG"))
    assert jpeg.shape == (280, 280) and jpeg.dtype == np.uint8
    assert preprocess.mnist_style(jpeg, MEAN, STD).inverted


def test_decode_16_bit_grayscale():
    wide = (seven().astype(np.uint16) * 257)
    buffer = io.BytesIO()
    Image.fromarray(wide).save(buffer, format="PNG")
    decoded = preprocess.decode(buffer.getvalue())
    assert decoded.dtype == np.uint8 and decoded.max() == 255 and decoded.min() == 0


@pytest.mark.parametrize("content, words", [
    (b"", r"is empty \(0 bytes\)"),
    (b"this is a text file, not a picture", "not an image"),
    (png_bytes(seven())[:400], "damaged or cut short"),
])
def test_bad_files_get_one_sentence(content, words):
    with pytest.raises(DLCoreError, match=words) as error:
        preprocess.decode(content, "digit.png")
    assert str(error.value).startswith("digit.png") and "\n" not in str(error.value)


def test_huge_picture_is_refused_before_decoding():
    buffer = io.BytesIO()
    Image.new("1", (10_000, 5_000)).save(buffer, format="PNG")  # 50 megapixels in a few kilobytes
    with pytest.raises(DLCoreError, match="50-megapixel|megapixel limit"):
        preprocess.decode(buffer.getvalue(), "huge.png")


def test_a_decompression_bomb_warning_is_a_sentence_too():
    """Between Pillow's own limits (89-179 megapixels) it only warns; where warnings are errors, still a sentence."""
    buffer = io.BytesIO()
    Image.new("1", (10_000, 10_000)).save(buffer, format="PNG")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with pytest.raises(DLCoreError, match="too many pixels|megapixel limit"):
            preprocess.decode(buffer.getvalue(), "bomb.png")


def worst_upload(orientation: int = 1) -> bytes:
    """The issue's 25-megapixel RGBA PNG: about 110 KB as a file, 100 MB as pixels; with an EXIF orientation
    other than 1, a camera's note to turn it."""
    picture = Image.new("RGBA", (5000, 5000), (0, 0, 0, 0))
    ImageDraw.Draw(picture).line([(1500, 1200), (3500, 1200), (2200, 3800)], fill=(255, 255, 255, 255), width=300)
    return _with_orientation(picture, orientation)


def _with_orientation(picture: Image.Image, orientation: int) -> bytes:
    """The picture as a PNG whose EXIF says how to turn it (1: as it is, with no EXIF at all)."""
    exif = Image.Exif()
    if orientation != 1:
        exif[ExifTags.Base.Orientation] = orientation
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", exif=exif)
    return buffer.getvalue()


PEAK = """
import resource, sys
from dlcore import preprocess
data = open(sys.argv[1], "rb").read()
baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
picture = preprocess.decode(data, "upload.png")
preprocess.mnist_style(picture, 0.1307, 0.3081)
preprocess.naive(picture, 0.1307, 0.3081)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - baseline) // 1024, picture.shape)
"""


def upload_peak(path) -> tuple[int, str]:
    """(MB the process's peak resident memory rose by, the decoded shape) for one upload, in a fresh process, so
    Pillow's own buffers count."""
    result = subprocess.run([sys.executable, "-c", PEAK, str(path)], cwd=REPO, capture_output=True, text=True, check=True)
    peak_mb, shape = result.stdout.split(maxsplit=1)
    return int(peak_mb), shape.strip()


def test_a_25_megapixel_upload_costs_under_200_mb(tmp_path):
    """Before: ~870 MB."""
    path = tmp_path / "upload.png"
    path.write_bytes(worst_upload())
    assert path.stat().st_size < 200_000
    peak_mb, shape = upload_peak(path)
    assert peak_mb < 200 and shape == "(1000, 1000, 4)"


def test_a_turned_upload_costs_what_an_unturned_one_does(tmp_path):
    """The camera's turn is made after the shrink, on a 1000x1000 copy (before: +191 MB against +111 MB)."""
    plain, turned = tmp_path / "plain.png", tmp_path / "turned.png"
    plain.write_bytes(worst_upload())
    turned.write_bytes(worst_upload(orientation=6))
    (plain_mb, plain_shape), (turned_mb, turned_shape) = upload_peak(plain), upload_peak(turned)
    assert turned_shape == plain_shape == "(1000, 1000, 4)"
    assert turned_mb <= plain_mb + 16  # turning the shrunk copy costs 4 MB; turning the upload cost 100


@pytest.mark.parametrize("orientation, turn", [(2, np.fliplr), (3, lambda a: np.rot90(a, 2)),
                                               (6, lambda a: np.rot90(a, -1)), (8, np.rot90)])
def test_a_turned_upload_is_shrunk_then_turned(orientation, turn):
    """Exactly the unturned upload's shrunk array, turned: 2999x1501 does not split into whole 3x3 blocks, so
    turning first would average different blocks."""
    rng = np.random.default_rng(0)
    picture = Image.fromarray(rng.integers(0, 256, size=(1501, 2999), dtype=np.uint8))
    shrunk = preprocess.decode(_with_orientation(picture, 1))
    assert shrunk.shape == (501, 1000)
    assert np.array_equal(preprocess.decode(_with_orientation(picture, orientation)), turn(shrunk))


def test_large_pictures_are_shrunk_while_decoding_and_read_the_same():
    small = as_rgba_canvas(seven())
    big = np.kron(small, np.ones((8, 8, 1), dtype=np.uint8))  # 2240x2240: shrunk by 3 while decoding
    decoded = preprocess.decode(png_bytes(big))
    assert decoded.shape == (747, 747, 4) and max(decoded.shape) <= preprocess.WORKING_SIDE
    read_small, read_big = (preprocess.mnist_style(picture, MEAN, STD) for picture in (small, decoded))
    assert np.abs(read_small.centred - read_big.centred).mean() < 6  # of 255: the same digit, edges resampled
    assert_mnist_like(read_big)


def test_shrinking_averages_in_premultiplied_alpha():
    """A transparent pixel's colour (red here, invisible) must not bleed into the ink's edges when blocks are averaged."""
    ink = np.kron(seven(160, 30, 40, 3), np.ones((7, 7), dtype=np.uint8))  # 1120x1120, stroke edges inside 2x2 blocks
    hidden_red = np.dstack([np.full_like(ink, 255), np.where(ink > 0, 255, 0), np.where(ink > 0, 255, 0), ink])
    shrunk = preprocess.to_gray(preprocess.decode(png_bytes(hidden_red.astype(np.uint8))))
    expected = preprocess.to_gray(as_rgba_canvas(ink)).reshape(560, 2, 560, 2).mean(axis=(1, 3))
    assert np.abs(shrunk - expected).max() <= 1  # averaging straight RGBA would be off by 44 at the edges


def test_pictures_up_to_the_working_side_are_decoded_untouched():
    rgba = as_rgba_canvas(np.kron(seven(256, 50, 60, 5), np.ones((4, 4), dtype=np.uint8)))  # 1024x1024
    assert np.array_equal(preprocess.decode(png_bytes(rgba)), rgba)


def test_large_jpeg_is_decoded_at_a_fraction_of_its_size():
    paper = 255 - np.kron(seven(), np.ones((12, 12), dtype=np.uint8))  # 3360x3360 dark ink on white
    decoded = preprocess.decode(png_bytes(paper, "JPEG"))
    assert decoded.ndim == 2 and max(decoded.shape) <= preprocess.WORKING_SIDE
    read_small, read_big = (preprocess.mnist_style(picture, MEAN, STD) for picture in (255 - seven(), decoded))
    assert read_big.inverted and np.abs(read_small.centred - read_big.centred).mean() < 6


def test_large_16_bit_grayscale_is_shrunk_and_stretched():
    wide = np.kron(seven().astype(np.uint16) * 257, np.ones((5, 5), dtype=np.uint16))  # 1400x1400
    buffer = io.BytesIO()
    Image.fromarray(wide).save(buffer, format="PNG")
    decoded = preprocess.decode(buffer.getvalue())
    assert decoded.shape == (700, 700) and decoded.dtype == np.uint8 and decoded.max() == 255 and decoded.min() == 0


@pytest.mark.parametrize("side", [280, 2800])
def test_camera_orientation_is_applied(side):
    """Phones store a portrait photo sideways with an EXIF note to turn it; small and shrunk pictures alike obey it."""
    upright = np.zeros((side, side // 2), dtype=np.uint8)
    upright[: side // 4] = 255  # ink across the top
    exif = Image.Exif()
    exif[0x0112] = 8  # 'turn 90 degrees counter-clockwise to view'
    buffer = io.BytesIO()
    Image.fromarray(np.rot90(upright, -1).copy()).save(buffer, format="JPEG", exif=exif)
    decoded = preprocess.decode(buffer.getvalue())
    assert decoded.shape[0] > decoded.shape[1] and decoded[: decoded.shape[0] // 5].mean() > 200


def test_oversized_file_is_refused():
    with pytest.raises(DLCoreError, match="MiB limit"):
        preprocess.decode(b"\x89PNG" + bytes(preprocess.MAX_FILE_BYTES), "big.png")


def test_read_missing_file(tmp_path):
    with pytest.raises(DLCoreError, match="Cannot read .*nothing.png"):
        preprocess.read(str(tmp_path / "nothing.png"))


# ---- canvas-style digits -------------------------------------------------------------------------

def test_canvas_style_digits_come_in_four_looks_and_preprocess_back():
    yy, xx = np.mgrid[:28, :28]
    digit = np.where(np.abs(np.hypot((yy - 14) / 9, (xx - 14) / 6) - 1) < 0.25, 255, 0).astype(np.uint8)  # a 0
    rng = np.random.default_rng(0)
    looks = [preprocess.canvas_style(digit, rng, variant) for variant in range(4)]
    assert [look.shape for look in looks] == [(280, 280, 4), (280, 280), (280, 280, 3), (280, 280)]
    assert looks[0][0, 0, 3] == 0 and looks[1][0, 0] == 0 and looks[2][0, 0, 0] == 255 and looks[3][0, 0] == 255
    for look in looks:
        steps = preprocess.mnist_style(look, MEAN, STD)
        assert steps.inverted == (look.ndim == 2 and look[0, 0] == 255 or look.ndim == 3 and look.shape[2] == 3)
        assert_mnist_like(steps)
