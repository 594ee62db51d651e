"""The live pictures drawn on the server (ui/pictures.py): GAN lab's square and the sparklines."""

from __future__ import annotations

import numpy as np

from ui import pictures

SIZE = 200


def gan(samples, pulls=None, mesh=None, **shown):
    heat = np.full((8, 8), 0.5)
    pulls = np.zeros_like(samples) if pulls is None else pulls
    mesh = np.zeros((0, 2, 2)) if mesh is None else mesh
    return np.asarray(pictures.gan_image(heat, np.zeros((0, 2)), samples, pulls, mesh, SIZE, **shown)).astype(int)


def purple_pixels(image) -> np.ndarray:
    return np.argwhere(np.abs(image - pictures.PURPLE).sum(axis=2) < 30)


def test_a_sample_off_the_square_is_drawn_at_its_edge():
    inside = purple_pixels(gan(np.array([[0.0, 0.0]])))
    flung = purple_pixels(gan(np.array([[100.0, 0.0]])))
    assert len(flung) > 0 and flung[:, 1].mean() > inside[:, 1].mean() + SIZE * 0.4  # at the right edge, same row


def test_the_heat_is_green_where_the_discriminator_says_real():
    heat = np.zeros((8, 8))
    heat[:, 4:] = 1.0  # real on the right half
    image = np.asarray(pictures.gan_image(heat, np.zeros((0, 2)), np.zeros((0, 2)), np.zeros((0, 2)),
                                          np.zeros((0, 2, 2)), SIZE)).astype(int)
    left, right = image[SIZE // 2, SIZE // 4 + 30], image[SIZE // 2, 3 * SIZE // 4 + 30]
    assert right[1] > right[0] and left[2] > left[1]  # green on the right; purple (blue over green) on the left


def test_the_arrows_and_the_mesh_can_be_left_out():
    samples, pulls = np.array([[0.0, 0.0]]), np.array([[1.0, 0.0]])
    mesh = np.array([[[-5.0, -5.0], [5.0, 5.0]]])
    full = gan(samples, pulls, mesh)
    assert not np.array_equal(full, gan(samples, pulls, mesh, show_pulls=False))
    assert not np.array_equal(full, gan(samples, pulls, mesh, show_mesh=False))
    assert np.array_equal(gan(samples, pulls, mesh, show_pulls=False, show_mesh=False), gan(samples))


def test_a_sparkline_says_so_when_empty_and_clips_values_over_its_top():
    empty = pictures.curves_image([([], (0, 0, 0))], "x", "nothing yet")
    assert empty.size == (420, 110)
    spiky = np.asarray(pictures.curves_image([([0.5, 5.0, 0.5], (255, 0, 0))], "up to {top}", "", top=1.0)).astype(int)
    red = np.argwhere((spiky[..., 0] > 200) & (spiky[..., 1] < 60))
    assert len(red) > 0 and red[:, 0].min() >= 10  # the spike held at the top, below the caption (else off the image)
