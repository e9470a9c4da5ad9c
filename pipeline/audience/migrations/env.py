"""Alembic environment: run with the connection the store hands over."""

from alembic import context

import pipeline.audience.models
import pipeline.deliver.models
import pipeline.edition
import pipeline.report.models  # noqa: F401  (every stage's tables on the one base)
from pipeline.db import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
