"""Audience speed: import 100,000 rows, then select 1,000,000 recipients.

    python bench/audience.py [--rows 100000] [--select 1000000]

Both on SQLite (the embedded default). The import runs the real `import_audience` on a
generated CSV; the 1,000,000 subscribers for selection are bulk-inserted directly, then a
fresh process streams them through `select_recipients` and reports its own peak RSS.
Targets: import >= 20,000 rows/s; selection of 1,000,000 < 10 s with peak RSS < 200 MB.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402

from pipeline.audience.importer import SUBSCRIBERS, SUBSCRIPTIONS, import_audience  # noqa: E402
from pipeline.audience.models import LegalBasis  # noqa: E402
from pipeline.audience.select import select_recipients  # noqa: E402
from pipeline.audience.store import Store, now  # noqa: E402
from pipeline.config import load_config  # noqa: E402
from pipeline.issue import load_issue  # noqa: E402
from pipeline.render.variants import chooser  # noqa: E402

AREAS = ["makt", "ekonomi", "utbildning", "omsorg", "halsa", "vald"]


def bench_import(rows: int, work: Path) -> None:
    config = load_config(ROOT / "newsletter.toml")
    path = work / "import.csv"
    with path.open("w", encoding="utf-8") as out:
        out.write("email;name;organisation;focus\n")
        for i in range(rows):
            org = i % 300  # every row of one organisation names the same areas
            out.write(f"person.{i}@org{org}.example;Person {i};Organisation {org};"
                      f"{AREAS[org % 6]}|{AREAS[(org // 6) % 6]}\n")
    store = Store.open(config, f"sqlite:///{work / 'import.db'}")
    start = time.perf_counter()
    report = import_audience(store, config, path, "connected", LegalBasis.PUBLIC_TASK)
    first = time.perf_counter() - start
    start = time.perf_counter()
    import_audience(store, config, path, "connected", LegalBasis.PUBLIC_TASK)
    again = time.perf_counter() - start
    store.close()
    print(f"import {report.added:,} new rows:       {first:6.2f} s = {rows / first:9,.0f} rows/s"
          "   target >= 20,000 rows/s")
    print(f"re-import (all unchanged):     {again:6.2f} s = {rows / again:9,.0f} rows/s")


def fill(url: str, count: int) -> None:
    config = load_config(ROOT / "newsletter.toml")
    store = Store.open(config, url)
    moment = now()
    with store.engine.begin() as connection:
        for start in range(0, count, 50_000):
            ids = range(start + 1, min(start + 50_001, count + 1))
            connection.execute(insert(SUBSCRIBERS), [{
                "id": i, "email": f"r{i}@example.se", "email_key": f"r{i}@example.se",
                "email_hash": f"{i:064x}", "name": None, "organisation_id": None,
                "language": "sv", "created_at": moment, "updated_at": moment} for i in ids])
            connection.execute(insert(SUBSCRIPTIONS), [{
                "subscriber_id": i, "segment": "general", "status": "confirmed",
                "legal_basis": "consent", "source": "bench", "privacy_notice": "1",
                "created_at": moment, "confirmed_at": moment, "status_changed_at": moment}
                for i in ids])
    if store.engine.dialect.name == "sqlite":
        with store.engine.connect() as connection:  # settle the write-ahead log, as after a day
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()


def select_only(url: str) -> None:
    config = load_config(ROOT / "newsletter.toml")
    store = Store.open(config, url)
    issue = load_issue(ROOT / "issues" / "2027-1", config)
    start = time.perf_counter()
    count = sum(1 for _ in select_recipients(store, config, chooser(issue, config)))
    elapsed = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"select {count:,} recipients:     {elapsed:6.2f} s = {count / elapsed:9,.0f} /s"
          f"   peak RSS {peak_mb:.0f} MB   targets < 10 s, < 200 MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--select", type=int, default=1_000_000)
    parser.add_argument("--select-only", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.select_only:
        return select_only(args.select_only)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        bench_import(args.rows, work)
        url = f"sqlite:///{work / 'select.db'}"
        fill(url, args.select)
        subprocess.run([sys.executable, __file__, "--select-only", url], check=True)


if __name__ == "__main__":
    main()
