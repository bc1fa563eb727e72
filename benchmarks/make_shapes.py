"""Write a small image folder on which every built-in space can learn: the other dataset of
the search benchmark (issue: search that beats the notebook on every space).

    python benchmarks/make_shapes.py DIR
    sweeps run --space all_cnn --dataset folder:DIR --seed 0

Ten classes of 32x32 RGB images, 120 train and 40 test each (DIR/train/CLASS, DIR/test/CLASS):
five shapes (disc, square, triangle, plus, ring) in a warm or a cool colour, at a random place
and size on coloured noise. The class does not depend on where the shape is, so networks that
pool globally (all_cnn, resnet) can learn it as well as the others; a first version that coded
the class by the blob's position could not be learnt by them at all. Seeded: the same files
every time.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SHAPES = ("disc", "square", "triangle", "plus", "ring")
SPLITS = (("train", 120), ("test", 40))


def draw(rng: np.random.Generator, kind: str, warm: bool) -> Image.Image:
    image = Image.fromarray(rng.integers(0, 140, size=(32, 32, 3)).astype(np.uint8))
    pen = ImageDraw.Draw(image)
    r = int(rng.integers(6, 11))
    cx, cy = (int(v) for v in rng.integers(r + 1, 32 - r - 1, size=2))
    base = np.array([230, 120, 40]) if warm else np.array([40, 150, 230])
    colour = tuple(int(v) for v in np.clip(base + rng.integers(-25, 26, size=3), 0, 255))
    box = (cx - r, cy - r, cx + r, cy + r)
    width = max(2, r // 3)
    if kind == "disc":
        pen.ellipse(box, fill=colour)
    elif kind == "square":
        pen.rectangle(box, fill=colour)
    elif kind == "triangle":
        pen.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=colour)
    elif kind == "plus":
        pen.rectangle((cx - r, cy - width, cx + r, cy + width), fill=colour)
        pen.rectangle((cx - width, cy - r, cx + width, cy + r), fill=colour)
    else:
        pen.ellipse(box, outline=colour, width=width)
    return image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    out = parser.parse_args().folder
    rng = np.random.default_rng(0)
    for split, count in SPLITS:
        for label in range(10):
            kind, warm = SHAPES[label % 5], label < 5
            folder = out / split / f"{'warm' if warm else 'cool'}_{kind}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                draw(rng, kind, warm).save(folder / f"{i}.png")


if __name__ == "__main__":
    main()
