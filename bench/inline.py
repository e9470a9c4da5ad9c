"""CSS inlining: premailer against css-inline (what MJML's <mj-style inline> uses here).

    python bench/inline.py [--runs N]

Both inline the same HTML: the example issue's general variant compiled by mjml-python with
its inline styles left in a <style> block. Prints the median per email, the ratio, and whether
each keeps the {{unsubscribe_url}} placeholder in href and the `#outlook a` rule.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import css_inline  # noqa: E402
from mjml import mjml_to_html  # noqa: E402
from premailer import Premailer  # noqa: E402

from pipeline.config import load_config  # noqa: E402
from pipeline.issue import load_issue  # noqa: E402
from pipeline.render import Renderer, VariantKey  # noqa: E402


def _median_ms(func: Callable[[], str], runs: int) -> tuple[float, str]:
    times, out = [], ""
    for _ in range(runs):
        start = time.perf_counter()
        out = func()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=25)
    runs = parser.parse_args().runs
    logging.getLogger("CSSUTILS").setLevel(logging.CRITICAL)

    config = load_config(ROOT / "newsletter.toml")
    issue = load_issue(ROOT / "issues" / "2027-1", config)
    mjml = Renderer(config).render_email(issue, VariantKey("general")).mjml
    html = mjml_to_html(mjml.replace('<mj-style inline="inline">', "<mj-style>")).html

    inliner = css_inline.CSSInliner(keep_style_tags=True, load_remote_stylesheets=False)
    fast, fast_out = _median_ms(lambda: inliner.inline(html), runs)
    slow, slow_out = _median_ms(
        lambda: Premailer(html, keep_style_tags=True, allow_network=False,
                          cssutils_logging_level=logging.CRITICAL).transform(), runs)

    default, default_out = _median_ms(
        lambda: Premailer(html, allow_network=False,
                          cssutils_logging_level=logging.CRITICAL).transform(), runs)

    print(f"input: {len(html) / 1024:.1f} KB of HTML, {runs} runs (medians)")
    rows = (("css-inline", fast, fast_out), ("premailer, style tags kept", slow, slow_out),
            ("premailer, defaults", default, default_out))
    for name, ms, out in rows:
        placeholder = "{{unsubscribe_url}}" in out
        outlook = "#outlook a" in out
        print(f"{name:27} {ms:7.2f} ms  ({ms / fast:4.1f}× css-inline)  "
              f"{{{{unsubscribe_url}}}} intact: {placeholder!s:5}  '#outlook a' kept: {outlook}")


if __name__ == "__main__":
    main()
