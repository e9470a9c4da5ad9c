"""Newsletter pipeline for "Ett jämställt Västmanland".

Stages, each a module with typed data in and out:
``load_config`` / ``load_issue`` (author) → ``render_issue`` (render) → ``lint_issue`` (check).
"""

__version__ = "0.1.0"
