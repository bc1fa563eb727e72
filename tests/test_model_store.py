"""The tables of evaluations, ensembles and refits, on SQLite and on PostgreSQL: written, read
back, replaced rather than duplicated, and created when a store that predates them is upgraded
(as every writer upgrades it on opening it: storage.schema)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from storage import create_engine
from storage.queries import ensembles_of, evaluations_of, refit_of
from storage.records import record_ensemble, record_evaluation, record_refit
from storage.schema import upgrade_schema
from storage.tables import Refit, Sweep
from tests.old_stores import schema_1_without_a_version

CLASSES = [
    {"class_name": "cat", "support": 3, "correct": 2, "precision": 1.0, "recall": 2 / 3},
    {"class_name": "dog", "support": 2, "correct": 2, "precision": 2 / 3, "recall": 1.0},
]


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):
    url = (
        f"sqlite:///{tmp_path / 's.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    engine = create_engine(url)
    # A store of a release before these tables existed: schema 1's other tables, unversioned
    # (the only state such a store is in; the later tables come with its upgrade).
    later = ("sweeps_evaluation", "sweeps_class_metric", "sweeps_ensemble",
             "sweeps_ensemble_member", "sweeps_refit")  # fmt: skip
    schema_1_without_a_version(engine, without=later)
    with engine.begin() as connection:
        connection.execute(sa.text(
            "INSERT INTO sweeps_sweep (study_id, study_name, config_json, budget, claimed, "
            "created_at) VALUES (1, 's', '{}', 4, 0, CURRENT_TIMESTAMP)"
        ))  # fmt: skip
    yield engine
    engine.dispose()


def test_an_evaluation_is_stored_per_split_and_replaced(engine) -> None:
    assert evaluations_of(engine, 10) == {}  # its table does not exist yet: nothing, no error
    upgrade_schema(engine)
    for accuracy in (0.5, 0.8):  # evaluating again replaces
        record_evaluation(
            engine,
            study_id=1,
            trial_id=10,
            split="test",
            accuracy=accuracy,
            confusion=[[2, 1], [0, 2]],
            classes=CLASSES,
        )
    record_evaluation(
        engine,
        study_id=1,
        trial_id=10,
        split="val",
        accuracy=1.0,
        confusion=[[1, 0], [0, 1]],
        classes=CLASSES,
    )
    stored = evaluations_of(engine, 10)
    assert sorted(stored) == ["test", "val"]
    test = stored["test"]
    assert test.accuracy == 0.8 and test.images == 5 and test.confusion == [[2, 1], [0, 2]]
    assert [c.class_name for c in test.classes] == ["cat", "dog"]
    assert test.classes[0].recall == pytest.approx(2 / 3) and test.classes[1].support == 2
    with engine.connect() as connection:
        assert connection.scalar(sa.text("SELECT count(*) FROM sweeps_class_metric")) == 4
    with pytest.raises(sa.exc.IntegrityError):  # only val and test are splits
        record_evaluation(
            engine,
            study_id=1,
            trial_id=10,
            split="train",
            accuracy=1.0,
            confusion=[[1]],
            classes=CLASSES[:1],
        )


def test_an_ensemble_is_one_row_per_size_with_its_members(engine) -> None:
    assert ensembles_of(engine).empty
    upgrade_schema(engine)
    members = [
        {"trial_id": 20 + n, "number": n, "val_accuracy": 0.9 - n / 10, "test_accuracy": 0.5}
        for n in (3, 1, 2)
    ]
    record_ensemble(engine, study_id=1, val_accuracy=0.7, test_accuracy=0.6, members=members)
    record_ensemble(engine, study_id=1, val_accuracy=0.8, test_accuracy=0.7, members=members)
    record_ensemble(
        engine,
        study_id=1,
        val_accuracy=0.9,
        test_accuracy=0.8,
        members=members[:2],
        model_path="/m.keras",
    )
    frame = ensembles_of(engine, 1)
    assert list(frame["size"]) == [2, 3] and list(frame["study"]) == ["s", "s"]
    assert list(frame["members"]) == [[3, 1], [3, 1, 2]]  # in rank order, as chosen
    assert list(frame["val_accuracy"]) == [0.9, 0.8] and frame.iloc[0]["model_path"] == "/m.keras"
    assert ensembles_of(engine, 2).empty
    with engine.connect() as connection:
        assert connection.scalar(sa.text("SELECT count(*) FROM sweeps_ensemble_member")) == 5


def test_a_refit_is_linked_to_its_trial_and_replaced(engine) -> None:
    assert refit_of(engine, 30) is None
    upgrade_schema(engine)
    for accuracy in (0.5, 0.75):
        record_refit(
            engine,
            trial_id=30,
            study_id=1,
            number=3,
            epochs=7,
            train_images=1437,
            test_accuracy=accuracy,
            test_loss=0.1,
            seconds=2.0,
            model_path="/r.keras",
        )
    refit = refit_of(engine, 30)
    assert refit.test_accuracy == 0.75 and refit.number == 3 and refit.train_images == 1437
    with engine.connect() as connection:
        assert connection.scalar(sa.select(sa.func.count()).select_from(Refit)) == 1
        assert connection.scalar(sa.select(Sweep.study_name)) == "s"
