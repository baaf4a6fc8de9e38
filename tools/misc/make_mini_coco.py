"""Deterministic generator of a small COCO-format instance-segmentation set.

Every image shows a few filled shapes (circles, rectangles and triangles) of
random colour, size and rotation on a noisy, shaded background. Shapes drawn
later occlude earlier ones; each annotation describes only the visible part of
its shape, stored as a compressed RLE mask with the matching box and area.

Each image is drawn from its own random stream, seeded by ``(seed, split,
index)``, so the output depends only on the parameters: a rerun writes the same
bytes, and the train and val splits never share an image.

Usage::

    python tools/misc/make_mini_coco.py --out data/mini_coco

A second run with the same parameters finds the set in place and writes
nothing. Only numpy, Pillow and pycocotools are needed.
"""
import os
import os.path as osp
import time
from dataclasses import dataclass

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

# generated_set.py is next to this script, whose folder Python puts first on
# sys.path.
from generated_set import (PARAMS_FILE, clear_files, params_from_command_line,
                           pixel_grid, regenerate, write_json)

GENERATOR_VERSION = 1
CLASSES = ('circle', 'rectangle', 'triangle')
SPLITS = ('train', 'val')

MIN_SIZE_FRACTION = 0.18
MAX_SIZE_FRACTION = 0.42
MIN_VISIBLE_FRACTION = 0.6
MIN_COLOUR_DISTANCE = 90.0
PLACEMENT_ATTEMPTS = 20


@dataclass(frozen=True)
class MiniCocoParams:
    """Everything the generated set depends on."""

    num_train: int = 400
    num_val: int = 100
    image_size: int = 128
    min_objects: int = 2
    max_objects: int = 5
    seed: int = 0
    version: int = GENERATOR_VERSION

    def num_images(self, split):
        """Number of images in ``split``."""
        return self.num_train if split == 'train' else self.num_val


def circle_mask(xs, ys, centre, size, rng):
    """Disc of diameter ``size`` around ``centre``."""
    radius = size / 2
    return (xs - centre[0])**2 + (ys - centre[1])**2 <= radius**2


def convex_polygon_mask(xs, ys, vertices):
    """Pixels inside the convex polygon whose vertices run counter-clockwise."""
    inside = np.ones(xs.shape, dtype=bool)
    for start, end in zip(vertices, np.roll(vertices, -1, axis=0)):
        edge = end - start
        cross = edge[0] * (ys - start[1]) - edge[1] * (xs - start[0])
        inside &= cross >= 0
    return inside


def rotated(points, angle):
    """Rotate ``points`` (N x 2) by ``angle`` radians around the origin."""
    cos, sin = np.cos(angle), np.sin(angle)
    return points @ np.array([[cos, sin], [-sin, cos]])


def rectangle_mask(xs, ys, centre, size, rng):
    """Rotated rectangle whose longer side is ``size``."""
    aspect = rng.uniform(0.45, 1.0)
    half_w, half_h = size / 2, size * aspect / 2
    corners = np.array([[-half_w, -half_h], [half_w, -half_h],
                        [half_w, half_h], [-half_w, half_h]])
    vertices = rotated(corners, rng.uniform(0, np.pi / 2)) + centre
    return convex_polygon_mask(xs, ys, vertices)


def triangle_mask(xs, ys, centre, size, rng):
    """Rotated, slightly irregular triangle inscribed in a circle of diameter ``size``."""
    angles = np.arange(3) * 2 * np.pi / 3 + rng.uniform(-0.25, 0.25, size=3)
    unit = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    vertices = rotated(unit * size / 2, rng.uniform(0, 2 * np.pi)) + centre
    return convex_polygon_mask(xs, ys, vertices)


SHAPE_DRAWERS = (circle_mask, rectangle_mask, triangle_mask)


def background(size, rng):
    """Shaded, noisy background of a random base colour (float RGB)."""
    xs, ys = pixel_grid(size)
    base = rng.uniform(40, 215, size=3)
    slope = rng.uniform(-40, 40, size=(2, 3)) / size
    shading = xs[..., None] * slope[0] + ys[..., None] * slope[1]
    noise = rng.normal(0, 10, size=(size, size, 3))
    return base + shading - shading.mean() + noise


def contrasting_colour(reference, rng):
    """Random RGB colour at least ``MIN_COLOUR_DISTANCE`` away from ``reference``."""
    while True:
        colour = rng.uniform(0, 255, size=3)
        if np.linalg.norm(colour - reference) >= MIN_COLOUR_DISTANCE:
            return colour


def keeps_earlier_visible(owner, new_mask, full_areas):
    """Whether drawing ``new_mask`` on top leaves every earlier shape mostly visible."""
    remaining = np.where(new_mask, -1, owner)
    for index, full_area in enumerate(full_areas):
        if np.count_nonzero(remaining == index) < MIN_VISIBLE_FRACTION * full_area:
            return False
    return True


def random_shape(xs, ys, params, rng):
    """Draw one shape of a random class; return its class index and mask."""
    image_size = params.image_size
    size = rng.uniform(MIN_SIZE_FRACTION, MAX_SIZE_FRACTION) * image_size
    centre = rng.uniform(size / 2, image_size - size / 2, size=2)
    label = int(rng.integers(len(CLASSES)))
    return label, SHAPE_DRAWERS[label](xs, ys, centre, size, rng)


def render_image(params, rng):
    """Render one image; return it (uint8 HxWx3) and its (label, visible mask) list."""
    xs, ys = pixel_grid(params.image_size)
    canvas = background(params.image_size, rng)
    owner = np.full(xs.shape, -1, dtype=np.int64)
    labels, full_areas = [], []
    num_objects = int(rng.integers(params.min_objects, params.max_objects + 1))
    for _ in range(num_objects):
        for _ in range(PLACEMENT_ATTEMPTS):
            label, mask = random_shape(xs, ys, params, rng)
            if keeps_earlier_visible(owner, mask, full_areas):
                break
        else:
            continue
        colour = contrasting_colour(canvas[mask].mean(axis=0), rng)
        texture = rng.normal(0, 6, size=(int(mask.sum()), 3))
        canvas[mask] = colour + texture
        owner[mask] = len(labels)
        labels.append(label)
        full_areas.append(int(mask.sum()))
    image = np.clip(np.rint(canvas), 0, 255).astype(np.uint8)
    objects = [(label, owner == index) for index, label in enumerate(labels)]
    return image, objects


def encode_annotation(mask, label, image_id, annotation_id):
    """COCO annotation dict (compressed RLE) for one visible instance mask."""
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    bbox = [float(v) for v in mask_utils.toBbox(rle)]
    return dict(
        id=annotation_id,
        image_id=image_id,
        category_id=label + 1,
        segmentation=dict(
            size=[int(v) for v in rle['size']],
            counts=rle['counts'].decode('ascii')),
        area=float(mask_utils.area(rle)),
        bbox=bbox,
        iscrowd=0)


def split_seed(params, split, index):
    """Seed material for one image, unique per (seed, split, index)."""
    return [params.seed, SPLITS.index(split), index]


def generate_split(params, split, out_dir):
    """Write the images of ``split`` and return its COCO annotation dict."""
    image_dir = osp.join(out_dir, split)
    os.makedirs(image_dir, exist_ok=True)
    images, annotations = [], []
    for index in range(params.num_images(split)):
        rng = np.random.default_rng(split_seed(params, split, index))
        image, objects = render_image(params, rng)
        image_id = index + 1
        file_name = f'{index:06d}.png'
        Image.fromarray(image).save(osp.join(image_dir, file_name))
        images.append(dict(id=image_id, file_name=file_name,
                           width=params.image_size, height=params.image_size))
        for label, mask in objects:
            annotations.append(encode_annotation(
                mask, label, image_id, len(annotations) + 1))
    categories = [dict(id=i + 1, name=name, supercategory='shape')
                  for i, name in enumerate(CLASSES)]
    return dict(
        info=dict(description=f'mini-coco {split}', version=str(params.version)),
        images=images, annotations=annotations, categories=categories)


def annotation_path(out_dir, split):
    """Path of the COCO annotation file of ``split``."""
    return osp.join(out_dir, 'annotations', f'instances_{split}.json')


def is_complete(params, out_dir):
    """Whether ``out_dir`` holds every file of a set made with ``params``."""
    return all(
        osp.isfile(annotation_path(out_dir, split))
        and len(os.listdir(osp.join(out_dir, split))) == params.num_images(split)
        for split in SPLITS)


def generate_mini_coco(params, out_dir, force=False):
    """Generate the set under ``out_dir`` unless it is already there.

    Returns True when files were written, False when the existing set was kept.
    """

    def write():
        os.makedirs(osp.join(out_dir, 'annotations'), exist_ok=True)
        for split in SPLITS:
            clear_files(osp.join(out_dir, split), ['.png'])
            write_json(generate_split(params, split, out_dir),
                       annotation_path(out_dir, split))

    return regenerate(params, osp.join(out_dir, PARAMS_FILE), write,
                      lambda: is_complete(params, out_dir), force)


def main():
    """Generate (or keep) the set and say which happened; the defaults of
    the options are the ones the demo config expects."""
    params, out, force = params_from_command_line(
        __doc__.splitlines()[0], MiniCocoParams(), 'data/mini_coco')
    start = time.perf_counter()
    if generate_mini_coco(params, out, force=force):
        print(f'mini-coco written to {out} '
              f'({params.num_train} train, {params.num_val} val images, '
              f'{time.perf_counter() - start:.1f}s)')
    else:
        print(f'mini-coco already up to date in {out}')


if __name__ == '__main__':
    main()
