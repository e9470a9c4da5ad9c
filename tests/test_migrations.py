"""The Alembic migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import pipeline.deliver.models
import pipeline.edition
import pipeline.report.models  # noqa: F401  (the tables of every stage)
from pipeline.audience.store import Store
from pipeline.db import Base


def test_migrations_match_the_models(store: Store) -> None:
    with store.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    ignored = {"apscheduler_jobs", "alembic_version", "scheduler_lock"}
    real = [d for d in differences
            if not (d[0] == "remove_table" and d[1].name in ignored)]
    assert real == []
