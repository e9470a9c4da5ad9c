"""Delivery stage: the send ledger, message building, transports and the engine."""
