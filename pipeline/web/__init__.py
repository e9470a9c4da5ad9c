"""The reader-facing web service (subscribe, confirm, unsubscribe, preferences, webhook)."""
