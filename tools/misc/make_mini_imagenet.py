"""Deterministic generator of a small ImageNet-format classification set.

Each class is a kind of shape: ``disc``, ``ring``, ``square``, ``triangle``,
``cross`` and ``bars`` (three parallel bars). Every image draws one shape of
random size, position, rotation and colour on a shaded, noisy background of
another random colour, plus a few thin random strokes as clutter. Colour,
size and position carry no information about the class, so a model has to
learn shape; a disc and a ring, or a square and a triangle at low
resolution, are easy to confuse early in training.

Layout (what mmpretrain's ``ImageNet`` dataset reads with ``split='train'``
or ``'val'``)::

    OUT/train/<class>/<class>_00000.png ...
    OUT/val/<class>/<class>_00000.png ...
    OUT/meta/train.txt   "train-relative path label" per line
    OUT/meta/val.txt
    OUT/meta/classes.txt one class name per line, in label order
    OUT/meta/params.json the parameters the set was made with

Each image comes from its own random stream seeded by ``(seed, split,
class, index)``, so the output depends only on the parameters. A second run
with the same parameters finds the set in place and writes nothing; other
parameters replace it.

Usage::

    python tools/misc/make_mini_imagenet.py            # data/mini_imagenet
    python tools/misc/make_mini_imagenet.py --out DIR --train-per-class 20
"""
import os
import os.path as osp
import shutil
from dataclasses import dataclass
from typing import Dict, List, Tuple

import numpy as np
from PIL import Image, ImageDraw

# generated_set.py is next to this script, whose folder Python puts first on
# sys.path.
from generated_set import (PARAMS_FILE, params_from_command_line, regenerate)

GENERATOR_VERSION = 1
CLASSES = ('disc', 'ring', 'square', 'triangle', 'cross', 'bars')
SPLITS = ('train', 'val')
SPLIT_IDS = {'train': 0, 'val': 1}

MIN_SIZE_FRACTION = 0.35  # shape diameter relative to the image side
MAX_SIZE_FRACTION = 0.75
MIN_COLOUR_DISTANCE = 100.0
NOISE_STD = 12.0
MAX_CLUTTER_STROKES = 3


@dataclass(frozen=True)
class MiniImageNetParams:
    """Everything the generated set depends on."""

    train_per_class: int = 120
    val_per_class: int = 40
    image_size: int = 72
    seed: int = 0
    version: int = GENERATOR_VERSION

    def per_class(self, split: str) -> int:
        """Images per class in ``split``."""
        return self.train_per_class if split == 'train' else \
            self.val_per_class


def image_rng(params: MiniImageNetParams, split: str, label: int,
              index: int) -> np.random.Generator:
    """The random stream of one image."""
    return np.random.default_rng(
        [params.seed, SPLIT_IDS[split], label, index, params.version])


def random_colour(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(0, 255, size=3)


def contrasting_colour(reference: np.ndarray,
                       rng: np.random.Generator) -> np.ndarray:
    """A colour at least MIN_COLOUR_DISTANCE away from ``reference``."""
    while True:
        colour = random_colour(rng)
        if np.linalg.norm(colour - reference) >= MIN_COLOUR_DISTANCE:
            return colour


def shaded_background(size: int, colour: np.ndarray,
                      rng: np.random.Generator) -> np.ndarray:
    """(size, size, 3) float image: ``colour`` with a random linear shade."""
    ramp = np.linspace(-1., 1., size)
    gx, gy = np.meshgrid(ramp, ramp)
    direction = rng.uniform(0, 2 * np.pi)
    shade = np.cos(direction) * gx + np.sin(direction) * gy
    strength = rng.uniform(10, 40)
    return colour[None, None] + strength * shade[..., None]


def rotate(points: np.ndarray, angle: float) -> np.ndarray:
    """Rotate (N, 2) points about the origin."""
    c, s = np.cos(angle), np.sin(angle)
    return points @ np.array([[c, s], [-s, c]])


def polygon(points: np.ndarray, centre: np.ndarray, radius: float,
            angle: float) -> List[Tuple[float, float]]:
    """Unit-radius ``points`` scaled, rotated and moved to ``centre``."""
    placed = rotate(points * radius, angle) + centre
    return [tuple(p) for p in placed]


def regular_polygon(sides: int) -> np.ndarray:
    angles = np.arange(sides) * 2 * np.pi / sides - np.pi / 2
    return np.stack([np.cos(angles), np.sin(angles)], axis=1)


def bar(x0: float, x1: float, y0: float, y1: float) -> np.ndarray:
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])


def shape_polygons(name: str) -> List[np.ndarray]:
    """Unit-radius polygons of a class (discs and rings are drawn as
    ellipses instead)."""
    if name == 'square':
        return [regular_polygon(4)]
    if name == 'triangle':
        return [regular_polygon(3)]
    if name == 'cross':
        return [bar(-1, 1, -.3, .3), bar(-.3, .3, -1, 1)]
    if name == 'bars':
        return [bar(-1, 1, y, y + .36) for y in (-.9, -.18, .54)]
    raise KeyError(name)


def draw_shape(draw: ImageDraw.ImageDraw, name: str, centre: np.ndarray,
               radius: float, angle: float, colour: Tuple[int, ...]) -> None:
    box = [*(centre - radius), *(centre + radius)]
    if name == 'disc':
        draw.ellipse(box, fill=colour)
    elif name == 'ring':
        draw.ellipse(box, outline=colour, width=max(2, round(radius * .35)))
    else:
        for points in shape_polygons(name):
            draw.polygon(polygon(points, centre, radius, angle), fill=colour)


def draw_clutter(draw: ImageDraw.ImageDraw, size: int,
                 rng: np.random.Generator) -> None:
    """A few thin straight strokes of random colour."""
    for _ in range(rng.integers(0, MAX_CLUTTER_STROKES + 1)):
        ends = rng.uniform(0, size, size=4)
        colour = tuple(int(c) for c in random_colour(rng))
        draw.line(list(ends), fill=colour, width=1)


def render_image(params: MiniImageNetParams, label: int,
                 rng: np.random.Generator) -> Image.Image:
    """One image of class ``label``."""
    size = params.image_size
    background_colour = random_colour(rng)
    base = shaded_background(size, background_colour, rng)
    image = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    draw_clutter(draw, size, rng)
    radius = rng.uniform(MIN_SIZE_FRACTION, MAX_SIZE_FRACTION) * size / 2
    centre = rng.uniform(radius, size - radius, size=2)
    angle = rng.uniform(0, 2 * np.pi)
    colour = contrasting_colour(background_colour, rng)
    draw_shape(draw, CLASSES[label], centre, radius, angle,
               tuple(int(c) for c in colour))
    noisy = np.asarray(image, dtype=np.float64) + rng.normal(
        0, NOISE_STD, size=(size, size, 3))
    return Image.fromarray(np.clip(noisy, 0, 255).round().astype(np.uint8))


def image_name(label: int, index: int) -> str:
    return f'{CLASSES[label]}/{CLASSES[label]}_{index:05d}.png'


def generate_split(params: MiniImageNetParams, split: str,
                   out_dir: str) -> List[str]:
    """Write the images of ``split``; return its annotation lines."""
    lines = []
    for label, name in enumerate(CLASSES):
        os.makedirs(osp.join(out_dir, split, name), exist_ok=True)
        for index in range(params.per_class(split)):
            rng = image_rng(params, split, label, index)
            relative = image_name(label, index)
            render_image(params, label, rng).save(
                osp.join(out_dir, split, relative))
            lines.append(f'{relative} {label}')
    return lines


def write_lines(lines: List[str], path: str) -> None:
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')


def is_complete(out_dir: str) -> bool:
    """Whether ``out_dir`` holds the annotation lists of every split."""
    return all(
        osp.isfile(osp.join(out_dir, 'meta', f'{split}.txt'))
        for split in SPLITS)


def generate_mini_imagenet(params: MiniImageNetParams,
                           out_dir: str,
                           force: bool = False) -> Dict[str, int]:
    """Create (or keep) the set in ``out_dir``; return images per split."""

    def write():
        for part in (*SPLITS, 'meta'):
            shutil.rmtree(osp.join(out_dir, part), ignore_errors=True)
        os.makedirs(osp.join(out_dir, 'meta'))
        for split in SPLITS:
            lines = generate_split(params, split, out_dir)
            write_lines(lines, osp.join(out_dir, 'meta', f'{split}.txt'))
        write_lines(list(CLASSES), osp.join(out_dir, 'meta', 'classes.txt'))

    regenerate(params, osp.join(out_dir, 'meta', PARAMS_FILE), write,
               lambda: is_complete(out_dir), force)
    return {split: params.per_class(split) * len(CLASSES) for split in SPLITS}


def main() -> None:
    """Generate (or keep) the set and print its size."""
    params, out, force = params_from_command_line(
        __doc__.splitlines()[0], MiniImageNetParams(), 'data/mini_imagenet')
    counts = generate_mini_imagenet(params, out, force)
    print(f'{out}: {len(CLASSES)} classes, '
          + ', '.join(f'{n} {split} images' for split, n in counts.items()))


if __name__ == '__main__':
    main()
