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


def test_every_pin_satisfies_what_the_pinned_packages_declare_for_the_extras_we_ask_for():
    """e.g. ``feast[redis]`` declares ``redis<8``: the lock must not pin a redis Feast refuses."""
    from importlib.metadata import requires

    from packaging.requirements import Requirement

    lock = _pins(ROOT / "constraints.txt")
    asked = [Requirement(r) for r in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]]
    broken = []
    for requirement in asked:
        for extra in requirement.extras:
            for declared in map(Requirement, requires(requirement.name) or []):
                pinned = lock.get(declared.name.lower())
                wanted = declared.marker is not None and declared.marker.evaluate({"extra": extra})
                if wanted and pinned is not None and pinned not in declared.specifier:
                    broken.append(f"{requirement.name}[{extra}] needs {declared}, constraints.txt pins {pinned}")
    assert not broken, broken
