"""Commands that describe what can be swept: ``spaces`` and ``datasets``."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from sweeps.cli.app import app, reports_errors


@app.command()
@reports_errors
def spaces(
    name: Annotated[Optional[str], typer.Argument(help="Show only this space.")] = None,
    brief: Annotated[
        bool, typer.Option(help="Skip the tunables (answers without importing TensorFlow).")
    ] = False,
) -> None:
    """The search spaces, where each comes from, what it fits, and its tunables.

    Example: sweeps spaces leaky_cnn
    """
    from search_spaces import load_space, space_names

    console = Console(width=140)
    for space_name in [name] if name else space_names():
        space = load_space(space_name)
        info = space.info
        console.print(f"[bold]{info.name}[/bold] (notebook {info.notebook}): {info.title}")
        console.print(
            f"  fits {', '.join(info.fits) or 'any'}; smaller than "
            f"{info.min_input[0]}x{info.min_input[1]} is resized; channels "
            f"{'/'.join(map(str, info.channels))}; normalisation {info.normalization}"
        )
        console.print(f"  published: {info.published}")
        if brief:
            continue
        from search_spaces.tunables import LEARNING_RATES
        from sweeps.catalog import describe_tunables

        table = Table(
            "tunable", "kind", "values", "default", "when", box=None, padding=(0, 1, 0, 2)
        )
        for row in describe_tunables(space):
            table.add_row(row["name"], row["kind"], row["values"], row["default"], row["when"])
        console.print(table)
        ranges = ", ".join(
            f"{'/'.join(names)} {low:g}..{high:g}"
            for names, (low, high, _) in LEARNING_RATES.items()
        )
        console.print(f"  learning_rate's range follows the optimizer: {ranges}")


@app.command()
def datasets() -> None:
    """The datasets a sweep can use, with shapes, sizes and whether they are here offline.

    Example: sweeps datasets
    """
    from sweeps.data import list_datasets

    table = Table("dataset", "image shape", "classes", "train", "test", "offline", "source")
    for info in list_datasets():
        table.add_row(
            info.name,
            "x".join(map(str, info.image_shape)),
            str(info.num_classes),
            str(info.train_size or "?"),
            str(info.test_size or "?"),
            "yes" if info.offline else "no (downloads)",
            info.source,
        )
    Console(width=140).print(table)
    typer.echo(
        "Also: cifar10-bin:DIR (CIFAR-10 binary records) and folder:DIR (one sub-folder per class)."
    )
