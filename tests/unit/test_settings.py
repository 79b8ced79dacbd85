from pathlib import Path

import pytest

from shopml.settings import HOME_ENV_VAR, Settings, project_root


def test_default_home_is_data_at_the_project_root(monkeypatch):
    monkeypatch.delenv(HOME_ENV_VAR, raising=False)
    settings = Settings.resolve()
    assert settings.home == (project_root() / "data").resolve()
    assert (project_root() / "pyproject.toml").is_file()


def test_environment_variable_then_explicit_home_win(monkeypatch, tmp_path):
    monkeypatch.setenv(HOME_ENV_VAR, str(tmp_path / "from_env"))
    assert Settings.resolve().home == (tmp_path / "from_env").resolve()
    assert Settings.resolve(tmp_path / "explicit").home == (tmp_path / "explicit").resolve()


def test_every_path_lives_under_the_home(tmp_path):
    settings = Settings.resolve(tmp_path)
    for path in (settings.warehouse_path, settings.features_dir, settings.reports_dir):
        assert Path(path).is_relative_to(tmp_path)


def test_the_serving_clock_is_the_wall_clock_unless_fixed(monkeypatch):
    from datetime import datetime, timezone

    from shopml.settings import SERVING_TIME_ENV_VAR, serving_time

    monkeypatch.delenv(SERVING_TIME_ENV_VAR, raising=False)
    assert abs((serving_time() - datetime.now(timezone.utc)).total_seconds()) < 5
    monkeypatch.setenv(SERVING_TIME_ENV_VAR, "2026-05-05T00:00:00")
    assert serving_time() == datetime(2026, 5, 5, tzinfo=timezone.utc)
    monkeypatch.setenv(SERVING_TIME_ENV_VAR, "yesterday")
    with pytest.raises(ValueError, match=SERVING_TIME_ENV_VAR):
        serving_time()
