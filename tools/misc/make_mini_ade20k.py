"""Deterministic generator of a small ADE20K-format semantic segmentation set.

Every image is a scene: a smooth sky above a wavy horizon, grainy ground
below it, and a few shapes (ellipses, rotated rectangles and triangles) in
front. A shape's class is its texture, not its colour: stripes, a
checkerboard or dots, each drawn with two random colours, at a random
angle and period. Some shapes are flat-coloured clutter, labelled 0 like
ADE20K's "other" pixels. Colours are random everywhere, so no colour
threshold separates the classes; telling them apart needs the local
pattern (and, for sky and ground, the smoothness and position).

The layout is mmseg's ADE20K layout::

    OUT/images/{training,validation}/mini_ade_{train,val}_NNNNNNNN.jpg
    OUT/annotations/{training,validation}/mini_ade_{train,val}_NNNNNNNN.png

The annotation PNGs are single-channel: 0 is "other" (ignored with
``reduce_zero_label=True``, as for ADE20K) and 1..K are the classes of
``CLASSES`` in order.

Each image is drawn from its own random stream, seeded by ``(seed, split,
index)``, so the output depends only on the parameters: a rerun writes the
same bytes, and the training and validation splits never share an image.

Usage::

    python tools/misc/make_mini_ade20k.py --out data/mini_ade20k

A second run with the same parameters finds the set in place and writes
nothing. Only numpy and Pillow are needed.
"""
import os
import os.path as osp
import time
from dataclasses import dataclass

import numpy as np
from PIL import Image

# generated_set.py is next to this script, whose folder Python puts first on
# sys.path.
from generated_set import (PARAMS_FILE, clear_files, params_from_command_line,
                           pixel_grid, regenerate)

GENERATOR_VERSION = 1
CLASSES = ('sky', 'ground', 'stripes', 'checkerboard', 'dots')
OTHER = 0
SKY, GROUND, STRIPES, CHECKERBOARD, DOTS = range(1, len(CLASSES) + 1)
TEXTURED_CLASSES = (STRIPES, CHECKERBOARD, DOTS)
SPLITS = {'training': 'train', 'validation': 'val'}
JPEG_QUALITY = 95

MIN_SHAPE_FRACTION = 0.3
MAX_SHAPE_FRACTION = 0.6
CLUTTER_PROBABILITY = 0.2
MIN_PERIOD, MAX_PERIOD = 8.0, 16.0
MIN_COLOUR_DISTANCE = 80.0


@dataclass(frozen=True)
class MiniADE20KParams:
    """Everything the generated set depends on."""

    num_train: int = 1000
    num_val: int = 200
    image_size: int = 128
    min_shapes: int = 3
    max_shapes: int = 6
    seed: int = 0
    version: int = GENERATOR_VERSION

    def num_images(self, split):
        """Number of images in ``split`` ('training' or 'validation')."""
        return self.num_train if split == 'training' else self.num_val


def random_colour(rng, avoid=None):
    """Random RGB colour, at least ``MIN_COLOUR_DISTANCE`` from ``avoid``."""
    while True:
        colour = rng.uniform(0, 255, size=3)
        if avoid is None or np.linalg.norm(colour - avoid) >= MIN_COLOUR_DISTANCE:
            return colour


def rotated_coordinates(xs, ys, angle):
    """Coordinates along and across the direction ``angle`` (radians)."""
    cos, sin = np.cos(angle), np.sin(angle)
    return xs * cos + ys * sin, -xs * sin + ys * cos


def two_colour_fill(pattern, rng):
    """RGB image with two contrasting random colours where ``pattern`` is
    False and True."""
    first = random_colour(rng)
    second = random_colour(rng, avoid=first)
    return np.where(pattern[..., None], second, first)


def stripes(xs, ys, rng):
    """Parallel stripes of random angle, period and duty cycle."""
    along, _ = rotated_coordinates(xs, ys, rng.uniform(0, np.pi))
    period = rng.uniform(MIN_PERIOD, MAX_PERIOD)
    phase = (along / period + rng.uniform()) % 1.0
    return two_colour_fill(phase < rng.uniform(0.35, 0.65), rng)


def checkerboard(xs, ys, rng):
    """Checkerboard of random angle and cell size."""
    along, across = rotated_coordinates(xs, ys, rng.uniform(0, np.pi / 2))
    cell = rng.uniform(MIN_PERIOD, MAX_PERIOD) / 2 + 1
    offset = rng.uniform(0, cell, size=2)
    parity = (np.floor((along + offset[0]) / cell)
              + np.floor((across + offset[1]) / cell)) % 2
    return two_colour_fill(parity == 1, rng)


def dots(xs, ys, rng):
    """Square lattice of round dots of random angle, spacing and radius."""
    along, across = rotated_coordinates(xs, ys, rng.uniform(0, np.pi / 2))
    spacing = rng.uniform(MIN_PERIOD, MAX_PERIOD)
    radius = spacing * rng.uniform(0.2, 0.32)
    offset = rng.uniform(0, spacing, size=2)
    dx = (along + offset[0]) % spacing - spacing / 2
    dy = (across + offset[1]) % spacing - spacing / 2
    return two_colour_fill(dx**2 + dy**2 <= radius**2, rng)


def flat(xs, ys, rng):
    """A single random colour (the clutter shapes)."""
    return np.broadcast_to(random_colour(rng), xs.shape + (3, ))


TEXTURES = {STRIPES: stripes, CHECKERBOARD: checkerboard, DOTS: dots,
            OTHER: flat}


def convex_polygon_mask(xs, ys, vertices):
    """Pixels inside the convex polygon whose vertices run counter-clockwise."""
    inside = np.ones(xs.shape, dtype=bool)
    for start, end in zip(vertices, np.roll(vertices, -1, axis=0)):
        edge = end - start
        cross = edge[0] * (ys - start[1]) - edge[1] * (xs - start[0])
        inside &= cross >= 0
    return inside


def polygon_around(centre, radius, angles):
    """Vertices at ``angles`` on a circle of ``radius`` around ``centre``."""
    return centre + radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def ellipse_mask(xs, ys, centre, size, rng):
    """Rotated ellipse whose longer axis is ``size``."""
    along, across = rotated_coordinates(xs - centre[0], ys - centre[1],
                                        rng.uniform(0, np.pi))
    half_long = size / 2
    half_short = half_long * rng.uniform(0.5, 1.0)
    return (along / half_long)**2 + (across / half_short)**2 <= 1


def rectangle_mask(xs, ys, centre, size, rng):
    """Rotated rectangle inscribed in a circle of diameter ``size``."""
    half_diagonal_angle = rng.uniform(0.5, np.pi / 4)
    rotation = rng.uniform(0, np.pi)
    angles = rotation + np.array([
        -half_diagonal_angle, half_diagonal_angle,
        np.pi - half_diagonal_angle, np.pi + half_diagonal_angle])
    return convex_polygon_mask(xs, ys, polygon_around(centre, size / 2, angles))


def triangle_mask(xs, ys, centre, size, rng):
    """Irregular triangle inscribed in a circle of diameter ``size``."""
    angles = (rng.uniform(0, 2 * np.pi) + np.arange(3) * 2 * np.pi / 3
              + rng.uniform(-0.3, 0.3, size=3))
    return convex_polygon_mask(xs, ys, polygon_around(centre, size / 2, angles))


SHAPES = (ellipse_mask, rectangle_mask, triangle_mask)


def sky(xs, ys, rng):
    """Smooth vertical gradient between two random colours."""
    top, bottom = random_colour(rng), random_colour(rng)
    weight = (ys / ys.max())[..., None]
    return top * (1 - weight) + bottom * weight


def ground(xs, ys, rng):
    """Grainy texture: a random colour with soft blotches and fine grain."""
    size = xs.shape[0]
    return random_colour(rng) + blotches(size, rng) + rng.normal(
        0, 20, size=(size, size, 3))


def blotches(size, rng, cell=8, std=25.0):
    """Smooth colour variation: coarse noise bilinearly upsampled to ``size``."""
    coarse = rng.normal(0, std, size=(size // cell + 2, size // cell + 2, 3))
    position = np.arange(size) / cell
    low = np.floor(position).astype(int)
    weight = (position - low)[:, None]
    rows = coarse[low] * (1 - weight[..., None]) + coarse[low + 1] * weight[..., None]
    columns = rows[:, low] * (1 - weight[None]) + rows[:, low + 1] * weight[None]
    return columns


def horizon_mask(xs, ys, rng):
    """Pixels below a wavy horizon line at a random height."""
    size = xs.shape[0]
    height = rng.uniform(0.25, 0.7) * size
    amplitude = rng.uniform(0, 0.08) * size
    wavelength = rng.uniform(0.5, 1.5) * size
    phase = rng.uniform(0, 2 * np.pi)
    return ys >= height + amplitude * np.sin(2 * np.pi * xs / wavelength + phase)


def lighting(xs, ys, rng):
    """Brightness factor: a random level with a linear slope across the image."""
    size = xs.shape[0]
    slope_x, slope_y = rng.uniform(-0.2, 0.2, size=2)
    return (rng.uniform(0.8, 1.2) + slope_x * (xs / size - 0.5)
            + slope_y * (ys / size - 0.5))


def random_shape_mask(xs, ys, rng):
    """Mask of one shape of random kind, size and position."""
    image_size = xs.shape[0]
    size = rng.uniform(MIN_SHAPE_FRACTION, MAX_SHAPE_FRACTION) * image_size
    centre = rng.uniform(0, image_size, size=2)
    return SHAPES[rng.integers(len(SHAPES))](xs, ys, centre, size, rng)


def shape_label(rng):
    """Class of a shape: clutter (OTHER) or one of the textured classes."""
    if rng.uniform() < CLUTTER_PROBABILITY:
        return OTHER
    return int(rng.choice(TEXTURED_CLASSES))


def render_scene(params, rng):
    """Render one scene; return the image (uint8 HxWx3) and its label map."""
    xs, ys = pixel_grid(params.image_size)
    below_horizon = horizon_mask(xs, ys, rng)
    canvas = np.where(below_horizon[..., None], ground(xs, ys, rng),
                      sky(xs, ys, rng))
    labels = np.where(below_horizon, GROUND, SKY).astype(np.uint8)
    num_shapes = int(rng.integers(params.min_shapes, params.max_shapes + 1))
    for _ in range(num_shapes):
        mask = random_shape_mask(xs, ys, rng)
        label = shape_label(rng)
        canvas[mask] = TEXTURES[label](xs, ys, rng)[mask]
        labels[mask] = label
    noise = rng.normal(0, 6, size=canvas.shape)
    image = canvas * lighting(xs, ys, rng)[..., None] + noise
    return np.clip(np.rint(image), 0, 255).astype(np.uint8), labels


def split_seed(params, split, index):
    """Seed material for one image, unique per (seed, split, index)."""
    return [params.seed, list(SPLITS).index(split), index]


def file_stem(split, index):
    """Name (without suffix) of image ``index`` of ``split``."""
    return f'mini_ade_{SPLITS[split]}_{index:08d}'


def image_dir(out_dir, split):
    """Directory of the JPEG images of ``split``."""
    return osp.join(out_dir, 'images', split)


def annotation_dir(out_dir, split):
    """Directory of the PNG label maps of ``split``."""
    return osp.join(out_dir, 'annotations', split)


def generate_split(params, split, out_dir):
    """Write the images and label maps of ``split``."""
    for directory in (image_dir(out_dir, split), annotation_dir(out_dir, split)):
        os.makedirs(directory, exist_ok=True)
        clear_files(directory, ['.jpg', '.png'])
    for index in range(params.num_images(split)):
        rng = np.random.default_rng(split_seed(params, split, index))
        image, labels = render_scene(params, rng)
        stem = file_stem(split, index)
        Image.fromarray(image).save(
            osp.join(image_dir(out_dir, split), stem + '.jpg'),
            quality=JPEG_QUALITY)
        Image.fromarray(labels, mode='L').save(
            osp.join(annotation_dir(out_dir, split), stem + '.png'))


def is_complete(params, out_dir):
    """Whether ``out_dir`` holds every file of a set made with ``params``."""
    return all(
        osp.isdir(directory)
        and len(os.listdir(directory)) == params.num_images(split)
        for split in SPLITS
        for directory in (image_dir(out_dir, split),
                          annotation_dir(out_dir, split)))


def generate_mini_ade20k(params, out_dir, force=False):
    """Generate the set under ``out_dir`` unless it is already there.

    Returns True when files were written, False when the existing set was kept.
    """

    def write():
        for split in SPLITS:
            generate_split(params, split, out_dir)

    return regenerate(params, osp.join(out_dir, PARAMS_FILE), write,
                      lambda: is_complete(params, out_dir), force)


def main():
    """Generate (or keep) the set and say which happened; the defaults of
    the options are the ones the mini configs expect."""
    params, out, force = params_from_command_line(
        __doc__.splitlines()[0], MiniADE20KParams(), 'data/mini_ade20k')
    start = time.perf_counter()
    if generate_mini_ade20k(params, out, force=force):
        print(f'mini-ade20k written to {out} '
              f'({params.num_train} training, {params.num_val} validation '
              f'images, {time.perf_counter() - start:.1f}s)')
    else:
        print(f'mini-ade20k already up to date in {out}')


if __name__ == '__main__':
    main()
