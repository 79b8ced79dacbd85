"""The entry service under load, over loopback HTTP, next to the same calls in-process: per
endpoint and concurrency (1, 8, 32), p50 / p95 / p99 latency, requests per second and errors;
the serving overhead is the ratio of HTTP p50 to in-process p50. Runs are bounded in count and
time. Client and server share the machine's 2 cores, as they would not in production.

Every serving task of the registry is run: with bodies drawn from the shop's ids where a task
has a load profile below, else with its example request. ``churn_without_reasons`` is ``/churn``
with ``"explain": false`` (no TreeSHAP).

Goals on 2 cores (at concurrency 1): single-user churn p99 <= 25 ms, ctr for 50 candidate ads
p99 <= 50 ms, similar_items p99 <= 15 ms, search p99 <= 60 ms, single-user profile p99 <= 15 ms,
sentiment of one review p99 <= 20 ms, next_action from a session of three events p99 <= 20 ms,
recommend with k = 20 p99 <= 30 ms; zero errors anywhere.

    python -m bench.serving [--home data] [--requests 400] [--seconds 30] [--endpoints next_action]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

from bench.measure import RESULTS_DIR, write_results
from shopml.settings import Settings
from shopml.warehouse.database import connect

CONCURRENCY = (1, 8, 32)
GOALS_MS = {"churn": 25.0, "ctr": 50.0, "similar_items": 15.0, "search": 60.0, "profile": 15.0, "sentiment": 20.0,
            "next_action": 20.0, "recommend": 30.0}
CANDIDATE_ADS = 50
CANDIDATE_ITEMS = 50        # items of one page whose interactions are scored together
PLAN_CANDIDATES, PLAN_BUDGET = 100, 20      # a campaign plan: candidate users per request, sends at most


def session_so_far(first: int, second: int) -> list[dict]:
    """What /next_action is sent: a search, then two views."""
    return [{"event_type": "search", "ts": "2026-01-01T10:00:00Z"},
            {"event_type": "view", "ts": "2026-01-01T10:00:40Z", "item_id": first},
            {"event_type": "view", "ts": "2026-01-01T10:01:30Z", "item_id": second}]


def _load_profiles(settings: Settings, count: int, seed: int = 7) -> dict[str, list[dict]]:
    """``count`` request bodies per run, drawn from the shop's own ids and searches."""
    rng = np.random.default_rng(seed)
    with connect(settings.warehouse_path) as con:
        users = np.array([r[0] for r in con.execute("""SELECT DISTINCT user_id FROM events
                          WHERE ts >= (SELECT max(ts) FROM events) - INTERVAL 30 DAY""").fetchall()])
        ads = np.array([r[0] for r in con.execute("SELECT ad_id FROM ads").fetchall()])
        items = np.array([r[0] for r in con.execute("SELECT item_id FROM items").fetchall()])
        queries = [r[0] for r in con.execute("SELECT query FROM searches ORDER BY ts DESC LIMIT 5000").fetchall()]
        reviews = [r[0] for r in con.execute("SELECT text FROM reviews ORDER BY ts DESC LIMIT 5000").fetchall()]
        pages = [r[0] for r in con.execute("""SELECT list(item_id ORDER BY position) FROM page_impressions
                     WHERE page_id > (SELECT max(page_id) - 5000 FROM pages) GROUP BY page_id""").fetchall()]
        listings = [{"title": t, "description": d or ""} for t, d in con.execute(
            "SELECT title, description FROM items WHERE title IS NOT NULL ORDER BY item_id DESC LIMIT 5000").fetchall()]
    pick = lambda values: values[rng.integers(len(values), size=count)].tolist()   # noqa: E731
    return {
        "propensity": [{"user_ids": [u]} for u in pick(users)],
        "churn": [{"user_ids": [u]} for u in pick(users)],
        "churn_without_reasons": [{"user_ids": [u], "explain": False} for u in pick(users)],
        "ctr": [{"user_id": u, "ad_ids": rng.choice(ads, CANDIDATE_ADS, replace=False).tolist(), "position": 1,
                 "hour_of_day": 20} for u in pick(users)],
        "interactions": [{"user_id": u, "item_ids": rng.choice(items, CANDIDATE_ITEMS, replace=False).tolist()}
                         for u in pick(users)],
        "preferences": [{"user_ids": [u]} for u in pick(users)],
        "next_action": [{"user_id": u, "events": session_so_far(i, j)} for u, i, j in zip(pick(users), pick(items), pick(items))],
        "profile": [{"user_ids": [u]} for u in pick(users)],
        "similar_items": [{"item_id": i, "k": 10} for i in pick(items)],
        "recommend": [{"user_id": u, "k": 20} for u in pick(users)],
        "rank": [{"user_id": u, "item_ids": pages[p]} for u, p in zip(pick(users), rng.integers(len(pages), size=count))]
        if pages else [],
        "search": [{"query": q, "k": 10} for q in pick(np.array(queries, dtype=object))],
        "forecast": [{"item_ids": [i], "horizon": 7} for i in pick(items)],
        "price_advice": [{"item_ids": [i]} for i in pick(items)],
        "ad_audience": [{"ad_id": a, "size": 100} for a in pick(ads)],
        "sentiment": [{"texts": [t]} for t in pick(np.array(reviews, dtype=object))] if reviews else [],
        "categorize": [{"items": [listings[i]]} for i in rng.integers(len(listings), size=count)] if listings else [],
        **{plan: [{"user_ids": rng.choice(users, PLAN_CANDIDATES, replace=False).tolist(), "budget": PLAN_BUDGET}
                  for _ in range(count)] for plan in ("coupon_plan", "push_plan")},
    }


def _summary(latencies: list[float], seconds: float, errors: int) -> dict:
    ms = np.array(latencies) * 1e3
    return {"requests": len(latencies), "errors": errors, "requests_per_second": round(len(latencies) / seconds, 1),
            **{f"p{q}_ms": round(float(np.percentile(ms, q)), 2) for q in (50, 95, 99)}}


def _over_http(url: str, route: str, bodies: list[dict], concurrency: int, time_limit: float) -> dict:
    deadline = time.monotonic() + time_limit
    clients = [httpx.Client(base_url=url, timeout=30) for _ in range(concurrency)]

    def worker(index: int) -> tuple[list[float], int]:
        times, errors = [], 0
        for body in bodies[index::concurrency]:
            if time.monotonic() > deadline:
                break
            started = time.perf_counter()
            response = clients[index].post(route, json=body)
            times.append(time.perf_counter() - started)
            errors += response.status_code != 200
        return times, errors

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(worker, range(concurrency)))
    seconds = time.perf_counter() - started
    for client in clients:
        client.close()
    return _summary([t for times, _ in results for t in times], seconds, sum(e for _, e in results))


def _in_process(call, bodies: list[dict]) -> dict:
    times = []
    for body in bodies:
        started = time.perf_counter()
        call(body)
        times.append(time.perf_counter() - started)
    return _summary(times, sum(times), 0)


def _runs(settings: Settings, count: int) -> dict[str, tuple[str, list[dict]]]:
    """Run name -> (route, request bodies): every serving task of the registry."""
    from services.examples import example_requests

    profiles = _load_profiles(settings, count)
    runs = {}
    for route, example in example_requests(settings).items():
        name = route.removeprefix("/")
        runs[name] = (route, profiles.get(name) or [example] * count)
    runs["churn_without_reasons"] = ("/churn", profiles["churn_without_reasons"])
    return runs


def _local_calls(settings: Settings) -> dict:
    """Route -> the serving task's answer in this process, from the same models and store."""
    os.environ["BENTOML_HOME"] = str(settings.model_store)          # before bentoml is imported
    import bentoml

    from services.online import OnlineFeatures
    from services.runtime import load_model
    from services.server import home_clock
    from training.tasks import serving_tasks

    online = OnlineFeatures(settings, clock=home_clock(settings))
    calls = {}
    for task in serving_tasks():
        endpoint = task.endpoint
        answerer = endpoint.start({m: load_model(bentoml.models.BentoModel(f"{m}:latest"))
                                   for m in endpoint.all_models}, online)
        calls[endpoint.path] = lambda body, answerer=answerer, request=endpoint.request: answerer.answer(request(**body))
    return calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, default=Path("data"))
    parser.add_argument("--requests", type=int, default=400, help="requests per endpoint and concurrency")
    parser.add_argument("--seconds", type=float, default=30.0, help="time limit per endpoint and concurrency")
    parser.add_argument("--endpoints", nargs="*", default=None,
                        help="measure only these (e.g. next_action), keeping the others' earlier figures")
    args = parser.parse_args()
    settings = Settings.resolve(args.home)
    runs_by_name = _runs(settings, args.requests)
    if args.endpoints is not None:
        unknown = sorted(set(args.endpoints) - set(runs_by_name))
        if unknown:
            raise SystemExit(f"no endpoints {unknown}; there are {sorted(runs_by_name)}")
        runs_by_name = {name: run for name, run in runs_by_name.items() if name in args.endpoints}
    local = _local_calls(settings)
    in_process = {}
    for endpoint, (route, bodies) in runs_by_name.items():
        for body in bodies[:20]:
            local[route](body)                                                # warm up
        in_process[endpoint] = _in_process(local[route], bodies)
        print(f"in-process {endpoint}: {in_process[endpoint]}", flush=True)
    del local

    from services.server import running_server

    earlier = RESULTS_DIR / "serving.json"
    kept = json.loads(earlier.read_text())["endpoints"] if args.endpoints is not None and earlier.is_file() else {}
    report = {"endpoints": kept}
    with running_server(settings) as url:
        for endpoint, (route, endpoint_bodies) in runs_by_name.items():
            _over_http(url, route, endpoint_bodies[:20], 1, args.seconds)                     # warm up
            runs = {c: _over_http(url, route, endpoint_bodies, c, args.seconds) for c in CONCURRENCY}
            single = runs[1]
            entry = {"in_process": in_process[endpoint], "http": {str(c): run for c, run in runs.items()},
                     "overhead_p50_ratio": round(single["p50_ms"] / in_process[endpoint]["p50_ms"], 2),
                     "errors": sum(run["errors"] for run in runs.values())}
            if endpoint in GOALS_MS:
                entry["goal_p99_ms"] = GOALS_MS[endpoint]
                entry["meets_goal"] = single["p99_ms"] <= GOALS_MS[endpoint] and entry["errors"] == 0
            report["endpoints"][endpoint] = entry
            print(f"{endpoint}: " + "; ".join(f"c={c} p50 {r['p50_ms']} p99 {r['p99_ms']} ms {r['requests_per_second']}/s "
                                               f"errors {r['errors']}" for c, r in runs.items())
                  + f"; in-process p50 {in_process[endpoint]['p50_ms']} ms", flush=True)
    print(f"wrote {write_results('serving', report)}")


if __name__ == "__main__":
    main()
