"""Commands that describe what can be swept: ``spaces`` and ``datasets``."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from sweeps.cli.app import app, fail, reports_errors


@app.command()
@reports_errors
def spaces(
    name: Annotated[Optional[str], typer.Argument(help="Show only this space.")] = None,
    brief: Annotated[
        bool, typer.Option(help="Skip the tunables (answers at once: no child builds the spaces).")
    ] = False,
) -> None:
    """The search spaces, where each comes from, what it fits, and its tunables.

    Example: sweeps spaces leaky_cnn
    """
    from search_spaces import space_names
    from sweeps.space_access import load_space

    console = Console(width=140)
    references = [name] if name else space_names()
    spaces = [load_space(reference) for reference in references]  # a bad name fails at once
    if not brief:
        from sweeps.spawn import TaskFailedError, run_in_child

        try:  # building a space imports TensorFlow: one child builds them all, this process none
            tunables = run_in_child("sweeps.worker.questions:describe_tunables", references)
        except TaskFailedError as exc:
            raise fail(
                f"the spaces could not be built to list their tunables: {exc.reason}"
            ) from None
    for index, space in enumerate(spaces):
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

        table = Table(
            "tunable", "kind", "values", "default", "when", box=None, padding=(0, 1, 0, 2)
        )
        for row in tunables[index]:
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
