"""The house's boundaries, checked on the source: who may reach the worker side (the
dispatcher's process entry, and spawn targets named by string), no import cycles, Optuna through
its public API only."""

from __future__ import annotations

import ast
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


def test_optuna_is_used_through_its_public_api() -> None:
    private = re.compile(r"\._storage\b|\._trial_id\b|\._study_id\b|system_attrs")
    hits = [
        f"{path.relative_to(REPO)}:{n}"
        for path in _modules().values()
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
    """Status strings live in storage.models' enums; code elsewhere names the members."""
    hits = [
        f"{path.relative_to(REPO)}:{line}"
        for name, path in _modules().items()
        if name != "storage.models"
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
# drift apart. The questions are asked in the TensorFlow-free module the catalog and the
# sweep-file check share; the rest happens in the worker's recipe.
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
