"""The worker side: everything that imports TensorFlow and trains.

A worker process (:mod:`sweeps.worker.process`) pins its device, imports TensorFlow once and
runs the trial loop (:mod:`~sweeps.worker.trial_loop`): each trial's hyperparameters come from
Optuna through the KerasTuner adapter (:mod:`~sweeps.worker.hp_adapter`), each trial is built
by the one trial recipe (:mod:`~sweeps.worker.recipe`, which export, refit and the range test
rebuild it with) and trained by :mod:`~sweeps.worker.trainer`, which checkpoints every epoch
(:mod:`~sweeps.worker.checkpoint`).

Nothing outside this package imports it except the dispatcher's process entry and
:func:`sweeps.spawn.run_in_child`'s child (which names a function here by a string), both in a
spawned process: the process that calls sweeps never loads TensorFlow (tests/test_layout.py
and tests/test_cli.py check it).
"""
