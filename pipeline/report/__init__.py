"""Reports for the editors and the board: per issue (``issue.py``) and for the strategy's
follow-up (``strategy.py``), from the ledger, the provider's events and register snapshots."""
