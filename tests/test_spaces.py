"""The built-in search spaces: their notebooks' recipes, their builds, their loading.

Every space builds at the input sizes it declares and trains one step on random data; the
big ``keras.applications`` spaces are built once, at their smallest input, and shared.
"""

from __future__ import annotations

import math
import textwrap
import types

import keras
import keras_tuner as kt
import numpy as np
import optuna
import pytest

from search_spaces import (
    BUILTIN_SPACES,
    ENTRY_POINT_GROUP,
    InputSpec,
    SpaceError,
    check_baseline,
    load_space,
    pretrained,
    space_names,
    tunables,
)
from sweeps.worker.hp_adapter import OptunaHyperParameters

optuna.logging.set_verbosity(optuna.logging.WARNING)

# Each notebook's recipe, value by value, as /work/shared/SEEDS.md gives it; the rest are the
# notebook's architecture choices (width, depth, dropout...) and its augmentation.
NOTEBOOK_RECIPES = {
    "all_cnn": {  # 000
        "optimizer": "sgd", "momentum": 0.9, "learning_rate": 0.021,
        "schedule": "step", "step_epochs": "15,40,75,90,115,140", "step_factor": 0.7,
        "weight_decay": 0.001, "batch_size": 32, "normalization": "per_image",
        "filters": 96, "dropout": 0.5, "batch_norm": True, "flip": False, "translation": 0.0,
    },
    "three_layer_convnet": {  # 001, barebones: SGD 3e-3, no momentum
        "variant": "barebones", "optimizer": "sgd", "momentum": 0.0, "learning_rate": 3e-3,
        "schedule": "constant", "batch_size": 64, "normalization": "train_stats",
        "width": 1, "batch_norm": False, "weight_decay": 0.0, "flip": False, "translation": 0.0,
    },
    "leaky_cnn": {  # 002
        "optimizer": "adamax", "learning_rate": 5e-3, "schedule": "exponential",
        "decay_rate": 0.9, "batch_size": 64, "normalization": "centered",
        "filters": 16, "dense_units": 256, "dropout_conv": 0.25, "dropout_dense": 0.5,
        "leaky_slope": 0.1, "batch_norm": False, "weight_decay": 0.0,
        "flip": False, "translation": 0.0,
    },
    "mnist_cnn": {  # 003, the plain model
        "optimizer": "adam", "learning_rate": 1e-3, "schedule": "constant", "batch_size": 100,
        "normalization": "unit", "filters": 32, "dense_units": 256, "dropout": 0.4,
        "batch_norm": False, "weight_decay": 0.0, "translation": 0.0, "rotation": 0.0,
    },
    "mlp": {  # 004a: Adadelta 0.1 with lr / (1 + lr/150 * epoch)
        "optimizer": "adadelta", "learning_rate": 0.1, "schedule": "time_based",
        "time_decay": 0.1 / 150, "batch_size": 64, "normalization": "unit",
        "hidden_layers": 2, "units": 256, "dropout_input": 0.2, "dropout": 0.2,
        "batch_norm": True, "max_norm": 3.0, "translation": 0.0, "rotation": 0.0,
    },
    "small_cnn": {  # 004b, the last recipe: Adam 1e-3, rotation + translation 0.05 in tf.data
        "optimizer": "adam", "learning_rate": 1e-3, "schedule": "constant", "batch_size": 64,
        "normalization": "unit", "rotation": 0.05, "translation": 0.05,
        "filters": 32, "dense_units": 512, "dropout": 0.2, "batch_norm": True,
        "weight_decay": 0.0,
    },
    "shallow_vgg": {  # 004c
        "optimizer": "adadelta", "learning_rate": 0.5, "schedule": "constant", "batch_size": 64,
        "normalization": "unit", "flip": False, "rotation": 0.05, "translation": 0.05,
        "blocks": 3, "filters": 32, "dense_units": 256, "dropout_1": 0.4, "dropout_2": 0.2,
        "batch_norm": False, "weight_decay": 0.0, "initializer": "he_uniform",
    },
    "resnet": {  # 004d, the Adadelta run
        "optimizer": "adadelta", "learning_rate": 0.5, "schedule": "constant", "batch_size": 64,
        "normalization": "unit", "flip": False, "rotation": 0.05, "translation": 0.05,
        "filters": 16, "identity_blocks": 1, "conv_blocks": 2, "dense_units": 256,
        "dropout_1": 0.4, "dropout_2": 0.2, "weight_decay": 0.0,
    },
    "xception": {  # 004e
        "optimizer": "adadelta", "learning_rate": 0.9, "schedule": "constant", "batch_size": 64,
        "normalization": "unit", "flip": False, "rotation": 0.05, "translation": 0.05,
        "pooling": "max", "dense_units": 256, "batch_norm": True, "dropout": 0.4,
    },
    "inception_resnet_v2": {  # 004f, the frozen run
        "optimizer": "adam", "learning_rate": 1e-4, "schedule": "constant", "batch_size": 64,
        "normalization": "unit", "rotation": 0.1, "translation": 0.05, "fine_tune": False,
        "pooling": "max", "dense_units": 256, "batch_norm": True, "dropout": 0.4,
    },
}  # fmt: skip

# notebook, min_input, channels, normalization
NOTEBOOK_INFO = {
    "all_cnn": ("000", (8, 8), (1, 3), "per_image"),
    "three_layer_convnet": ("001", (8, 8), (1, 3), "train_stats"),
    "leaky_cnn": ("002", (8, 8), (1, 3), "centered"),
    "mnist_cnn": ("003", (8, 8), (1, 3), "unit"),
    "mlp": ("004a", (8, 8), (1, 3), "unit"),
    "small_cnn": ("004b", (10, 10), (1, 3), "unit"),
    "shallow_vgg": ("004c", (16, 16), (1, 3), "unit"),
    "resnet": ("004d", (32, 32), (1, 3), "unit"),
    "xception": ("004e", (71, 71), (3,), "unit"),
    "inception_resnet_v2": ("004f", (75, 75), (3,), "unit"),
}
BIG = ("xception", "inception_resnet_v2")
SMALL = sorted(set(BUILTIN_SPACES) - set(BIG))
TYPICAL = {"cifar10": (32, 32, 3), "mnist": (28, 28, 1)}


def shapes(name: str) -> list[tuple[int, int, int]]:
    """The space's smallest input and a typical one for its first dataset."""
    info = load_space(name).info
    typical = TYPICAL[info.fits[0]]
    channels = typical[2] if typical[2] in info.channels else max(info.channels)
    smallest = (*info.min_input, channels)
    return [smallest] if smallest == typical else [smallest, typical]


def active(hp: kt.HyperParameters) -> dict:
    return {name: value for name, value in hp.values.items() if hp.is_active(name)}


def ask(space, hp, shape, num_classes=10):
    """What a trial does: the training questions, then the architecture's own."""
    recipe = tunables.ask_training(hp, space.baseline, normalization=space.info.normalization,
                                   augmentations=space.info.augmentations)  # fmt: skip
    model = space.build(hp, InputSpec(shape, num_classes))
    return recipe, model


def train_one_step(model, recipe, shape, num_classes=10) -> float:
    tunables.compile_model(model, recipe, steps_per_epoch=1, epochs=1)
    rng = np.random.default_rng(0)
    x = rng.random((2, *shape), dtype="float32")
    y = np.array([0, num_classes - 1])
    loss = model.train_on_batch(x, y)[0]
    assert math.isfinite(loss)
    return loss


def assert_inside_ranges(hp: kt.HyperParameters):
    """Every asked value lies inside its question's range or choices."""
    for question in hp.space:
        if not hp.is_active(question):
            continue
        value, kind = hp.values[question.name], type(question).__name__
        if kind in ("Float", "Int"):
            assert question.min_value <= value <= question.max_value, question.name
        elif kind == "Choice":
            assert value in question.values, question.name


def assert_outputs_logits(model, num_classes):
    assert model.output_shape == (None, num_classes)
    for layer in model.layers:
        assert not isinstance(layer, keras.layers.Softmax), layer.name
        assert getattr(layer, "activation", None) is not keras.activations.softmax, layer.name


@pytest.fixture(scope="module")
def big_models():
    """Each big space built once at its smallest input with the baseline, and trained a step."""
    built = {}
    for name in BIG:
        keras.utils.set_random_seed(0)
        space, hp = load_space(name), kt.HyperParameters()
        shape = shapes(name)[0]
        recipe, model = ask(space, hp, shape)
        loss = train_one_step(model, recipe, shape)
        built[name] = (hp, model, loss)
    return built


# --- the registry and the recipes ------------------------------------------------------------


def test_every_notebook_architecture_is_registered():
    assert set(BUILTIN_SPACES) == set(NOTEBOOK_RECIPES)
    assert set(BUILTIN_SPACES) <= set(space_names())


@pytest.mark.parametrize("name", sorted(NOTEBOOK_RECIPES))
def test_baseline_is_the_notebooks_recipe(name):
    baseline = load_space(name).baseline
    expected = NOTEBOOK_RECIPES[name]
    for key, value in expected.items():
        assert baseline.get(key) == value, (name, key)
    assert set(baseline) == set(expected), name


@pytest.mark.parametrize("name", sorted(NOTEBOOK_INFO))
def test_info(name):
    info = load_space(name).info
    notebook, min_input, channels, normalization = NOTEBOOK_INFO[name]
    assert info.name == name
    assert (info.notebook, info.min_input, info.channels, info.normalization) == (
        notebook, min_input, channels, normalization)  # fmt: skip
    assert info.title and info.published and info.fits
    assert set(info.augmentations) <= set(tunables.AUGMENTATIONS)
    for aug in tunables.AUGMENTATIONS:
        # Tunable augmentations have a baseline value; the others must not appear.
        assert (aug in load_space(name).baseline) == (aug in info.augmentations), aug


# --- builds -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "shape"),
    # The smallest input in the quick tier; the notebook's own size (slower) in the full one,
    # and resnet, whose smallest input is already 32x32, too.
    [pytest.param(name, shape, id=f"{name}-{'x'.join(map(str, shape))}",
                  marks=[pytest.mark.slow] if i or name == "resnet" else [])
     for name in SMALL for i, shape in enumerate(shapes(name))],
)  # fmt: skip
def test_small_space_builds_baseline_and_trains_one_step(name, shape):
    keras.utils.set_random_seed(0)
    space, hp = load_space(name), kt.HyperParameters()
    num_classes = 7 if shape[:2] == space.info.min_input else 10
    recipe, model = ask(space, hp, shape, num_classes)
    assert active(hp) == NOTEBOOK_RECIPES[name]
    assert_inside_ranges(hp)
    check_baseline(space, hp)
    assert_outputs_logits(model, num_classes)
    train_one_step(model, recipe, shape, num_classes)


@pytest.mark.slow
@pytest.mark.parametrize("name", BIG)
def test_big_space_builds_baseline_and_trains_one_step(name, big_models):
    hp, model, loss = big_models[name]
    assert active(hp) == NOTEBOOK_RECIPES[name]
    assert_inside_ranges(hp)
    check_baseline(load_space(name), hp)
    assert_outputs_logits(model, 10)
    assert math.isfinite(loss)


@pytest.mark.slow
def test_inception_resnet_v2_freezes_like_the_notebook(big_models):
    """The notebook reports 396,554 trainable parameters frozen and 54,672,746 fine-tuned."""
    _, frozen, _ = big_models["inception_resnet_v2"]
    count = sum(math.prod(w.shape) for w in frozen.trainable_weights)
    assert count == 396_554
    hp = kt.HyperParameters()
    hp.values["fine_tune"] = True
    space = load_space("inception_resnet_v2")
    _, tuned = ask(space, hp, (75, 75, 3))
    assert sum(math.prod(w.shape) for w in tuned.trainable_weights) == 54_672_746


def test_all_cnn_has_the_notebooks_parameters():
    _, model = ask(load_space("all_cnn"), kt.HyperParameters(), (32, 32, 3))
    assert model.count_params() == 955_114  # the sum of notebook 000's model.summary()


def test_min_input_is_the_smallest_that_builds():
    small_cnn = load_space("small_cnn")
    with pytest.raises(ValueError):
        ask(small_cnn, kt.HyperParameters(), (9, 9, 1))
    vgg = load_space("shallow_vgg")
    deepest = kt.HyperParameters()
    deepest.values["blocks"] = 4
    ask(vgg, deepest, (16, 16, 3))
    deepest = kt.HyperParameters()
    deepest.values["blocks"] = 4
    with pytest.raises(ValueError):
        ask(vgg, deepest, (15, 15, 3))
    for name in BIG:
        h, w = load_space(name).info.min_input
        with pytest.raises(ValueError, match="at least"):
            ask(load_space(name), kt.HyperParameters(), (h - 1, w - 1, 3))


def test_three_layer_convnet_variants():
    space = load_space("three_layer_convnet")
    filters = {}
    for variant in ("barebones", "keras"):
        hp = kt.HyperParameters()
        hp.values["variant"] = variant
        _, model = ask(space, hp, (32, 32, 3))
        convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
        filters[variant] = [(c.filters, c.kernel_size) for c in convs]
    assert filters == {"barebones": [(32, (5, 5)), (16, (3, 3))],
                       "keras": [(16, (5, 5)), (32, (3, 3))]}  # fmt: skip


# --- pretrained weights -----------------------------------------------------------------------


@pytest.fixture
def empty_keras_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setattr(pretrained, "keras_cache_dirs", lambda: [tmp_path / "keras_home/models"])
    return tmp_path / "keras_home/models"


@pytest.mark.parametrize("name", BIG)
def test_missing_imagenet_weights_name_the_file_and_the_fix(name, empty_keras_cache):
    space = load_space(name)
    spec = InputSpec((*space.info.min_input, 3), 10, weights="imagenet")
    with pytest.raises(SpaceError) as caught:
        space.build(kt.HyperParameters(), spec)
    message = str(caught.value)
    assert "\n" not in message
    assert space.module.WEIGHTS_FILE in message
    assert str(empty_keras_cache) in message
    assert "--weights FILE" in message


def test_cached_imagenet_weights_are_used_without_download(empty_keras_cache):
    empty_keras_cache.mkdir(parents=True)
    cached = empty_keras_cache / "backbone_notop.h5"
    cached.write_bytes(b"")
    found = pretrained.resolve_weights("imagenet", "x", "backbone_notop.h5", "https://x")
    assert found == str(cached)
    assert pretrained.resolve_weights(None, "x", "backbone_notop.h5", "https://x") is None


def test_bad_weights_files_are_refused(tmp_path):
    with pytest.raises(SpaceError, match="does not exist"):
        pretrained.resolve_weights(str(tmp_path / "nope.h5"), "x", "f.h5", "https://x")
    (tmp_path / "weights.txt").write_text("")
    with pytest.raises(SpaceError, match=r"must end in \.h5"):
        pretrained.resolve_weights(str(tmp_path / "weights.txt"), "x", "f.h5", "https://x")


@pytest.mark.slow
def test_weights_file_is_loaded_into_the_base(big_models, tmp_path):
    _, model, _ = big_models["xception"]
    base = model.layers[1]
    path = tmp_path / "xception_base.weights.h5"
    base.save_weights(path)
    space = load_space("xception")
    reloaded = space.build(kt.HyperParameters(), InputSpec((71, 71, 3), 10, weights=str(path)))
    for saved, loaded in zip(base.weights, reloaded.layers[1].weights, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(saved),
                                      keras.ops.convert_to_numpy(loaded))  # fmt: skip


# --- the Optuna adapter -----------------------------------------------------------------------


def trial_build(name, study, shape=None):
    space = load_space(name)
    trial = study.ask()
    hp = OptunaHyperParameters(trial)
    ask(space, hp, shape or shapes(name)[0])
    return trial, hp


@pytest.mark.parametrize("name", SMALL)
def test_optuna_baseline_trial_reproduces_the_baseline(name):
    study = optuna.create_study()
    study.enqueue_trial(load_space(name).baseline)
    trial, hp = trial_build(name, study)
    assert trial.params == NOTEBOOK_RECIPES[name]


@pytest.mark.parametrize("name", SMALL)
def test_optuna_trial_receives_only_active_params(name):
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.enqueue_trial({"optimizer": "adam", "schedule": "constant"})
    study.enqueue_trial({"optimizer": "nesterov", "schedule": "cyclical"})
    adam, hp = trial_build(name, study)
    assert set(adam.params) == set(active(hp))
    assert "momentum" not in adam.params
    assert not {"step_epochs", "decay_rate", "time_decay", "cycle_steps"} & set(adam.params)
    nesterov, hp = trial_build(name, study)
    assert set(nesterov.params) == set(active(hp))
    assert {"momentum", "cycle_steps", "cycle_base_ratio", "cycle_decay"} <= set(nesterov.params)
    assert not {"step_epochs", "decay_rate", "time_decay"} & set(nesterov.params)


# --- third-party spaces -----------------------------------------------------------------------

THIRD_PARTY = textwrap.dedent(
    '''
    """A third-party space: a one-layer net."""
    import types

    from search_spaces import InputSpec, SpaceInfo

    INFO = SpaceInfo(name="tiny", notebook="-", title="tiny", published="-", fits=("mnist",))
    BASELINE = {"optimizer": "adam", "learning_rate": 0.01, "units": 8}


    def build(hp, spec: InputSpec):
        import keras

        units = hp.Choice("units", [8, 16], default=BASELINE["units"])
        inputs = keras.Input(spec.shape)
        hidden = keras.layers.Dense(units, activation="relu")(keras.layers.Flatten()(inputs))
        return keras.Model(inputs, keras.layers.Dense(spec.num_classes)(hidden))


    SPACE = types.SimpleNamespace(INFO=INFO, BASELINE=BASELINE, build=build)
    '''
)


@pytest.fixture
def third_party(tmp_path, monkeypatch):
    package = tmp_path / "thirdparty_spaces"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "tiny.py").write_text(THIRD_PARTY)
    monkeypatch.syspath_prepend(str(tmp_path))
    return package / "tiny.py"


def test_third_party_space_loads_by_file_path(third_party):
    space = load_space(str(third_party))
    assert space.name == "tiny" and space.reference == str(third_party)
    assert load_space(f"{third_party}:SPACE").baseline == space.baseline
    hp = kt.HyperParameters()
    recipe, model = ask(space, hp, (8, 8, 1))
    check_baseline(space, hp)
    train_one_step(model, recipe, (8, 8, 1))


def test_third_party_space_loads_by_dotted_path_and_entry_point(third_party):
    assert load_space("thirdparty_spaces.tiny").name == "tiny"
    assert load_space("thirdparty_spaces.tiny:SPACE").name == "tiny"
    # An installed distribution's metadata, as pip writes it, on sys.path beside the package.
    dist_info = third_party.parent.parent / "thirdparty_spaces-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: thirdparty-spaces\nVersion: 0.1\n"
    )
    (dist_info / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\ntiny_ep = thirdparty_spaces.tiny\n"
    )
    assert "tiny_ep" in space_names()
    assert load_space("tiny_ep").name == "tiny"


def write_space(tmp_path, source: str, name: str = "bad_space.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return str(path)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("x = 1\n", "is missing INFO, BASELINE, build"),
        ("BASELINE = {}\ndef build(hp, spec): pass\n", "is missing INFO:"),
        ("INFO = {}\nBASELINE = {}\ndef build(hp, spec): pass\n", "INFO must be a"),
        (
            "from search_spaces import SpaceInfo\n"
            "INFO = SpaceInfo('t', '-', 't', '-')\nBASELINE = []\ndef build(hp, spec): pass\n",
            "BASELINE must be a dict",
        ),
        (
            "from search_spaces import SpaceInfo\n"
            "INFO = SpaceInfo('t', '-', 't', '-')\nBASELINE = {}\nbuild = 3\n",
            "build must be a function",
        ),
        (
            "from search_spaces import SpaceInfo\n"
            "INFO = SpaceInfo('t', '-', 't', '-')\nBASELINE = {}\ndef build(hp): pass\n",
            "build must take two arguments",
        ),
        (
            "from search_spaces import SpaceInfo\n"
            "INFO = SpaceInfo('t', '-', 't', '-', augmentations=('mixup',))\n"
            "BASELINE = {}\ndef build(hp, spec): pass\n",
            "INFO.augmentations may hold only flip, translation, rotation, but got 'mixup'",
        ),
        (
            "from search_spaces import SpaceInfo\n"
            "INFO = SpaceInfo('t', '-', 't', '-', normalization='imagenet')\n"
            "BASELINE = {}\ndef build(hp, spec): pass\n",
            "INFO.normalization must be one of",
        ),
        (
            "from search_spaces import SpaceInfo\n"
            "INFO = SpaceInfo('t', '-', 't', '-', min_input=(8,))\n"
            "BASELINE = {}\ndef build(hp, spec): pass\n",
            "INFO.min_input must be (height, width)",
        ),
        ("import not_a_real_module_anywhere\n", "fails to import: ModuleNotFoundError"),
    ],
)
def test_invalid_space_names_what_is_wrong(tmp_path, source, message):
    with pytest.raises(SpaceError) as caught:
        load_space(write_space(tmp_path, source))
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_unresolvable_references(tmp_path):
    with pytest.raises(SpaceError, match="unknown space 'nonesuch'; choose one of all_cnn"):
        load_space("nonesuch")
    with pytest.raises(SpaceError, match="does not exist"):
        load_space(str(tmp_path / "missing.py"))
    with pytest.raises(SpaceError, match="cannot be imported"):
        load_space("no_such_package.spaces")
    with pytest.raises(SpaceError, match="has no attribute 'NOPE'"):
        load_space("search_spaces.mlp:NOPE")


def test_sweeps_raises_the_spaces_error_again_under_its_root(tmp_path):
    """search_spaces keeps its own SpaceError (it imports nothing from sweeps); sweeps' wrappers
    raise it as sweeps.SpaceError, a SweepsError, with the same message and the cause kept."""
    import sweeps
    from sweeps import space_access

    def refuse(hp, spec):  # a pretrained space refusing its weights inside build
        raise SpaceError("x: weights file 'w.h5' does not exist; pass an existing weights file.")

    calls = [
        (space_access.load_space, "nonesuch"),
        (space_access.check_reference, str(tmp_path / "missing.py")),
        (space_access.resolve_weights, str(tmp_path / "nope.h5"), "x", "f.h5", "https://x"),
        (space_access.build_model, types.SimpleNamespace(build=refuse), None, None),
    ]
    for function, *args in calls:
        with pytest.raises(sweeps.SpaceError) as caught:
            function(*args)
        assert isinstance(caught.value, sweeps.SweepsError)
        assert not isinstance(caught.value, SpaceError)  # sweeps' own, not the layer's
        assert type(caught.value.__cause__) is SpaceError, function.__name__
        assert str(caught.value) == str(caught.value.__cause__)
    assert space_access.resolved_reference("mlp") == "mlp"


def test_baseline_keys_build_never_asks_are_named(third_party, tmp_path):
    source = third_party.read_text().replace(
        '"units": 8}', '"units": 8, "depth": 3, "momentum": 0.9}'
    )
    space = load_space(write_space(tmp_path, source, "extra_keys.py"))
    hp = kt.HyperParameters()
    ask(space, hp, (8, 8, 1))
    with pytest.raises(SpaceError, match="BASELINE names 'depth', 'momentum', which build never"):
        check_baseline(space, hp)


def test_baseline_that_build_does_not_default_to_is_named(third_party, tmp_path):
    source = third_party.read_text().replace('default=BASELINE["units"]', "default=16")
    space = load_space(write_space(tmp_path, source, "wrong_default.py"))
    hp = kt.HyperParameters()
    ask(space, hp, (8, 8, 1))
    with pytest.raises(SpaceError, match=r"build's defaults \{'units': 16\} differ from BASELINE"):
        check_baseline(space, hp)
