"""Turn any picture of a digit into a 28x28 input the way the MNIST digits themselves were made.

MNIST's authors size-normalised each digit to fit a 20x20 box (keeping its aspect ratio), then placed it in a
28x28 field with its centre of mass at the centre. A model trained on MNIST has only ever seen digits like
that, so a drawing must go through the same steps, each kept here so the app can show them. Also here: a
naive whole-image resize for comparison, safe decoding of uploaded files, and canvas-style digits made from
real MNIST digits to check that this preprocessing works.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError
from scipy import ndimage

from .config import CANVAS_SIZE, IMAGE_SIZE, DLCoreError, standardize

BOX = 20  # MNIST digits fit a 20x20 box inside the 28x28 field
CENTRE = 14.0  # where MNIST's centres of mass sit (measured: 13.5-14.5 on the test split)
MIN_CONTRAST = 24  # ink must differ from the background by this much (of 255) to count as a drawing
INK_FRACTION = 0.2  # pixels above this share of the ink's contrast decide the bounding box
MAX_FILE_BYTES = 10 * 2**20
MAX_PIXELS = 25_000_000  # about 5000x5000; checked from the header, before any pixel is decoded
WORKING_SIDE = 1024  # larger pictures are shrunk to this on decoding; a digit a tenth as wide is still 5x the 20x20 box


class EmptyImageError(DLCoreError):
    """There is no ink to read: a blank canvas or a flat picture."""


@dataclass(frozen=True)
class Steps:
    """Every intermediate image, so a learner can see what the model is actually given.

    All images are float32 in [0, 255] except `normalized`, which is what the model takes.
    """

    gray: np.ndarray  # the picture in grayscale, any size (transparency laid over the right background)
    inverted: bool  # whether the background was light and the picture was inverted
    ink: np.ndarray  # light ink on a dark (zero) background, contrast stretched
    cropped: np.ndarray  # the ink's bounding box
    scaled: np.ndarray  # fitted into 20x20, aspect ratio kept
    centred: np.ndarray  # 28x28, centre of mass at the centre
    normalized: np.ndarray  # 28x28 float32, standardised with the training data's mean and std

    def pictures(self) -> list[tuple[str, np.ndarray]]:
        """(a caption of a few words, uint8 image) per step, in order, ready to show side by side in a narrow strip."""
        return [
            ("grayscale", display(self.gray)),
            ("inverted" if self.inverted else "not inverted", display(self.ink)),
            ("cropped", display(self.cropped)),
            (f"into 20x20 ({self.scaled.shape[1]}x{self.scaled.shape[0]})", display(self.scaled)),
            ("centred in 28x28", display(self.centred)),
        ]


def to_gray(image: np.ndarray | Image.Image) -> np.ndarray:
    """L, RGB or RGBA (H, W[, C]) of any size -> float32 (H, W) in [0, 255].

    Transparent pixels are laid over a background that contrasts with the ink: black under light ink (the
    canvas draws white strokes on a transparent background), white under dark ink.
    """
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim == 2:
        gray = array.astype(np.float32)
        alpha = None
    elif array.ndim == 3 and array.shape[2] in (3, 4):
        rgb = array[:, :, :3].astype(np.float32)
        gray = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R 601 luma, as Pillow's "L"
        alpha = array[:, :, 3].astype(np.float32) / 255.0 if array.shape[2] == 4 else None
    else:
        raise DLCoreError(f"An image must be grayscale, RGB or RGBA; got an array of shape {array.shape}.")
    if array.dtype != np.uint8:  # floats in [0, 1] or 16-bit integers
        top = float(gray.max()) if gray.size else 0.0
        gray = gray * (255.0 / (1.0 if top <= 1.0 else 65535.0 if top > 255 else 255.0))
    if gray.size == 0:
        raise EmptyImageError("The image has no pixels; draw a digit or upload a picture of one.")
    if alpha is not None and alpha.min() < 1.0:
        weight = alpha.sum()
        ink_level = float((gray * alpha).sum() / weight) if weight > 0 else 255.0
        background = 0.0 if ink_level >= 128 else 255.0
        gray = gray * alpha + background * (1.0 - alpha)
    return np.clip(gray, 0, 255).astype(np.float32)


def background_level(gray: np.ndarray) -> float:
    """The median of the border pixels: what the paper or canvas looks like around the digit."""
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    return float(np.median(border))


def mnist_style(image: np.ndarray | Image.Image, mean: float, std: float) -> Steps:
    """The MNIST recipe, step by step; raises EmptyImageError when there is no digit to read."""
    gray = to_gray(image)
    background = background_level(gray)
    inverted = background > 127
    ink = (background - gray) if inverted else (gray - background)
    ink = np.clip(ink, 0, None)
    contrast = float(ink.max())
    if contrast < MIN_CONTRAST:
        raise EmptyImageError("There is no digit in this image yet; draw a digit (or upload a picture of one).")
    strong = ink > INK_FRACTION * contrast
    ink = np.clip(ink * (255.0 / np.percentile(ink[strong], 99)), 0, 255).astype(np.float32)

    rows = np.flatnonzero(strong.any(axis=1))
    cols = np.flatnonzero(strong.any(axis=0))
    cropped = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]

    height, width = cropped.shape
    factor = BOX / max(height, width)
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    scaled = _resize(cropped, size)

    field = np.zeros((IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
    top, left = (IMAGE_SIZE - scaled.shape[0]) // 2, (IMAGE_SIZE - scaled.shape[1]) // 2
    field[top : top + scaled.shape[0], left : left + scaled.shape[1]] = scaled
    centred = centre_of_mass_to_centre(field)
    return Steps(gray, inverted, ink, cropped, scaled, centred, standardize(centred, mean, std))


def centre_of_mass_to_centre(field: np.ndarray) -> np.ndarray:
    """Move the ink by whole pixels so its centre of mass lands where MNIST's do."""
    cy, cx = ndimage.center_of_mass(field)
    shift = (round(CENTRE - cy), round(CENTRE - cx))
    return ndimage.shift(field, shift, order=0, mode="constant", cval=0.0).astype(np.float32)


def naive(image: np.ndarray | Image.Image, mean: float, std: float) -> tuple[np.ndarray, np.ndarray]:
    """What a quick script does: squash the whole picture to 28x28; returns (the 28x28 image, the model input)."""
    small = _resize(to_gray(image), (IMAGE_SIZE, IMAGE_SIZE))
    return small, standardize(small, mean, std)


def display(image: np.ndarray, size: int = 112) -> np.ndarray:
    """A float image as a size x size uint8 tile for the screen: enlarged by whole pixels (no blur) or shrunk to
    fit, then centred on light grey, so every step shows its own shape (white paper too) and all tiles line up."""
    height, width = image.shape
    factor = size // max(height, width)
    if factor >= 1:
        fitted = np.kron(np.clip(image, 0, 255), np.ones((factor, factor), dtype=np.float32))
    else:
        shrink = size / max(height, width)
        fitted = _resize(image, (max(1, round(width * shrink)), max(1, round(height * shrink))))
    tile = np.full((size, size), 200, dtype=np.uint8)
    top, left = (size - fitted.shape[0]) // 2, (size - fitted.shape[1]) // 2
    tile[top : top + fitted.shape[0], left : left + fitted.shape[1]] = np.clip(fitted, 0, 255).astype(np.uint8)
    return tile


def _resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Area-averaging bilinear resize of a float image to (width, height); Pillow antialiases when shrinking."""
    resized = Image.fromarray(np.ascontiguousarray(image, dtype=np.float32)).resize(size, Image.Resampling.BILINEAR)
    return np.clip(np.asarray(resized, dtype=np.float32), 0, 255)


# ---- files ---------------------------------------------------------------------------------------

def decode(data: bytes, name: str = "The file") -> np.ndarray:
    """Image file bytes -> an L or RGBA uint8 array, refusing files that are empty, broken or too big.

    A picture wider or taller than WORKING_SIDE comes back shrunk by a whole factor, averaged block by block
    (a JPEG is decoded at 1/2, 1/4 or 1/8 scale to begin with), so a 25-megapixel upload costs about what its
    decoded pixels weigh once, not ten full-size float copies; a camera's EXIF turn is made after the shrink.
    """
    if not data:
        raise DLCoreError(f"{name} is empty (0 bytes); choose a PNG or JPEG picture of a digit.")
    if len(data) > MAX_FILE_BYTES:
        raise DLCoreError(
            f"{name} is {len(data) / 2**20:.1f} MiB, over the {MAX_FILE_BYTES // 2**20} MiB limit; use a smaller picture."
        )
    try:
        with Image.open(io.BytesIO(data)) as picture:
            width, height = picture.size
            if width * height > MAX_PIXELS:
                raise DLCoreError(
                    f"{name} is {width}x{height} pixels, over the {MAX_PIXELS / 1e6:.0f}-megapixel limit; "
                    "use a smaller picture."
                )
            factor = -(-max(width, height) // WORKING_SIDE)  # ceiling division: 1 for ordinary pictures
            if factor > 1 and picture.format == "JPEG":
                picture.draft(picture.mode, (width // factor, height // factor))
            picture.load()
            orientation = picture.getexif().get(ExifTags.Base.Orientation, 1)  # read now: the shrunk copy has no EXIF
            wide = picture.mode in ("I", "I;16", "I;16B", "I;16L", "F")
            has_alpha = "A" in picture.getbands() or "transparency" in picture.info
            mode = "F" if wide else "RGBA" if has_alpha else "L"
            factor = -(-max(picture.size) // WORKING_SIDE)  # what the JPEG draft left to do
            if factor > 1:
                picture = _shrink(picture, mode, factor)
            _turn_upright(picture, orientation)
            if wide:
                return _wide_gray(np.asarray(picture, dtype=np.float32))
            return np.asarray(picture.convert(mode))
    except DLCoreError:
        raise
    except UnidentifiedImageError:
        raise DLCoreError(f"{name} is not an image Pillow can read; choose a PNG or JPEG picture.") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):  # the warning raises where warnings are errors
        raise DLCoreError(f"{name} has too many pixels to open safely; use a smaller picture.") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise DLCoreError(f"{name} is damaged or cut short ({exc}); save it again and retry.") from None


def _shrink(picture: Image.Image, mode: str, factor: int) -> Image.Image:
    """Average factor x factor blocks, one band of rows at a time, so no second full-size copy is ever made
    (Pillow's reduce of RGBA alone would make one: it averages in premultiplied alpha, so a transparent
    pixel's colour does not bleed into the ink)."""
    width, height = picture.size
    small = Image.new(mode, (-(-width // factor), -(-height // factor)))
    rows = factor * max(1, 2**20 // (width * factor))  # about 4 MB of RGBA per band
    for top in range(0, height, rows):
        band = picture.crop((0, top, width, min(height, top + rows))).convert(mode)
        small.paste(band.reduce(factor), (0, top // factor))
    return small


def _turn_upright(picture: Image.Image, orientation: int) -> None:
    """Turn the picture as its camera's EXIF orientation says, in place. Done after the shrink, where turning a
    5000x5000 upload would otherwise copy all of it: the orientation is set on the picture's own EXIF (which a
    shrunk copy lacks) so that Pillow's exif_transpose, with its table of the eight orientations, does the turning."""
    picture.getexif()[ExifTags.Base.Orientation] = orientation
    ImageOps.exif_transpose(picture, in_place=True)


def read(path: str, name: str | None = None) -> np.ndarray:
    """An image file from disk, with the same checks as an upload."""
    label = name or str(path)
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise DLCoreError(f"Cannot read {label} ({exc.strerror or exc}); check the path.") from None
    return decode(data, label)


def _wide_gray(array: np.ndarray) -> np.ndarray:
    """16-bit or float grayscale -> uint8, stretched to its own range."""
    low, high = float(array.min()), float(array.max())
    scale = 255.0 / (high - low) if high > low else 0.0
    return ((array - low) * scale).astype(np.uint8)


# ---- canvas-style digits from real ones ----------------------------------------------------------

def canvas_style(digit: np.ndarray, rng: np.random.Generator, variant: int) -> np.ndarray:
    """A real 28x28 MNIST digit redrawn as if on the 280x280 canvas or a photo of paper.

    Enlarged 3-9x, thickened like a brush (a grey dilation), placed anywhere, in one of four looks by
    `variant % 4`: the canvas's RGBA (white ink, transparent background), light-on-dark L, dark-on-light RGB,
    dark-on-light L.
    """
    factor = rng.uniform(3.0, 9.0)
    side = round(IMAGE_SIZE * factor)
    big = _resize(digit.astype(np.float32), (side, side))
    radius = int(rng.integers(0, max(1, round(factor / 3)) + 1))
    if radius:
        yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
        big = ndimage.grey_dilation(big, footprint=(yy**2 + xx**2) <= radius**2)
    rows = np.flatnonzero((big > 0).any(axis=1))
    cols = np.flatnonzero((big > 0).any(axis=0))
    big = big[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1][:CANVAS_SIZE, :CANVAS_SIZE]
    top = int(rng.integers(0, CANVAS_SIZE - big.shape[0] + 1))
    left = int(rng.integers(0, CANVAS_SIZE - big.shape[1] + 1))
    ink = np.zeros((CANVAS_SIZE, CANVAS_SIZE), dtype=np.float32)
    ink[top : top + big.shape[0], left : left + big.shape[1]] = big
    ink = np.clip(ink, 0, 255).astype(np.uint8)
    look = variant % 4
    if look == 0:
        white = np.full((CANVAS_SIZE, CANVAS_SIZE), 255, dtype=np.uint8)
        return np.dstack([white, white, white, ink])
    if look == 1:
        return ink
    paper = 255 - ink
    return np.dstack([paper, paper, paper]) if look == 2 else paper
