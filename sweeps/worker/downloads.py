"""Download a Keras dataset into the Keras cache, in a spawned child.

``keras.datasets`` imports TensorFlow, which the process that checks a sweep's dataset before
the sweep (``sweeps.run``'s, a notebook's) never imports: it runs :func:`download_dataset`
through :func:`sweeps.spawn.run_in_child`, then reads the cache itself
(:func:`sweeps.data.registry.check_dataset`).
"""

from __future__ import annotations

import os

from sweeps.data import keras_cache
from sweeps.tf_logs import import_tensorflow_quietly

__all__ = ["download_dataset"]


def download_dataset(name: str) -> None:
    """Put Keras dataset ``name`` in the Keras cache, unless it is there already.

    Raises:
        DatasetError: it cannot be downloaded (offline?); the message says where to place it.
    """
    os.environ["CUDA_VISIBLE_DEVICES"] = "-1"  # before TensorFlow: a download needs no GPU
    import_tensorflow_quietly()
    keras_cache.load(name)  # the arrays are dropped: the caller reads the cache
