"""notebook 003's MNIST CNN with every value fixed, so each benchmark trial does the same work."""

from __future__ import annotations

from search_spaces import SpaceInfo, mnist_cnn

INFO = SpaceInfo(name="fixed_mnist_cnn", notebook="003", title="mnist_cnn, nothing tuned",
                 published=mnist_cnn.INFO.published, min_input=(8, 8))
BASELINE = dict(mnist_cnn.BASELINE)


def build(hp, spec):
    for name, value in BASELINE.items():
        if name not in hp.values:
            hp.Fixed(name, value)
    return mnist_cnn.build(hp, spec)
