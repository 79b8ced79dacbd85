"""A client's bad request is one WARNING line in the server log; a server error keeps its
traceback. The serving clock is the wall clock unless SHOPML_SERVING_TIME fixes it."""

import logging
import sys
from datetime import datetime, timezone

import pytest
from bentoml.exceptions import BadInput
from pydantic import BaseModel, ValidationError

from services.runtime import ClientErrorsInOneLine
from shopml.settings import SERVING_TIME_ENV_VAR, serving_time


class Body(BaseModel):
    user_ids: list[int]


def _record(error: BaseException) -> logging.LogRecord:
    try:
        raise error
    except BaseException:
        return logging.LogRecord("bentoml._internal.server.http_app", logging.ERROR, __file__, 1,
                                 "Exception on %s [%s]", ("/churn", "POST"), sys.exc_info())


def _validation_error() -> ValidationError:
    try:
        Body(user_ids=["seven"])
    except ValidationError as error:
        return error
    raise AssertionError("no error")


def test_a_validation_error_becomes_one_warning_line_naming_the_field():
    record = _record(_validation_error())
    assert ClientErrorsInOneLine().filter(record)
    assert record.levelno == logging.WARNING and record.exc_info is None
    assert record.getMessage() == "client error on /churn [POST]: user_ids.0: Input should be a valid integer, unable to parse string as an integer"


def test_a_4xx_becomes_one_line_and_a_server_error_keeps_its_traceback():
    bad = _record(BadInput("body is not\nvalid JSON"))
    ClientErrorsInOneLine().filter(bad)
    assert bad.levelno == logging.WARNING and bad.getMessage().endswith("400 body is not valid JSON")
    crash = _record(RuntimeError("bug"))
    ClientErrorsInOneLine().filter(crash)
    assert crash.levelno == logging.ERROR and crash.exc_info is not None


def test_the_serving_clock(monkeypatch):
    monkeypatch.delenv(SERVING_TIME_ENV_VAR, raising=False)
    assert abs((serving_time() - datetime.now(timezone.utc)).total_seconds()) < 5
    monkeypatch.setenv(SERVING_TIME_ENV_VAR, "2026-05-05T00:00:00")
    assert serving_time() == datetime(2026, 5, 5, tzinfo=timezone.utc)
    monkeypatch.setenv(SERVING_TIME_ENV_VAR, "yesterday")
    with pytest.raises(ValueError, match=SERVING_TIME_ENV_VAR):
        serving_time()
