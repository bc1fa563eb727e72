"""The house's boundaries, checked on the source: who may reach the worker side (the
dispatcher's process entry, and spawn targets named by string), no import cycles, Optuna through
its public API only, the trial recipe in one place, TensorFlow imported only on the worker side,
Python children started one way, one error root, and the lower layers (storage, search_spaces)
importing nothing from sweeps, which reaches their errors through one wrapper each."""

from __future__ import annotations

import ast
import builtins
import re
from pathlib import Path

from tests.conftest import REPO

PACKAGES = ("sweeps", "storage", "search_spaces")


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            parts = path.relative_to(REPO).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _imports(path: Path, *, top_level_only: bool) -> list[tuple[str, ast.AST]]:
    """Absolute module names imported by ``path`` with the node's enclosing function (or the
    module itself)."""
    return _imports_of(ast.parse(path.read_text()), top_level_only=top_level_only)


def _imports_of(tree: ast.AST, *, top_level_only: bool) -> list[tuple[str, ast.AST]]:
    found: list[tuple[str, ast.AST]] = []

    def visit(node: ast.AST, scope: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                if not top_level_only:
                    visit(child, child)
                continue
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.Import):
                found.extend((alias.name, scope) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and not child.level:
                found.append((child.module, scope))
                found.extend((f"{child.module}.{alias.name}", scope) for alias in child.names)
            visit(child, scope)

    visit(tree, tree)
    return found


# The places a worker loop runs in, which import the worker package there: the dispatcher's
# process entry and the Ray actor's run (in the actor's process).
WORKER_ENTRIES = {("sweeps.dispatcher", "_worker_entry"), ("sweeps.cluster.actor", "run")}
# The one way outside sweeps/worker/ to reach the worker side besides those entries: a literal
# "sweeps.worker.MODULE:FUNCTION" as the first argument of the spawn helper, imported by name
# inside the spawned child.
SPAWN_HELPER = "run_in_child"
SPAWN_TARGET = re.compile(r"sweeps\.worker\.(\w+):(\w+)")
NAMES_WORKER = re.compile(r"sweeps\.worker(\.\w+)*(:\w+)?")


def _worker_references(name: str, tree: ast.AST) -> list[str]:
    """How module ``name`` reaches the worker package other than as allowed: static imports
    (except the dispatcher's process entry) and strings naming it (except spawn targets)."""
    offenders = []
    for imported, scope in _imports_of(tree, top_level_only=False):
        if imported == "sweeps.worker" or imported.startswith("sweeps.worker."):
            where = getattr(scope, "name", "<module>")
            if (name, where) not in WORKER_ENTRIES:
                offenders.append(f"{name} ({where}) imports {imported}")
    targets = {
        id(node.args[0])
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and SPAWN_HELPER in (getattr(node.func, "id", None), getattr(node.func, "attr", None))
        and node.args
    }
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
            continue
        if NAMES_WORKER.fullmatch(node.value) and not (
            id(node) in targets and SPAWN_TARGET.fullmatch(node.value)
        ):
            offenders.append(f"{name}:{node.lineno} names {node.value!r} outside {SPAWN_HELPER}")
    return offenders


def test_only_the_process_entries_reach_the_worker_package() -> None:
    offenders = []
    for name, path in _modules().items():
        if not name.startswith("sweeps.worker"):
            offenders += _worker_references(name, ast.parse(path.read_text()))
    assert not offenders, offenders


def test_every_spawn_target_names_a_worker_function() -> None:
    targets = [
        (path, node.value)
        for name, path in _modules().items()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and SPAWN_TARGET.fullmatch(node.value)
    ]
    assert targets, "no spawn target found: the check below checks nothing"
    for path, target in targets:
        module, function = SPAWN_TARGET.fullmatch(target).groups()
        source = REPO / "sweeps" / "worker" / f"{module}.py"
        assert source.is_file(), f"{path.name}: {target} names a missing module"
        defined = {n.name for n in ast.parse(source.read_text()).body if hasattr(n, "name")}
        assert function in defined, f"{path.name}: {target} names a missing function"


def test_the_worker_check_catches_a_static_import_or_a_stray_name() -> None:
    def offenders(code: str, name: str = "sweeps.results") -> list[str]:
        return _worker_references(name, ast.parse(code))

    assert offenders("def f():\n    from sweeps.worker import export")
    assert offenders("import sweeps.worker.refit")
    assert offenders("def _worker_entry():\n    import sweeps.worker.process")
    assert not offenders(
        "def _worker_entry():\n    import sweeps.worker.process", "sweeps.dispatcher"
    )
    assert not offenders("def run():\n    import sweeps.worker.process", "sweeps.cluster.actor")
    assert offenders("def place():\n    import sweeps.worker.process", "sweeps.cluster.actor")
    assert offenders("importlib.import_module('sweeps.worker.export')")
    assert offenders("run_in_child('sweeps.worker.export')")  # no function named
    assert offenders("other('sweeps.worker.export:export_model')")
    assert not offenders("run_in_child('sweeps.worker.export:export_model', spec)")
    assert not offenders("spawn.run_in_child('sweeps.worker.refit:refit_trial', spec, out)")


def test_no_import_cycles_at_module_level() -> None:
    modules = _modules()
    graph = {
        name: {
            imported
            for imported, _ in _imports(path, top_level_only=True)
            if imported in modules and imported != name
        }
        for name, path in modules.items()
    }
    # A package's __init__ re-exports its modules; an edge from a module to its own package
    # is not a cycle in import order, so drop those edges.
    for name, edges in graph.items():
        graph[name] = {e for e in edges if not name.startswith(e + ".")}
    visiting, done, cycles = set(), set(), []

    def walk(node: str, trail: list[str]) -> None:
        if node in done:
            return
        if node in visiting:
            cycles.append(trail[trail.index(node) :] + [node])
            return
        visiting.add(node)
        for nxt in sorted(graph[node]):
            walk(nxt, trail + [nxt])
        visiting.discard(node)
        done.add(node)

    for name in sorted(graph):
        walk(name, [name])
    assert not cycles, cycles


# The one module that extends Optuna's storage itself (batching a running trial's writes with
# Optuna's own write helpers) and so reads what its subclass may: the trial ids of the frozen
# trials it hands back.
EXTENDS_OPTUNA_STORAGE = "sweeps.held_writes"


def test_optuna_is_used_through_its_public_api() -> None:
    private = re.compile(r"\._storage\b|\._trial_id\b|\._study_id\b|system_attrs")
    hits = [
        f"{path.relative_to(REPO)}:{n}"
        for name, path in _modules().items()
        if name != EXTENDS_OPTUNA_STORAGE
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if private.search(line)
    ]
    assert not hits, hits


STATUS_WORDS = {
    "complete",
    "pruned",
    "diverged",
    "failed",
    "out_of_memory",
    "interrupted",
    "lost",
    "running",
    "idle",
    "training",
    "exited",
    "dead",
}


def _status_literals(tree: ast.AST) -> list[int]:
    """Lines where a status word is compared with, or passed as a status/state, by hand."""

    def words(node: ast.AST) -> bool:
        return any(isinstance(c, ast.Constant) and c.value in STATUS_WORDS for c in ast.walk(node))

    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and any(words(n) for n in [node.left, *node.comparators]):
            lines.append(node.lineno)
        elif isinstance(node, ast.keyword) and node.arg in ("status", "state") and words(node):
            lines.append(node.value.lineno)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("in_", "isin")
            and any(words(a) for a in node.args)
        ):
            lines.append(node.lineno)
    return lines


def test_trial_statuses_are_spelled_once() -> None:
    """Status strings live in storage.tables' enums; code elsewhere names the members."""
    hits = [
        f"{path.relative_to(REPO)}:{line}"
        for name, path in _modules().items()
        if name != "storage.tables"
        for line in _status_literals(ast.parse(path.read_text()))
    ]
    assert not hits, hits


def test_the_status_check_catches_a_hand_written_status() -> None:
    assert _status_literals(ast.parse("if outcome.status == 'pruned': pass")) == [1]
    assert _status_literals(ast.parse("q.where(T.status.in_(('complete', 'pruned')))")) == [1]
    assert _status_literals(ast.parse("set_worker(e, w, state='dead')")) == [1]
    assert _status_literals(ast.parse("row = {'failed': counts.failed}")) == []


# One trial recipe: each step of building a trial is called from one module, so the trainer,
# the range test, refit, export, the preflight, the KerasTuner adapter and the benchmark cannot
# drift apart. The questions are asked in one TensorFlow-free module, which the recipe and the
# catalog's and sweep-file check's child (sweeps.worker.questions) share; the rest happens in
# the worker's recipe.
RECIPE_STEPS = {
    "ask_training": "sweeps.trial_questions",
    "set_random_seed": "sweeps.worker.recipe",
    "make_pipelines": "sweeps.worker.recipe",
    "compile_model": "sweeps.worker.recipe",
}


def _recipe_step_calls(name: str, tree: ast.AST) -> list[str]:
    """Calls in module ``name`` of a recipe step that belongs to another module."""
    offenders = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        called = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
        if called in RECIPE_STEPS and RECIPE_STEPS[called] != name:
            offenders.append(f"{name}:{node.lineno} calls {called}")
    return offenders


def test_a_trial_is_built_in_one_place() -> None:
    sources = {**_modules()}
    for path in (REPO / "benchmarks").glob("*.py"):
        sources[f"benchmarks.{path.stem}"] = path
    offenders = []
    for name, path in sources.items():
        offenders += _recipe_step_calls(name, ast.parse(path.read_text()))
    assert not offenders, offenders
    called = {
        step
        for name in set(RECIPE_STEPS.values())
        for node in ast.walk(ast.parse(sources[name].read_text()))
        if isinstance(node, ast.Call)
        for step in [getattr(node.func, "id", None) or getattr(node.func, "attr", None)]
        if step in RECIPE_STEPS
    }
    assert called == set(RECIPE_STEPS), "a step is no longer where this check looks for it"


def test_the_recipe_check_catches_a_step_called_elsewhere() -> None:
    def offenders(code: str, name: str = "sweeps.worker.refit") -> list[str]:
        return _recipe_step_calls(name, ast.parse(code))

    assert offenders("tunables.compile_model(model, recipe, 10, 3)")
    assert offenders("from search_spaces.tunables import ask_training\nask_training(hp, {})")
    assert offenders("train, val, test = make_pipelines(splits, options)")
    assert offenders("keras.utils.set_random_seed(0)")
    assert not offenders("make_pipelines(splits, options)", "sweeps.worker.recipe")
    assert not offenders("ask_training(hp, {})", "sweeps.trial_questions")
    assert offenders("ask_training(hp, {})", "sweeps.worker.recipe")
    assert not offenders("build_trial(space, hp, splits, settings)")


# One preprocessing: what a normalisation mode does is written in the input block only (the
# tf.data pipeline runs it, an exported model carries it). Elsewhere a mode is only named, as a
# value (a space's INFO, a dataset's default), never compared, listed or looked up.
NORMALIZATION_MODES = {"unit", "centered", "per_image", "train_stats"}
NORMALIZATION_HOME = "search_spaces.preprocessing"


def _normalization_spellings(tree: ast.AST) -> list[int]:
    """Lines where a mode is compared with, is a dict key or a match pattern, or is listed
    beside another mode."""

    def mode(node: ast.AST) -> bool:
        return isinstance(node, ast.Constant) and node.value in NORMALIZATION_MODES

    def modes(node: ast.AST) -> int:
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            return sum(map(mode, node.elts))
        return int(mode(node))

    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and any(modes(n) for n in [node.left, *node.comparators]):
            lines.append(node.lineno)
        elif isinstance(node, ast.Dict) and any(k is not None and mode(k) for k in node.keys):
            lines.append(node.lineno)
        elif isinstance(node, ast.MatchValue) and mode(node.value):
            lines.append(node.lineno)
        elif isinstance(node, ast.Tuple | ast.List | ast.Set) and modes(node) >= 2:
            lines.append(node.lineno)
    return sorted(set(lines))


def test_normalisation_modes_are_spelled_in_the_input_block_only() -> None:
    modules = _modules()
    hits = [
        f"{path.relative_to(REPO)}:{line}"
        for name, path in modules.items()
        if name != NORMALIZATION_HOME
        for line in _normalization_spellings(ast.parse(path.read_text()))
    ]
    assert not hits, hits
    home = ast.parse(modules[NORMALIZATION_HOME].read_text())
    assert _normalization_spellings(home), "the input block no longer spells the modes"


def test_the_normalisation_check_catches_a_mode_spelled_elsewhere() -> None:
    def spelled(code: str) -> list[int]:
        return _normalization_spellings(ast.parse(code))

    assert spelled("if options.normalization == 'per_image': pass") == [1]
    assert spelled("x = x / 255 if mode in ('unit', 'centered') else x") == [1]
    assert spelled("NORMALIZATIONS = ('unit', 'centered', 'per_image', 'train_stats')") == [1]
    assert spelled("SCALE = {'unit': 1 / 255}") == [1]
    assert spelled("match mode:\n    case 'centered':\n        pass") == [2]
    assert spelled("INFO = SpaceInfo('t', '-', 't', '-', normalization='unit')") == []
    assert spelled("BASELINE = {'normalization': 'train_stats', 'batch_size': 64}") == []
    assert spelled("mnist = (60000, 10000, 'keras.datasets.mnist', 'unit', read)") == []


# One error root: every exception sweeps raises to its caller derives from SweepsError, so a
# handler catches the root or one branch, never a tuple of ours. The lower layers (storage,
# search_spaces) keep their own errors and import nothing from sweeps: sweeps raises them again
# under its root where it calls into them (see THROUGH_WRAPPERS below), so the root's classes
# are looked for in sweeps alone.
ERROR_ROOT = "SweepsError"
# Exceptions that never reach a caller, and why.
OUTSIDE_THE_ROOT = {
    "TrialFailedError": "fails one trial inside a worker, which records it; never raised out",
}
LOWER_LAYERS = ("storage", "search_spaces")


def _exception_classes(trees: dict[str, ast.AST]) -> dict[str, list[str]]:
    """Every class in ``trees`` that is an exception, with its bases' names."""
    bases = {
        node.name: [getattr(b, "id", None) or getattr(b, "attr", "") for b in node.bases]
        for tree in trees.values()
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
    }

    def is_exception(name: str) -> bool:
        builtin = getattr(builtins, name, None)
        if isinstance(builtin, type):
            return issubclass(builtin, BaseException)
        return any(is_exception(base) for base in bases.get(name, []))

    return {name: found for name, found in bases.items() if is_exception(name)}


def _outside_the_root(trees: dict[str, ast.AST]) -> list[str]:
    classes = _exception_classes(trees)

    def rooted(name: str) -> bool:
        return name == ERROR_ROOT or any(rooted(b) for b in classes.get(name, []))

    return sorted(
        name
        for name in classes
        if not rooted(name) and name not in OUTSIDE_THE_ROOT and not name.startswith("_")
    )


def _tuples_of_ours(trees: dict[str, ast.AST]) -> list[str]:
    """Handlers whose tuple names two or more exceptions under the root."""
    classes = _exception_classes(trees)

    def rooted(name: str) -> bool:
        return name == ERROR_ROOT or any(rooted(b) for b in classes.get(name, []))

    offenders = []
    for module, tree in trees.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ExceptHandler) and isinstance(node.type, ast.Tuple):
                names = [getattr(e, "id", None) or getattr(e, "attr", "") for e in node.type.elts]
                if sum(map(rooted, names)) > 1:
                    offenders.append(f"{module}:{node.lineno} catches {', '.join(names)}")
    return offenders


def _trees(*packages: str) -> dict[str, ast.AST]:
    return {
        name: ast.parse(path.read_text())
        for name, path in _modules().items()
        if name.split(".")[0] in packages
    }


def test_every_exception_sweeps_raises_derives_from_one_root() -> None:
    trees = _trees("sweeps")
    classes = _exception_classes(trees)
    assert {"SpaceError", "StorageError", "ConfigError", "TaskFailedError"} <= set(classes)
    assert not _outside_the_root(trees)
    assert set(OUTSIDE_THE_ROOT) <= set(classes), "an exemption names no exception"


def test_no_handler_catches_a_tuple_of_our_exceptions() -> None:
    assert not _tuples_of_ours(_trees("sweeps"))


def test_the_root_checks_catch_a_second_root_and_a_tuple() -> None:
    code = {
        "sweeps.errors": ast.parse("class SweepsError(Exception): ...\nclass A(SweepsError): ..."),
        "sweeps.x": ast.parse(
            "class B(ValueError): ...\nclass C(A): ...\nclass _Private(Exception): ...\n"
            "class NotAnError: ...\n"
            "try:\n    pass\nexcept (A, C):\n    pass\n"
            "try:\n    pass\nexcept (B, OSError):\n    pass\n"
            "try:\n    pass\nexcept (errors.SweepsError, B):\n    pass\n"
        ),
    }
    assert _outside_the_root(code) == ["B"]
    assert _tuples_of_ours(code) == ["sweeps.x:7 catches A, C"]


def _imports_of_sweeps(tree: ast.AST) -> list[str]:
    """Every import of sweeps in ``tree``: at module level, in functions, under TYPE_CHECKING."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append(node.module)
    return [name for name in found if name.split(".")[0] == "sweeps"]


def test_the_lower_layers_import_nothing_from_sweeps() -> None:
    """The rooms: storage and search_spaces import nothing from sweeps, not even its errors."""
    trees = _trees(*LOWER_LAYERS)
    assert {"storage.engine", "search_spaces.registry"} <= set(trees)
    offenders = [
        f"{name} imports {imported}"
        for name, tree in trees.items()
        for imported in _imports_of_sweeps(tree)
    ]
    assert not offenders, offenders


def test_the_lower_layer_check_catches_any_import_of_sweeps() -> None:
    def imports(code: str) -> list[str]:
        return _imports_of_sweeps(ast.parse(code))

    assert imports("from sweeps.errors import SweepsError") == ["sweeps.errors"]
    assert imports("def f():\n    import sweeps") == ["sweeps"]
    assert imports("if TYPE_CHECKING:\n    from sweeps import api") == ["sweeps"]
    assert not imports("from storage.engine import mask_url\nimport sqlalchemy")
    assert not imports("from .engine import mask_url")


def test_the_sweeps_package_imports_none_of_our_modules_on_import() -> None:
    """``import sweeps`` stays light (its names load on first use): ``sweeps --help``, bad
    input and every spawned child start without SQLAlchemy and the store's models."""
    offenders = [
        imported
        for imported, _ in _imports(_modules()["sweeps"], top_level_only=True)
        if imported.split(".")[0] in PACKAGES
    ]
    assert not offenders, offenders


def test_the_sweeps_package_lists_each_public_name_once_where_it_loads_it() -> None:
    """``sweeps.__all__`` (what tools read) and the lazy loader's map name the same names, and
    each loads from its module."""
    import sweeps

    assert sorted(sweeps.__all__) == sorted(sweeps._HOMES)
    for name in sweeps.__all__:
        assert getattr(sweeps, name) is not None, name


# Where sweeps calls into a lower layer in a way that can raise that layer's own error: the
# names (and the lower errors themselves) that only the named wrapper module may import from
# that layer, since it raises the layer's errors again under sweeps' root. Everything else in
# sweeps calls the wrapper's function of the same role.
THROUGH_WRAPPERS = {
    "sweeps.space_access": (
        "search_spaces",
        {
            "SpaceError",
            "load_space",
            "check_reference",
            "resolved_reference",
            "resolve_weights",
            "check_baseline",
        },
    ),
    "sweeps.store_access": (
        "storage",
        {
            "StorageURLError",
            "SchemaVersionError",
            "normalize_url",
            "create_engine",
            "read_only_engine",
            "check_reachable",
            "check_writable",
            "check_optuna_schema",
            "check_readable",
            "upgrade_schema",
        },
    ),
}


def _around_the_wrappers(name: str, tree: ast.AST) -> list[str]:
    """How module ``name`` reaches a wrapped entry of a lower layer other than through its
    wrapper module: ``from LAYER... import ENTRY``, or ``MODULE.ENTRY`` on a module of the
    layer that it imported."""
    offenders = []
    for wrapper, (layer, entries) in THROUGH_WRAPPERS.items():
        if name == wrapper:
            continue
        modules_of_layer = set()  # the names this module binds to the layer's modules
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == layer:
                        modules_of_layer.add(alias.asname or alias.name.split(".")[0])
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                if node.module.split(".")[0] != layer:
                    continue
                for alias in node.names:
                    if alias.name in entries:
                        offenders.append(f"{name}:{node.lineno} imports {alias.name} from {layer}")
                    else:
                        modules_of_layer.add(alias.asname or alias.name)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in entries:
                root = node.value
                while isinstance(root, ast.Attribute):
                    root = root.value
                if isinstance(root, ast.Name) and root.id in modules_of_layer:
                    offenders.append(f"{name}:{node.lineno} calls {ast.unparse(node)}")
    return offenders


def test_sweeps_reaches_the_lower_layers_errors_only_through_the_wrappers() -> None:
    trees = _trees("sweeps")
    assert set(THROUGH_WRAPPERS) <= set(trees), "a wrapper module named here is gone"
    offenders = [
        offence for name, tree in trees.items() for offence in _around_the_wrappers(name, tree)
    ]
    assert not offenders, offenders
    # The wrappers themselves do reach what they wrap: the check looks at the right names.
    for wrapper in THROUGH_WRAPPERS:
        assert _around_the_wrappers("sweeps.elsewhere", trees[wrapper]), wrapper


def test_the_wrapper_check_catches_a_direct_call() -> None:
    def offenders(code: str, name: str = "sweeps.api") -> list[str]:
        return _around_the_wrappers(name, ast.parse(code))

    assert offenders("def f():\n    from search_spaces import load_space")
    assert offenders("from search_spaces.registry import check_reference")
    assert offenders("from search_spaces.pretrained import resolve_weights")
    assert offenders("from search_spaces import SpaceError")
    assert offenders("from storage import StorageURLError, mask_url")
    assert offenders("from storage.schema import upgrade_schema")
    assert offenders("import storage.engine\nstorage.engine.create_engine(url)")
    assert offenders("from search_spaces import registry as r\nr.load_space(ref)")
    assert offenders("from storage import engine\nengine.check_writable(url)")
    assert not offenders("from sweeps.space_access import load_space\nload_space(ref)")
    assert not offenders("from sweeps.store_access import check_writable, normalized_url")
    assert not offenders("from sweeps.errors import SpaceError, StorageError")
    assert not offenders("from search_spaces import BUILTIN_SPACES, space_names")
    assert not offenders("from storage.engine import mask_url, store_writable")
    assert not offenders("from search_spaces import load_space", "sweeps.space_access")
    assert not offenders("from storage import normalize_url", "sweeps.store_access")


# TensorFlow out of the parent: outside the worker package (and the spaces, whose build runs
# only there), TensorFlow, Keras and KerasTuner are imported only inside these functions, each
# reached from a worker or a spawned child, or asked for by name. tests/test_cli.py runs every
# command but the model commands and checks the caller never imported TensorFlow.
TENSORFLOW = ("tensorflow", "keras", "keras_tuner")
IMPORTS_TENSORFLOW = {
    "sweeps.tf_logs": {"import_tensorflow_quietly"},  # called by workers and children
    "sweeps.data.pipeline": {"make_pipelines", "_augmenter"},  # the recipe's pipelines
    "sweeps.data.image_folder": {"_read", "_first_undecodable"},  # load_splits, worker-side
    "sweeps.data.keras_cache": {"_download"},  # in a worker, or the check's download child
    "sweeps.results": {"model"},  # Study.model(): the caller asks for a keras.Model
}


def _tensorflow_importers(tree: ast.AST) -> list[tuple[str, ast.AST]]:
    """What imports TensorFlow, with the enclosing function: an import statement, or a call
    of sweeps.tf_logs' helper that imports it."""
    found = [
        (imported, scope)
        for imported, scope in _imports_of(tree, top_level_only=False)
        if imported.split(".")[0] in TENSORFLOW
    ]

    def visit(node: ast.AST, scope: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            inner = child if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else scope
            if isinstance(child, ast.Call) and "import_tensorflow_quietly" in (
                getattr(child.func, "id", None),
                getattr(child.func, "attr", None),
            ):
                found.append(("import_tensorflow_quietly()", scope))
            visit(child, inner)

    visit(tree, tree)
    return found


def _tensorflow_imports(name: str, tree: ast.AST) -> list[str]:
    """Where module ``name`` imports TensorFlow outside the functions allowed to."""
    allowed = IMPORTS_TENSORFLOW.get(name, set())
    return [
        f"{name} ({getattr(scope, 'name', '<module>')}) imports {imported}"
        for imported, scope in _tensorflow_importers(tree)
        if getattr(scope, "name", None) not in allowed
    ]


def test_tensorflow_is_imported_only_on_the_worker_side() -> None:
    offenders = []
    for name, path in _modules().items():
        if not name.startswith(("sweeps.worker", "search_spaces")):
            offenders += _tensorflow_imports(name, ast.parse(path.read_text()))
    assert not offenders, offenders
    for name, functions in IMPORTS_TENSORFLOW.items():
        tree = ast.parse(_modules()[name].read_text())
        importing = {getattr(scope, "name", None) for _, scope in _tensorflow_importers(tree)}
        assert functions <= importing, f"{name}: {functions - importing} no longer import it"


def test_the_tensorflow_check_catches_an_import_in_the_parent() -> None:
    def offenders(code: str, name: str = "sweeps.catalog") -> list[str]:
        return _tensorflow_imports(name, ast.parse(code))

    assert offenders("import tensorflow as tf")
    assert offenders("def describe(space):\n    import keras_tuner as kt")
    assert offenders("from keras import layers")
    assert offenders("def describe(space):\n    tf_logs.import_tensorflow_quietly()")
    assert offenders("def _download():\n    import keras", "sweeps.data.registry")
    assert not offenders("def _download():\n    import keras", "sweeps.data.keras_cache")
    assert not offenders("import sweeps.tf_logs\nimport kerastools")


# One child mechanism: a Python child is started by sweeps.spawn (a task in a spawned process)
# or by the dispatcher (its workers), nowhere else. Other modules may start external programs
# only, through subprocess: nvidia-smi (devices) and TensorBoard (viewers).
STARTS_PYTHON = {"sweeps.spawn", "sweeps.dispatcher"}
RUNS_PROGRAMS = {"sweeps.devices", "sweeps.viewers"}
_PROCESS_CALLS = re.compile(
    r"(Process|Pool|ProcessPoolExecutor|get_context|set_start_method|fork|forkpty|posix_spawnp?"
    r"|spawn[lv]p?e?|exec[lv]p?e?)"
)


def _child_starts(name: str, tree: ast.AST) -> list[str]:
    """Where module ``name`` starts a process other than as allowed."""
    offenders = []
    if name not in RUNS_PROGRAMS:
        offenders += [
            f"{name} imports {imported}"
            for imported, _ in _imports_of(tree, top_level_only=False)
            if imported.split(".")[0] == "subprocess"
        ]
    if name not in STARTS_PYTHON:
        for node in ast.walk(tree):
            called = isinstance(node, ast.Call) and (
                getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            )
            if called and _PROCESS_CALLS.fullmatch(called):
                offenders.append(f"{name}:{node.lineno} calls {called}")
    return offenders


def test_python_children_start_through_one_mechanism() -> None:
    offenders = []
    for name, path in _modules().items():
        offenders += _child_starts(name, ast.parse(path.read_text()))
    assert not offenders, offenders


def test_the_child_check_catches_another_way_to_start_one() -> None:
    def offenders(code: str, name: str = "sweeps.sweep_file") -> list[str]:
        return _child_starts(name, ast.parse(code))

    assert offenders("import subprocess\nsubprocess.run([sys.executable, '-c', code])")
    assert offenders("from subprocess import run")
    assert offenders("mp.get_context('spawn').Process(target=f).start()")
    assert offenders("os.fork()")
    assert offenders("os.execv(sys.executable, args)")
    assert offenders("with ProcessPoolExecutor() as pool: pass")
    assert not offenders("import subprocess\nsubprocess.run(['nvidia-smi'])", "sweeps.devices")
    assert not offenders("run_in_child('sweeps.worker.questions:asked_ranges', ref, {})")
    assert not offenders("context.Process(target=_child)", "sweeps.spawn")
    assert not offenders("process.join(); os.kill(pid, signal.SIGTERM)")
