"""Segment names: made from the profile's facts, each segment's its own."""

from training.tasks.segments import unique_names

SHOP = {"median_days_since_last_event": 5.0, "purchases_90d": 2.0, "coupon_redemption_rate": 0.1, "spend_90d": 80.0}


def profile(users: int, top: list[str], **facts) -> dict:
    return {**SHOP, "users": users, "top_categories": top, **facts}


def test_alike_segments_are_told_apart_by_their_second_category_then_by_a_number():
    named = {0: profile(100, ["garden", "home"]), 1: profile(300, ["garden", "pets"]),
             2: profile(50, ["garden", "pets"]), 3: profile(80, ["toys", "home"], spend_90d=200.0)}
    assert unique_names(named, SHOP) == {
        0: "occasional steady shoppers in garden and home",
        1: "occasional steady shoppers in garden and pets (1)",       # the larger of the two
        2: "occasional steady shoppers in garden and pets (2)",
        3: "occasional big-spending shoppers in toys"}


def test_a_shop_without_categories_numbers_alike_segments():
    named = {0: profile(10, []), 1: profile(30, []), 2: profile(20, [], purchases_90d=9.0)}
    assert unique_names(named, SHOP) == {0: "occasional steady shoppers (2)", 1: "occasional steady shoppers (1)",
                                         2: "frequent steady shoppers"}
