"""Audience stage: who gets the newsletter, why (consent evidence), and who must not."""
