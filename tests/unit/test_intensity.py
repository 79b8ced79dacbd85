"""The closed forms the truth tables rest on, checked against direct simulation of the process."""

import numpy as np

from shopml.warehouse.simulator.intensity import DayIntensity, window_probability


def test_daily_probabilities_match_monte_carlo_of_the_session_process():
    rng = np.random.default_rng(1)
    taste = np.array([[0.7, 0.2, 0.1]])
    cart = np.array([[0.3, 0.05, 0.6]])
    like = np.array([[0.2, 0.4, 0.1]])
    intensity = DayIntensity(users=np.array([0]), sessions=np.array([1.4]), cart=cart,
                             buy=np.array([0.55]), taste=taste, price_slope=np.zeros((1, 3)), engage={"like": like})
    days = 400_000
    sessions = rng.poisson(1.4, days)
    session_day = np.repeat(np.arange(days), sessions)
    category = rng.choice(3, size=len(session_day), p=taste[0])
    carted = rng.random(len(session_day)) < cart[0, category]
    bought = carted & (rng.random(len(session_day)) < 0.55)
    liked = rng.random(len(session_day)) < like[0, category]
    p_like_mc = np.isin(np.arange(days), session_day[liked]).mean()
    p_cart_mc = np.isin(np.arange(days), session_day[carted]).mean()
    p_buy_mc = np.isin(np.arange(days), session_day[bought]).mean()
    assert abs(intensity.p_cart[0] - p_cart_mc) < 4 * np.sqrt(p_cart_mc * (1 - p_cart_mc) / days)
    assert abs(intensity.p_purchase[0] - p_buy_mc) < 4 * np.sqrt(p_buy_mc * (1 - p_buy_mc) / days)
    assert abs(intensity.p_engage("like")[0] - p_like_mc) < 4 * np.sqrt(p_like_mc * (1 - p_like_mc) / days)


def test_category_elasticity_is_the_derivative_of_expected_purchases():
    """Moving a category's log price index by a small step moves each user's cart logit by
    price_slope * step; expected purchases then move by the stated elasticity."""
    rng = np.random.default_rng(3)
    users, categories = 50, 4
    logit = rng.normal(-2, 1, (users, categories))
    slope = -rng.lognormal(0, 0.5, (users, 1)) * rng.uniform(0.6, 3, (1, categories))
    taste = rng.dirichlet(np.ones(categories), users)

    def at(step: float) -> DayIntensity:
        return DayIntensity(users=np.arange(users), sessions=np.full(users, 1.3),
                            cart=1 / (1 + np.exp(-(logit + slope * step))), buy=np.full(users, 0.6), taste=taste,
                            price_slope=slope, engage={})

    step = 1e-5
    numeric = (np.log(at(step).category_purchases) - np.log(at(-step).category_purchases)) / (2 * step)
    np.testing.assert_allclose(at(0.0).category_elasticity, numeric, rtol=1e-6)
    assert np.all(at(0.0).category_elasticity < 0)


def test_window_probability_without_churn_is_one_minus_exp_of_total_rate():
    rates = [np.array([0.1, 0.0]), np.array([0.3, 0.0])]
    got = window_probability(rates, np.zeros(2))
    np.testing.assert_allclose(got, [1 - np.exp(-0.4), 0.0])


def test_window_probability_with_churn_matches_simulation():
    rng = np.random.default_rng(2)
    rates, p_churn, n = [0.2, 0.5, 0.1], 0.3, 300_000
    alive = np.ones(n, dtype=bool)
    bought = np.zeros(n, dtype=bool)
    for rate in rates:
        bought |= alive & (rng.poisson(rate, n) > 0)
        alive &= rng.random(n) >= p_churn
    expected = window_probability([np.array([r]) for r in rates], np.array([p_churn]))[0]
    assert abs(bought.mean() - expected) < 4 * np.sqrt(expected * (1 - expected) / n)


def test_certain_churn_leaves_only_the_first_day():
    got = window_probability([np.array([0.5]), np.array([5.0])], np.array([1.0]))
    np.testing.assert_allclose(got, [1 - np.exp(-0.5)])
