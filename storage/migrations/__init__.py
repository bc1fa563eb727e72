"""Alembic migrations of our tables (never Optuna's): run by :mod:`storage.schema`, which
configures Alembic in code, so no ``alembic.ini`` is needed. Their version is kept in the table
``sweeps_schema_version``, apart from Optuna's ``alembic_version`` in the same database.

To change a table: change :mod:`storage.tables`, then add a revision numbered one past the
head and set :data:`storage.schema.HEAD` to it::

    import alembic.command, sqlalchemy as sa
    from storage.schema import alembic_config
    with sa.create_engine("sqlite:///a-store-at-the-head.db").connect() as connection:
        alembic.command.revision(
            alembic_config(connection), "what it changes", rev_id="2", autogenerate=True
        )

A revision's script describes the tables as they are at that revision, never through
``storage.tables`` (which moves on), and keeps every row. tests/test_schema.py checks that a
store migrated from nothing to the head has the tables ``storage.tables`` creates.
"""
