"""The crash test at full length: 100 seeds of a 50,000-recipient fenced SendGrid delivery.

    python bench/crash.py [--seeds 100] [--recipients 50000]

Starts the recording stand-in behind `prism proxy` (SendGrid's OpenAPI description), runs
each seed as tests/test_crash.py does (the sender SIGKILLed at random and between 202 and the
ledger write, restarted until finished), two seeds at a time, and prints per-seed lives and
kills and the totals of duplicates, missing and uncertain recipients (all must be 0).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from deliver import SPEC, start_prism  # noqa: E402

from pipeline.config import load_config  # noqa: E402
from tests.sendgrid_standin import StandIn  # noqa: E402
from tests.test_crash import run_seed  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--recipients", type=int, default=50_000)
    args = parser.parse_args()
    config = load_config(ROOT / "newsletter.toml")
    standin = StandIn()
    prism, port = start_prism(["proxy", str(SPEC), f"http://127.0.0.1:{standin.port}"])
    base = f"http://127.0.0.1:{port}"
    work = Path(tempfile.mkdtemp())
    setup = threading.Lock()
    totals: Counter[str] = Counter()

    def one(seed: int) -> None:
        row = run_seed(config, standin, base, work, 10_000 + seed, args.recipients, setup)
        totals.update(row)
        print(f"seed {seed:3}: {row['lives']:3} lives, {row['kills']:3} kills, duplicates "
              f"{row['duplicates']}, missing {row['missing']}, uncertain {row['uncertain']}",
              flush=True)

    start = time.perf_counter()
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(one, range(args.seeds)))
    finally:
        prism.terminate()
        standin.close()
    print(f"{totals['seeds']} seeds x {args.recipients:,} recipients in "
          f"{time.perf_counter() - start:.0f} s: {totals['kills']} kills, duplicates "
          f"{totals['duplicates']}, missing {totals['missing']}, uncertain "
          f"{totals['uncertain']}")
    if totals["duplicates"] or totals["missing"] or totals["uncertain"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
