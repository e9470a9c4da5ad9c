"""Render stage: ``render_issue(issue, config) -> RenderedIssue``."""

from pipeline.render.email import RenderedEmail, RenderedIssue, Renderer, render_issue
from pipeline.render.variants import VariantKey, variant_key, variant_keys

__all__ = ["RenderedEmail", "RenderedIssue", "Renderer", "VariantKey", "render_issue",
           "variant_key", "variant_keys"]
