"""One example request per endpoint of the registry, taken from the shop's own data (a recently
active user and one never seen, the most shown ads, the most bought item, a recent search, the latest category page), and
calling each endpoint once over HTTP: what ``make demo`` shows at its end."""

from __future__ import annotations

import httpx

from shopml.serving import ExampleShop
from shopml.settings import Settings
from shopml.warehouse.database import connect
from training.tasks import serving_tasks


def example_shop(settings: Settings) -> ExampleShop:
    with connect(settings.warehouse_path) as con:
        user = con.execute("""SELECT user_id FROM events WHERE ts >= (SELECT max(ts) FROM events) - INTERVAL 30 DAY
                              GROUP BY user_id ORDER BY count(*) DESC, user_id LIMIT 1""").fetchall()[0][0]
        ads = [row[0] for row in con.execute("""SELECT ad_id FROM ad_impressions GROUP BY ad_id
                                                ORDER BY count(*) DESC, ad_id LIMIT 5""").fetchall()]
        item = con.execute("""SELECT item_id FROM events WHERE event_type = 'purchase' GROUP BY item_id
                              ORDER BY count(*) DESC, item_id LIMIT 1""").fetchall()[0][0]
        query = con.execute("SELECT query FROM searches ORDER BY ts DESC, search_id LIMIT 1").fetchall()[0][0]
        page = [row[0] for row in con.execute("""SELECT item_id FROM page_impressions
                                                 WHERE page_id = (SELECT max(page_id) FROM pages) ORDER BY position""").fetchall()]
        best_sellers = [row[0] for row in con.execute("""SELECT item_id FROM events WHERE event_type = 'purchase'
                                                         GROUP BY item_id ORDER BY count(*) DESC, item_id LIMIT 20""").fetchall()]
    return ExampleShop(active_user=user, shown_ads=ads, bought_item=item, query=query, page_items=page or best_sellers)


def example_requests(settings: Settings) -> dict[str, dict]:
    """Path -> one request body, per serving task of the registry."""
    shop = example_shop(settings)
    return {task.endpoint.path: task.endpoint.example(shop) for task in serving_tasks()}


def call_endpoints(url: str, requests: dict[str, dict]) -> dict[str, httpx.Response]:
    with httpx.Client(base_url=url, timeout=30) as client:
        return {route: client.post(route, json=body) for route, body in requests.items()}
