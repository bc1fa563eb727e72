"""Datasets for sweeps: named, validated cheaply, loaded as uint8 arrays, fed through tf.data.

``dataset_info`` and ``list_datasets`` never import tensorflow, so the CLI can validate a
dataset name before a sweep starts; ``load_splits`` and ``make_pipelines`` import it lazily.
Every bad input raises ``sweeps.errors.DatasetError`` with a one-line message and its fix.
"""

from __future__ import annotations

from sweeps.data.base import DatasetInfo, Splits
from sweeps.data.pipeline import Augmentation, PipelineOptions, make_pipelines
from sweeps.data.registry import (
    check_dataset,
    dataset_info,
    decodes_images,
    list_datasets,
    load_splits,
    resolved_name,
)
from sweeps.data.splits import auto_val_fraction

__all__ = [
    "Augmentation",
    "DatasetInfo",
    "PipelineOptions",
    "Splits",
    "auto_val_fraction",
    "check_dataset",
    "dataset_info",
    "decodes_images",
    "list_datasets",
    "load_splits",
    "make_pipelines",
    "resolved_name",
]
