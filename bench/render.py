"""Render speed: ms per variant (warm), the whole issue, `newsletter render` and `check` cold.

    python bench/render.py [--runs N]

Prints medians over N runs (machines here are noisy) next to the peers measured in the same
run: the reference MJML CLI (npm mjml on Node) compiling the same variants' MJML, and
`newsletter --help`. Targets: < 60 ms per variant warm, cold render < 1.5 s and faster than
the reference CLI, --help < 0.3 s, cold `newsletter check` < 2 s with the klarspråk rules and
the Swedish dictionary loaded (Debian's hunspell-sv).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.config import load_config  # noqa: E402
from pipeline.issue import load_issue  # noqa: E402
from pipeline.plain.check import plain_findings  # noqa: E402
from pipeline.render import Renderer, render_issue  # noqa: E402

ISSUE = ROOT / "issues" / "2027-1"
NEWSLETTER = Path(sys.executable).parent / "newsletter"


def _timed(command: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs

    config = load_config(ROOT / "newsletter.toml")
    issue = load_issue(ISSUE, config)
    keys = list(render_issue(issue, config).variants)

    per_variant = []
    whole = []
    for _ in range(runs):
        renderer = Renderer(config)  # templates compiled, nothing cached
        renderer.render_email(issue, keys[0])
        renderer.clear_cache()
        for key in keys:
            renderer.clear_cache()  # the full cost: Jinja, MJML compile, inline, minify
            start = time.perf_counter()
            renderer.render_email(issue, key)
            per_variant.append(time.perf_counter() - start)
        renderer.clear_cache()
        start = time.perf_counter()
        render_issue(issue, config, renderer=renderer)
        whole.append(time.perf_counter() - start)

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        cold = _timed([str(NEWSLETTER), "render", str(ISSUE), "--out", str(out), "--mjml"], runs)
        help_time = _timed([str(NEWSLETTER), "--help"], runs)
        check = _timed([str(NEWSLETTER), "check", str(ISSUE)], runs)
        mjml_cli = ROOT / "node_modules" / ".bin" / "mjml"
        reference = None
        if mjml_cli.exists() and shutil.which("node"):
            sources = sorted(out.glob("*.mjml"))
            reference = _timed([str(mjml_cli), *map(str, sources), "-o", str(Path(tmp))], runs)

    print(f"variants: {len(keys)}, runs: {runs} (medians)")
    print(f"warm, one variant uncached:     {statistics.median(per_variant) * 1000:7.1f} ms"
          "   target < 60 ms")
    print(f"warm, whole issue + web:        {statistics.median(whole) * 1000:7.1f} ms"
          f"   ({statistics.median(whole) * 1000 / len(keys):.1f} ms per variant: one MJML "
          "compile per segment)")
    print(f"cold `newsletter render`:       {cold * 1000:7.1f} ms   target < 1500 ms")
    if reference is not None:
        print(f"cold reference `mjml` CLI:      {reference * 1000:7.1f} ms   "
              f"(same {len(keys)} variants' MJML; ratio ours/reference {cold / reference:.2f})")
    else:
        print("reference `mjml` CLI:           not installed (npm ci)")
    print(f"`newsletter --help`:            {help_time * 1000:7.1f} ms   target < 300 ms")
    dictionary = Path(config.check.plain.dictionary + ".dic")
    print(f"cold `newsletter check`:        {check * 1000:7.1f} ms   target < 2000 ms "
          f"(dictionary {'loaded' if dictionary.is_file() else 'MISSING: not measured fairly'})")
    start = time.perf_counter()
    plain = list(plain_findings(issue, config))
    loading = time.perf_counter() - start
    start = time.perf_counter()
    list(plain_findings(issue, config))  # the dictionary stays loaded in the process
    print(f"klarspråk rules, first / warm:  {loading * 1000:7.1f} ms / "
          f"{(time.perf_counter() - start) * 1000:.1f} ms   (the first loads the dictionary; "
          f"{len(plain)} finding(s) on the example)")


if __name__ == "__main__":
    main()
