"""The Bento's requirements pin exactly what constraints.txt locks, and the build config names
the entry service that exists."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _pins(path: Path) -> dict[str, str]:
    lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
    return {name.lower(): version for name, _, version in
            (line.partition("==") for line in lines if "==" in line and not line.startswith("-"))}


def test_bento_requirements_pin_what_the_lock_pins():
    bento, lock = _pins(ROOT / "infra" / "bento-requirements.txt"), _pins(ROOT / "constraints.txt")
    assert bento and {name: lock.get(name) for name in bento} == bento


def test_build_config_names_the_entry_service():
    build = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["bentoml"]["build"]
    module, _, name = build["service"].partition(":")
    source = (ROOT / (module.replace(".", "/") + ".py")).read_text()
    assert f"class {name}(" in source or f"\n{name} = " in source
