"""Redaktionen, the local web studio: communicators write, check and save issues in a browser."""
