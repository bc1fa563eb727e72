"""From a sweep to a model: export, evaluate, ensemble and refit real trials of real sweeps.

Two real sweeps on digits share one store: ``mnist_cnn`` (no resizing; four trials, the keep
policy keeps three) and ``small_cnn`` (resizes the 8x8 images to 10x10 inside its input path).
The TensorFlow work goes through the spawned children the CLI and the API use; the expected
predictions are recomputed here, in this process, through the trial's own tf.data pipeline.
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import sweeps
from sweeps.model_api import ensemble_members, trial_spec
from sweeps.spawn import TaskFailedError, run_in_child
from tests.conftest import REPO, invoke

# Every test here needs this module's real sweeps (and spawned children): the full tier only.
pytestmark = pytest.mark.slow

CNN, RESIZED = "digits-cnn", "digits-resized"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One store, two real sweeps: 4 trials of mnist_cnn keeping the top 3, 2 of small_cnn."""
    url = f"sqlite:///{tmp_path_factory.mktemp('models') / 'sweeps.db'}"
    common = {"dataset": "digits", "epochs": 2, "pruner": "none", "storage": url, "quiet": True}
    sweeps.run(space="mnist_cnn", trials=4, study=CNN, keep_models="top-3", **common)
    sweeps.run(space="small_cnn", trials=2, study=RESIZED, **common)
    return url


def _splits(study: sweeps.Study):
    from sweeps.data import load_splits

    config = study.config
    return load_splits(config.dataset, val_fraction=config.val_fraction, seed=config.seed)


def _pipeline_predictions(study: sweeps.Study, number: int) -> np.ndarray:
    """The trial's best weights on its own tf.data test stream: what the trial evaluated."""
    from sweeps.data import make_pipelines
    from sweeps.worker import checkpoint
    from sweeps.worker.export import rebuild_network

    spec = trial_spec(study._sweep, study.show(number))
    splits = _splits(study)
    rebuilt = rebuild_network(spec, splits)
    folder = Path(spec.checkpoint_dir)
    assert checkpoint.restore_best(folder, rebuilt.model, checkpoint.load_state(folder))
    _, _, test_ds = make_pipelines(splits, rebuilt.options)
    return np.asarray(rebuilt.model.predict(test_ds, verbose=0)).argmax(axis=1)


FRESH_PROCESS = textwrap.dedent("""
    import json, sys, zipfile
    import keras
    import numpy as np

    def nodes(config):  # every object in a saved config, nested ones too
        if isinstance(config, dict):
            yield config
            config = list(config.values())
        for value in config if isinstance(config, list) else ():
            yield from nodes(value)

    data = np.load(sys.argv[1])
    seen = {}
    for path in sys.argv[2:]:
        model = keras.saving.load_model(path)  # safe mode, no custom objects
        predicted = model.predict(data["x"], verbose=0).argmax(axis=1)
        with zipfile.ZipFile(path) as archive:
            saved = list(nodes(json.loads(archive.read("config.json"))))
        seen[path] = {
            "predicted": predicted.tolist(),
            "accuracy": float((predicted == data["y"]).mean()),
            "input": [str(model.inputs[0].dtype), list(model.inputs[0].shape[1:])],
            "layers": [layer.name for layer in model.layers],
            # What only the project could load, and compile state (an optimizer) anywhere inside
            "foreign": sorted({str(n["module"]) for n in saved
                               if "module" in n and not str(n["module"]).startswith("keras")}),
            "compiled": sum(bool(n.get("compile_config")) for n in saved),  # {}: uncompiled
        }
    seen["ours"] = sorted(m for m in sys.modules
                          if m.split(".")[0] in ("sweeps", "search_spaces", "storage"))
    print(json.dumps(seen))
""")


def _in_fresh_process(
    model_paths: list[str], x: np.ndarray, y: np.ndarray, folder: Path
) -> dict[str, dict]:
    """Load each model with plain Keras in a process that never imports the project, and
    predict ``x``: what it predicted, its accuracy on ``y``, and what its file holds."""
    np.savez(folder / "test.npz", x=x, y=y)
    out = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS, str(folder / "test.npz"), *map(str, model_paths)],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen.pop("ours") == [], "loading the models imported the project"
    for path, model in seen.items():
        assert model["foreign"] == [], f"{path} needs the project's classes to load"
        assert model["compiled"] == 0, f"{path} holds compile state (an optimizer)"
    return seen


def _check_contract(metadata: dict, shape: list[int], preprocessing: list[str]) -> None:
    """The input contract in a model's JSON: what the model takes, does and gives."""
    contract = metadata["input"]
    assert contract["shape"] == shape and contract["batch_shape"] == [None, *shape]
    assert contract["dtype"] == "uint8" and contract["value_range"] == [0, 255]
    assert "load_digits() pixels (counts 0..16) times 255/16" in contract["pixels"]
    assert contract["preprocessing_inside_the_model"] == preprocessing
    assert "floats in 0..1 become 0" in contract["note"]
    assert metadata["output"]["what"] == "logits" and metadata["output"]["shape"] == [None, 10]
    assert metadata["class_names"] == [str(i) for i in range(10)]


def _printed_contract(output: str, shape: str, inside: str) -> None:
    """The contract lines a command prints after it wrote a model."""
    assert f"Input: uint8 images of shape (N, {shape}), values 0..255: scikit-learn's" in output
    assert "Scale images to 0..255 first: Keras casts any other input to uint8" in output
    assert f"Inside the model: {inside}" in output
    assert "Output: logits of 10 classes (0, 1, 2, 3, 4, 5, 6, 7, 8, 9)" in output
    assert "Load it with plain Keras (no sweeps needed): keras.saving.load_model(" in output


UNIT = "divide by 255 (normalization 'unit': values 0..1)"


@pytest.mark.parametrize("study_name", [CNN, RESIZED])
def test_a_saved_model_reproduces_its_trial_in_a_fresh_process(
    cli, store, tmp_path, study_name
) -> None:
    study = sweeps.load_study(study_name, store)
    best = study.best(1).iloc[0]
    out = tmp_path / "best.keras"
    if study_name == CNN:  # the CLI, with the trial given
        args = ("model", best.trial, "--study", study_name, "--storage", store, "--out", out)
        result = invoke(cli, *args)
        assert result.exit_code == 0, result.output
        assert f"trial {best.trial} of {study_name}" in result.output
    else:  # the Python API, with the default trial: the best by validation
        assert study.save_model(out=out).trial == best.trial

    splits = _splits(study)
    seen = _in_fresh_process([str(out)], splits.x_test, splits.y_test, tmp_path)[str(out)]
    assert seen["input"] == ["uint8", [8, 8, 1]]  # the dataset's raw images
    assert seen["predicted"] == _pipeline_predictions(study, int(best.trial)).tolist()
    correct = round(best.test_accuracy * len(splits.y_test))
    assert round(seen["accuracy"] * len(splits.y_test)) == correct
    assert seen["accuracy"] == pytest.approx(best.test_accuracy, abs=1e-6)
    assert ("resize" in seen["layers"]) == (study_name == RESIZED)

    metadata = json.loads(out.with_suffix(".json").read_text())
    assert metadata["study"] == study_name and metadata["trial"] == best.trial
    assert metadata["params"] == study.show(int(best.trial)).params
    resize = ["resize to 10x10 (bilinear, as tf.image.resize)"] if study_name == RESIZED else []
    _check_contract(metadata, [8, 8, 1], ["cast to float32", *resize, UNIT])
    if study_name == CNN:
        _printed_contract(result.output, "8, 8, 1", f"cast to float32; {UNIT}; then the network.")


def _readme_example(marker: str) -> str:
    """The README's python code block that contains ``marker``, as it would be copied."""
    readme = (REPO / "README.md").read_text()
    blocks = re.findall(r"^( *)```python\n(.*?)^\1```", readme, flags=re.S | re.M)
    [code] = [textwrap.dedent(block) for _, block in blocks if marker in block]
    return code


def test_the_readmes_predict_example_runs_on_a_saved_model(cli, store, tmp_path) -> None:
    """The README's example, copied as it stands, in a process without the project, next to a
    model `sweeps model` wrote: it feeds the images on the scale the model was trained on."""
    from sklearn.datasets import load_digits

    out = tmp_path / "best.keras"
    result = invoke(cli, "model", "--study", CNN, "--storage", store, "--out", out)
    assert result.exit_code == 0, result.output
    example = _readme_example('load_model("best.keras")')
    assert len(example.strip().splitlines()) <= 8  # two imports, a blank, five lines
    check = textwrap.dedent("""
        ours = sorted(m for m in __import__("sys").modules
                      if m.split(".")[0] in ("sweeps", "search_spaces", "storage"))
        raw = model.predict(load_digits().images[..., None], verbose=0).argmax(axis=1)  # 0..16
        np.savez("seen.npz", images=images, predicted=logits.argmax(axis=1), raw=raw)
        print(json.dumps(ours))
    """)
    ran = subprocess.run(
        [sys.executable, "-c", example + check],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert ran.returncode == 0, ran.stderr
    printed, ours = ran.stdout.strip().splitlines()[-2:]
    assert json.loads(ours) == []
    seen = np.load(tmp_path / "seen.npz")
    names = json.loads((tmp_path / "best.json").read_text())["class_names"]
    assert printed == str([names[i] for i in seen["predicted"][:10]])

    # The example's images are the dataset's own arrays (the contract's scale), in some order.
    splits = _splits(sweeps.load_study(CNN, store))
    ours_images = np.concatenate([splits.x_train, splits.x_val, splits.x_test])
    assert sorted(x.tobytes() for x in seen["images"]) == sorted(x.tobytes() for x in ours_images)
    target = load_digits().target
    best = sweeps.load_study(CNN, store).best(1).iloc[0]
    accuracy = np.mean(seen["predicted"] == target)
    assert accuracy >= best.test_accuracy - 0.05, (accuracy, best.test_accuracy)
    # What the README warns of: the 0..16 pixels as scikit-learn hands them out come out near
    # chance, mostly as one class (which one, and how much, varies with the trained model).
    assert np.mean(seen["raw"] == target) < 0.3 < accuracy
    assert np.bincount(seen["raw"]).max() > 0.5 * len(target), np.bincount(seen["raw"])


def test_study_model_returns_a_loaded_keras_model(store) -> None:
    study = sweeps.load_study(RESIZED, store)
    model = study.model()
    splits = _splits(study)
    predicted = np.asarray(model.predict(splits.x_test, verbose=0)).argmax(axis=1)
    assert np.mean(predicted == splits.y_test) == pytest.approx(
        study.best(1).iloc[0].test_accuracy, abs=1e-6
    )


def test_evaluation_counts_every_image_and_matches_the_recorded_accuracy(
    cli, store, tmp_path
) -> None:
    study = sweeps.load_study(CNN, store)
    best = study.best(1).iloc[0]
    report = study.evaluate(out=tmp_path)
    splits = _splits(study)
    test, val = report.test, report.val
    assert report.trial == best.trial
    assert test.images == len(splits.y_test) == 360 and val.images == len(splits.y_val)
    assert sum(test.correct) == round(best.test_accuracy * 360)
    assert sum(val.correct) == round(best.val_accuracy * len(splits.y_val))
    assert test.support == np.bincount(splits.y_test, minlength=10).tolist()
    assert test.recall == pytest.approx(
        [c / s for c, s in zip(test.correct, test.support, strict=True)]
    )
    pairs = test.confused_pairs(3)
    assert all(true != guess and count > 0 for true, guess, count in pairs)
    assert [p[2] for p in pairs] == sorted((p[2] for p in pairs), reverse=True)
    for image in (report.result.confusion_image, report.result.samples_image):
        assert Path(image).read_bytes()[:4] == b"\x89PNG" and Path(image).parent == tmp_path

    stored = study.evaluation(int(best.trial))
    assert stored["test"].confusion == test.confusion and stored["val"].images == val.images
    assert [c.recall for c in stored["test"].classes] == pytest.approx(test.recall)
    shown = invoke(cli, "show", best.trial, "--study", CNN, "--storage", store)
    assert "Per-class accuracy" in shown.output and "Model: kept" in shown.output


def test_an_ensemble_of_copies_of_one_trial_equals_that_trial(store) -> None:
    from sweeps.worker.ensemble import ensemble_model, ensemble_trials
    from sweeps.worker.export import trial_model

    study = sweeps.load_study(CNN, store)
    best = study.best(1).iloc[0]
    spec = trial_spec(study._sweep, study.show(int(best.trial)))
    result = ensemble_trials([spec, spec, spec])
    assert result.val_accuracy == pytest.approx(best.val_accuracy, abs=1e-6)
    assert result.test_accuracy == pytest.approx(best.test_accuracy, abs=1e-6)
    assert result.member_test_accuracy == [result.test_accuracy] * 3

    splits = _splits(study)
    members = [trial_model(spec, splits, name=f"copy_{i}") for i in range(3)]
    alone = members[0].predict(splits.x_test, verbose=0)
    together = ensemble_model(members, "copies").predict(splits.x_test, verbose=0)
    np.testing.assert_allclose(together, alone, rtol=1e-5, atol=1e-5)
    assert (together.argmax(1) == alone.argmax(1)).all()


def test_an_ensemble_is_the_top_k_by_validation_and_is_recorded(cli, store, tmp_path) -> None:
    study = sweeps.load_study(CNN, store)
    top = [int(t) for t in study.best(3)["trial"]]
    out = tmp_path / "ensemble.keras"
    result = invoke(cli, "ensemble", "--study", CNN, "--storage", store, "--top", 3, "--out", out)
    assert result.exit_code == 0, result.output
    assert (
        "Ensemble of 3: val" in result.output and f"best single trial ({top[0]})" in result.output
    )
    recorded = study.ensembles()
    assert len(recorded) == 1 and recorded.iloc[0]["members"] == top

    best_table = invoke(cli, "best", "--study", CNN, "--storage", store)
    assert "ensemble" in best_table.output
    assert f"trials {', '.join(map(str, top))}, logits averaged" in best_table.output
    as_json = json.loads(
        invoke(cli, "best", "--study", CNN, "--storage", store, "--format", "json").stdout
    )
    assert as_json["ensembles"][0]["members"] == top and as_json["ensembles"][0]["size"] == 3
    studies = invoke(cli, "studies", "--storage", store)
    assert f"ensemble of top 3: trials {', '.join(map(str, top))}" in studies.output

    splits = _splits(study)
    seen = _in_fresh_process([str(out)], splits.x_test, splits.y_test, tmp_path)[str(out)]
    assert seen["accuracy"] == pytest.approx(recorded.iloc[0]["test_accuracy"], abs=1e-9)
    metadata = json.loads(out.with_suffix(".json").read_text())
    _check_contract(metadata, [8, 8, 1], ["cast to float32", UNIT])
    networks = "then each of the 3 members' networks, their logits averaged."
    _printed_contract(result.output, "8, 8, 1", f"cast to float32; {UNIT}; {networks}")


def test_ensemble_members_are_never_chosen_on_test(store, tmp_path) -> None:
    """Reverse the test ranking in a copy of the store: the members do not move."""
    study = sweeps.load_study(CNN, store)
    by_val = [int(t) for t in study.best(4)["trial"]]
    copy = tmp_path / "copy.db"
    source = sqlite3.connect(store.removeprefix("sqlite:///"))
    target = sqlite3.connect(copy)
    source.backup(target)
    target.execute("UPDATE sweeps_trial_result SET test_accuracy = 1.0 - val_accuracy")
    target.commit()
    source.close()
    target.close()

    tampered = sweeps.load_study(CNN, str(copy))
    best_by_test = int(tampered.best(4).sort_values("test_accuracy").iloc[-1]["trial"])
    assert best_by_test == by_val[-1]  # the test can fail: test now prefers the worst by val
    chosen = ensemble_members(tampered._engine, tampered._sweep, 2)
    assert [d.result.number for d in chosen] == by_val[:2]


def test_refit_trains_on_exactly_train_and_val(cli, store, tmp_path) -> None:
    from sweeps.worker.refit import merged_splits

    study = sweeps.load_study(CNN, store)
    splits = _splits(study)
    merged = merged_splits(splits)
    assert len(merged.y_train) == len(splits.y_train) + len(splits.y_val) == 1437
    np.testing.assert_array_equal(merged.x_train, np.concatenate([splits.x_train, splits.x_val]))
    np.testing.assert_array_equal(merged.y_train, np.concatenate([splits.y_train, splits.y_val]))
    assert len(merged.y_val) == 0
    np.testing.assert_array_equal(merged.x_test, splits.x_test)

    # The trial whose checkpoints the keep policy deleted: a refit needs only its parameters.
    last = study.best(4).iloc[-1]
    assert not study.model_kept(int(last.trial))
    report = study.refit(int(last.trial), out=tmp_path / "refit.keras")
    result = report.result
    batch = study.show(int(last.trial)).params["batch_size"]
    assert result.train_images == 1437 and result.epochs == last.best_epoch
    assert result.iterations == last.best_epoch * (1437 // batch)  # full batches only
    assert 0.0 <= result.test_accuracy <= 1.0 and Path(report.path).is_file()
    metadata = json.loads((tmp_path / "refit.json").read_text())
    assert metadata["refit"]["images"] == 1437 and metadata["trial"] == last.trial
    recorded = study.recorded_refit(int(last.trial))
    assert recorded.test_accuracy == result.test_accuracy and recorded.train_images == 1437
    shown = invoke(cli, "show", last.trial, "--study", CNN, "--storage", store)
    assert "Refit on train+val (1437 images" in shown.output


# Every schedule the shared tunables offer, each with an optimizer, so that every optimizer
# appears too: a refit trains a compiled network, whose optimizer holds the schedule.
SCHEDULE_OPTIMIZERS = {
    "constant": "sgd",
    "step": "nesterov",
    "exponential": "adam",
    "staircase": "adamax",
    "time_based": "adadelta",
    "cosine": "rmsprop",
    "cyclical": "adam",
}


def _params_with(spec, splits, optimizer: str, schedule: str, seed: int) -> dict:
    """The space's baseline answers with ``optimizer`` and ``schedule``; the questions those
    open (momentum, the schedule's own) drawn at random as a trial draws them, so each is
    valid for this study's fitted ranges."""
    import optuna

    from search_spaces import load_space
    from search_spaces.tunables import learning_rate_range
    from sweeps.trial_questions import settings_for_trial
    from sweeps.worker.hp_adapter import OptunaHyperParameters
    from sweeps.worker.recipe import build_network

    space = load_space(spec.config.space)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    usual_rate = learning_rate_range(optimizer)[2]
    fixed = {**space.baseline, "optimizer": optimizer, "schedule": schedule}
    study.enqueue_trial({**fixed, "learning_rate": usual_rate})
    trial = study.ask()
    hp = OptunaHyperParameters(trial)
    build_network(space, hp, splits, settings_for_trial(spec.config, splits, trial.number))
    return trial.params


def test_refits_of_every_schedule_and_optimizer_load_in_plain_keras(cli, store, tmp_path) -> None:
    """A refit's file holds no optimizer (its schedule is one of the project's classes), so it
    loads with plain Keras in a process without the project, and reproduces its test accuracy.
    """
    import dataclasses

    from search_spaces.tunables import OPTIMIZERS, SCHEDULES
    from sweeps.worker.refit import refit_trial

    assert set(SCHEDULE_OPTIMIZERS) == set(SCHEDULES)
    assert set(SCHEDULE_OPTIMIZERS.values()) == set(OPTIMIZERS)
    study = sweeps.load_study(CNN, store)
    splits = _splits(study)
    spec = trial_spec(study._sweep, study.show(0), need_model=False)
    recorded = {}
    for seed, (schedule, optimizer) in enumerate(SCHEDULE_OPTIMIZERS.items()):
        params = _params_with(spec, splits, optimizer, schedule, seed)
        assert (params["schedule"], params["optimizer"]) == (schedule, optimizer)
        one_epoch = dataclasses.replace(spec, params=params, best_epoch=1)
        out = tmp_path / f"{schedule}-{optimizer}.keras"
        recorded[str(out)] = refit_trial(one_epoch, str(out)).test_accuracy

    # And one through the command, as a user makes it.
    best = study.best(1).iloc[0]
    out = tmp_path / "refit.keras"
    result = invoke(cli, "refit", best.trial, "--study", CNN, "--storage", store, "--out", out)
    assert result.exit_code == 0, result.output
    _printed_contract(result.output, "8, 8, 1", f"cast to float32; {UNIT}; then the network.")
    recorded[str(out)] = study.recorded_refit(int(best.trial)).test_accuracy
    metadata = json.loads(out.with_suffix(".json").read_text())
    _check_contract(metadata, [8, 8, 1], ["cast to float32", UNIT])
    assert metadata["refit"]["test_accuracy"] == recorded[str(out)]

    seen = _in_fresh_process(list(recorded), splits.x_test, splits.y_test, tmp_path)
    for path, accuracy in recorded.items():
        assert seen[path]["input"] == ["uint8", [8, 8, 1]], path
        assert seen[path]["accuracy"] == pytest.approx(accuracy, abs=1e-6), path


def test_the_refit_recipe_on_the_trials_own_split_repeats_the_trial(store) -> None:
    """Same seed, recipe, shuffling and epochs: trained on the trial's own training part, the
    refit's training gives the trial's recorded test numbers, so a refit changes the data only.
    """
    from sweeps.worker.export import trial_splits
    from sweeps.worker.refit import retrain

    study = sweeps.load_study(CNN, store)
    # The best trial without batch norm: two epochs into a batch-norm trial, its statistics
    # make the test accuracy move with the float rounding of the process it runs in (the
    # first loss differs in the 2nd digit after other work in the same process).
    # (The baseline, trial 0, has none, so there is always one.)
    plain = [int(t) for t in study.best(4)["trial"] if not study.show(int(t)).params["batch_norm"]]
    number = plain[0]
    result = study.show(number).result
    spec = trial_spec(study._sweep, study.show(number), need_model=False)
    splits = trial_splits(spec)
    again = retrain(spec, splits)
    assert round(again.test_accuracy * 360) == round(result.test_accuracy * 360)
    assert again.test_loss == pytest.approx(result.test_loss, rel=1e-4)
    batch = spec.params["batch_size"]
    assert again.iterations == result.best_epoch * (len(splits.y_train) // batch)


def test_the_keep_policy_pruned_the_trial_that_cannot_make_the_top_3(cli, store) -> None:
    study = sweeps.load_study(CNN, store)
    ranked = [int(t) for t in study.best(4)["trial"]]
    assert [study.model_kept(t) for t in ranked] == [True, True, True, False]
    assert study.config.keep_models == "top-3"  # recorded with the study
    result = invoke(cli, "model", ranked[-1], "--study", CNN, "--storage", store)
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "was not kept" in result.stderr and "--keep-models top-3" in result.stderr
    shown = invoke(cli, "show", ranked[-1], "--study", CNN, "--storage", store)
    assert "Model: not kept (--keep-models top-3)" in shown.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["model", 99, "--study", CNN], "no recorded trial 99"),
        (["model", "--study", CNN, "--out", "x.h5"], "--out must be a .keras file"),
        (["model", "--study", CNN, "--out", "missing/x.keras"], "which does not exist"),
        (["evaluate", "--study", CNN, "--out", "missing"], "is not a folder"),
        (["ensemble", "--study", CNN, "--top", 0], "--top must be a positive integer"),
        (["ensemble", "--study", CNN, "--top", 9], "--top 9 needs 9 finished trials"),
        (["ensemble", "--study", CNN, "--top", 4], "was not kept"),
        (["refit", "--study", "nope"], "does not exist"),
    ],
)
def test_bad_input_is_one_line_and_creates_nothing(
    cli, store, tmp_path, monkeypatch, args, message
) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke(cli, *args, "--storage", store)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
    assert message in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_spawned_errors_come_back_with_their_type(store, tmp_path) -> None:
    import dataclasses

    study = sweeps.load_study(RESIZED, store)
    spec = trial_spec(study._sweep, study.show(int(study.best(1).iloc[0].trial)))
    asked = dataclasses.replace(spec.config.spec, space="nope")
    unknown = dataclasses.replace(spec, config=dataclasses.replace(spec.config, spec=asked))
    with pytest.raises(sweeps.SpaceError, match="unknown space 'nope'"):
        run_in_child("sweeps.worker.export:export_model", unknown, str(tmp_path / "a.keras"))
    (tmp_path / "empty").mkdir()
    no_weights = dataclasses.replace(spec, checkpoint_dir=str(tmp_path / "empty"))
    with pytest.raises(sweeps.ConfigError, match="has no saved weights"):
        run_in_child("sweeps.worker.export:export_model", no_weights, str(tmp_path / "b.keras"))
    with pytest.raises(TaskFailedError, match=r"^sweeps\.worker\.export:export_model failed: "):
        run_in_child("sweeps.worker.export:export_model", spec, str(tmp_path / "no" / "c.keras"))
    with pytest.raises(ValueError, match="target must be"):
        run_in_child("os:system", "true")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]


def test_reading_models_and_ensembles_does_not_import_tensorflow(store) -> None:
    code = textwrap.dedent(f"""
        import sys
        from typer.testing import CliRunner
        import sweeps
        from sweeps.cli import app
        study = sweeps.load_study({CNN!r}, {store!r})
        number = int(study.best(1).iloc[0]["trial"])
        study.ensembles(); study.evaluation(number); study.model_kept(number)
        study.recorded_refit(number); sweeps.results.all_ensembles({store!r})
        for args in (["best"], ["studies"], ["show", str(number), "--study", {CNN!r}]):
            assert CliRunner().invoke(app, [*args, "--storage", {store!r}]).exit_code == 0
        loaded = {{"tensorflow", "keras", "sweeps.worker"}} & set(sys.modules)
        assert not loaded, loaded
    """)
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=120)


def test_the_python_api_keeps_tensorflow_out_of_the_callers_process(store, tmp_path) -> None:
    """save_model, evaluate, ensemble(k) and refit from a script: each does its work (checked
    on what it returns and records) in a spawned child, so the script never imports TensorFlow.
    """
    code = textwrap.dedent(f"""
        import json, sys
        import sweeps
        study = sweeps.load_study({CNN!r}, {store!r})
        ranked = [int(t) for t in study.best(4)["trial"]]
        saved = study.save_model(out={str(tmp_path / "best.keras")!r})
        evaluated = study.evaluate(ranked[0], out={str(tmp_path)!r})
        ensemble = study.ensemble(2)
        refit = study.refit(ranked[0], out={str(tmp_path / "refit.keras")!r})
        confusion = evaluated.val.confusion
        val = sum(confusion[i][i] for i in range(len(confusion))) / sum(map(sum, confusion))
        loaded = sorted({{"tensorflow", "keras", "sweeps.worker"}} & set(sys.modules))
        print(json.dumps({{
            "loaded": loaded, "ranked": ranked, "saved": saved.trial,
            "evaluated": [evaluated.trial, val],
            "members": [int(t) for t in ensemble.members["trial"]],
            "ensemble": [ensemble.val_accuracy, ensemble.test_accuracy],
            "recorded": len(study.ensembles()),
            "refit": [refit.trial, refit.test_accuracy],
        }}))
    """)
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["loaded"] == [], report["loaded"]
    best = report["ranked"][0]
    assert report["saved"] == best and (tmp_path / "best.keras").is_file()
    study = sweeps.load_study(CNN, store)
    assert report["evaluated"][0] == best
    assert report["evaluated"][1] == pytest.approx(study.show(best).result.val_accuracy)
    assert report["members"] == report["ranked"][:2]  # the top 2 by validation
    assert all(0.0 <= a <= 1.0 for a in report["ensemble"])
    assert report["recorded"] >= 1
    assert report["refit"][0] == best and (tmp_path / "refit.keras").is_file()
    assert study.recorded_refit(best).test_accuracy == report["refit"][1]
