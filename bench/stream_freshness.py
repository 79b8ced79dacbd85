"""Freshness of the real-time path: a day of the demo shop's events replayed into the Redis stream
at a fixed rate while the consumer (``feature_repo.stream.consume``) pushes session counters into
the home's online store; per event, the time from entering the stream to its counter being
readable online (the push returned), p50 and p99, with the rates both sides kept up; one run per
online store (the home's: SQLite, or Redis under the production profile), the others' kept.

    python -m bench.stream_freshness --home data [--rate 2000] [--events 15000] [--redis URL]
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import uuid

from bench.measure import RESULTS_DIR, write_results
from feature_repo.store import open_store
from feature_repo.stream import busiest_day, connect_redis, consume, replay
from shopml.settings import DEFAULT_STREAM_REDIS, Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", default=None)
    parser.add_argument("--rate", type=float, default=2_000, help="events per second sent into the stream")
    parser.add_argument("--events", type=int, default=15_000)
    parser.add_argument("--redis", default=DEFAULT_STREAM_REDIS)
    args = parser.parse_args()
    settings = Settings.resolve(args.home)
    store, client = open_store(settings), connect_redis(args.redis)
    key = f"shopml:bench:{uuid.uuid4().hex[:8]}"
    day = busiest_day(settings)
    consumed = {}
    reader = threading.Thread(target=lambda: consumed.setdefault(
        "result", consume(store, client, stream=key, idle_seconds=2.0)))
    try:
        reader.start()
        time.sleep(0.5)
        started = time.perf_counter()
        sent = replay(settings, client, day, args.rate, limit=args.events, stream=key)
        reader.join()
        consumed_seconds = time.perf_counter() - started - 2.0          # less the idle wait that ends it
    finally:
        client.delete(key)
    result = consumed["result"]
    report = {"day": str(day), "online_store": store.config.online_store.type, "target_rate": args.rate,
              "events": result.events, "sent_per_second": round(sent.events_per_second, 1),
              "consumed_per_second": round(result.events / consumed_seconds, 1), "pushes": result.pushes,
              "events_per_push": round(result.events / max(result.pushes, 1), 1),
              "freshness_p50_ms": round(result.percentile(50), 1), "freshness_p99_ms": round(result.percentile(99), 1),
              "freshness_max_ms": round(max(result.latencies_ms), 1)}
    print(f"{result.events:,} events at {sent.events_per_second:,.0f}/s into {report['online_store']}: freshness "
          f"p50 {report['freshness_p50_ms']} ms, p99 {report['freshness_p99_ms']} ms "
          f"({report['events_per_push']} events per push)")
    earlier = RESULTS_DIR / "stream_freshness.json"     # one run per online store, the others kept
    runs = json.loads(earlier.read_text()).get("runs", {}) if earlier.is_file() else {}
    print(f"wrote {write_results('stream_freshness', {'runs': runs | {report['online_store']: report}})}")


if __name__ == "__main__":
    main()
