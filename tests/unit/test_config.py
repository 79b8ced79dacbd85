import json
from dataclasses import dataclass

import pytest

from training.config import ConfigError, resolve_config


@dataclass(frozen=True)
class Example:
    rate: float = 0.1
    rounds: int = 10
    balanced: bool = False
    label: str = "will_purchase"


def test_defaults_then_preset_then_overrides(tmp_path):
    preset = tmp_path / "preset.json"
    preset.write_text(json.dumps({"rate": 0.2, "rounds": 50}))
    config = resolve_config(Example, preset, ["rounds=7", "balanced=true", "label=will_cart"])
    assert config == Example(rate=0.2, rounds=7, balanced=True, label="will_cart")
    assert resolve_config(Example) == Example()


def test_bad_keys_and_values_are_refused_clearly(tmp_path):
    with pytest.raises(ConfigError, match="unknown setting 'rouns'; known: balanced, label, rate, rounds"):
        resolve_config(Example, overrides=["rouns=3"])
    with pytest.raises(ConfigError, match="rounds: expected int, got 'ten'"):
        resolve_config(Example, overrides=["rounds=ten"])
    with pytest.raises(ConfigError, match="balanced: expected bool"):
        resolve_config(Example, overrides=["balanced=maybe"])
    with pytest.raises(ConfigError, match="not key=value"):
        resolve_config(Example, overrides=["rounds"])
    preset = tmp_path / "preset.json"
    preset.write_text(json.dumps({"rounds": 2.5}))
    with pytest.raises(ConfigError, match="rounds: expected int, got 2.5"):
        resolve_config(Example, preset)


@dataclass(frozen=True)
class Structured:
    k_range: tuple[int, int] = (4, 12)
    weights: tuple[float, float] | None = None
    offsets: dict[str, float] | None = None


def test_structured_values_are_json_checked_against_the_type():
    config = resolve_config(Structured, overrides=["k_range=[4, 6]", "weights=[1, 2.5]", 'offsets={"a": 0.3}'])
    assert config == Structured(k_range=(4, 6), weights=(1.0, 2.5), offsets={"a": 0.3})
    assert resolve_config(Structured, overrides=["weights=null"]).weights is None
    with pytest.raises(ConfigError, match="k_range: expected tuple"):
        resolve_config(Structured, overrides=["k_range=[4, 6, 8]"])
    with pytest.raises(ConfigError, match="k_range: expected"):
        resolve_config(Structured, overrides=["k_range=4-6"])
