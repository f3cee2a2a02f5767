"""servicekit.log: one handler, JSON or text, every line tied to its request or event."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator

import pytest
from asgi_correlation_id import CorrelationIdMiddleware
from fastapi import FastAPI
from fastapi.testclient import TestClient

from servicekit.errors import ConfigurationError
from servicekit.log import configure_logging
from servicekit.streams import correlation_scope

logger = logging.getLogger("tests.runtime.log")


@pytest.fixture
def output() -> Iterator[io.StringIO]:
    """What the configured handler writes; the root logger is put back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    buffer = io.StringIO()
    yield buffer
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


def lines(buffer: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_json_lines_carry_level_logger_message_extras_and_time(output: io.StringIO) -> None:
    configure_logging("info", "json", stream=output)
    logger.debug("not at info")
    logger.info("stored %s", "order", extra={"order_id": 7})
    (line,) = lines(output)
    assert line["level"] == "INFO"
    assert line["logger"] == "tests.runtime.log"
    assert line["message"] == "stored order"
    assert line["order_id"] == 7
    assert str(line["time"]).endswith("+00:00")
    assert line["request_id"] is None


def test_an_exception_is_one_line_with_its_traceback(output: io.StringIO) -> None:
    configure_logging("INFO", "json", stream=output)
    try:
        raise ValueError("bad input")
    except ValueError:
        logger.exception("failed")
    (line,) = lines(output)
    assert "ValueError: bad input" in str(line["exc_info"])


def test_inside_an_event_scope_lines_carry_its_correlation(output: io.StringIO) -> None:
    configure_logging("INFO", "json", stream=output)
    with correlation_scope("order-42"):
        logger.info("handling")
    logger.info("after")
    inside, after = lines(output)
    assert inside["correlation_id"] == "order-42"
    assert after["correlation_id"] is None


def test_a_request_id_is_taken_echoed_and_logged(output: io.StringIO) -> None:
    configure_logging("INFO", "json", stream=output)
    app = FastAPI()
    app.add_middleware(CorrelationIdMiddleware, header_name="X-Request-ID")

    @app.get("/work")
    def work() -> dict[str, str]:
        logger.info("working")
        return {}

    given = uuid.uuid4().hex
    with TestClient(app) as client:
        echoed = client.get("/work", headers={"X-Request-ID": given})
        fresh = client.get("/work")
        forged = client.get("/work", headers={"X-Request-ID": 'x"}\n{"level":"CRITICAL'})
    assert echoed.headers["X-Request-ID"] == given
    assert fresh.headers["X-Request-ID"] not in ("", given)
    assert forged.headers["X-Request-ID"] != 'x"}\n{"level":"CRITICAL'  # replaced, not trusted
    working = [line for line in lines(output) if line["message"] == "working"]
    assert [line["request_id"] for line in working] == [
        given,
        fresh.headers["X-Request-ID"],
        forged.headers["X-Request-ID"],
    ]


def test_text_format_and_reconfiguring_replaces_the_handler(output: io.StringIO) -> None:
    configure_logging("INFO", "json", stream=io.StringIO())
    configure_logging("WARNING", "text", stream=output)
    logger.info("quiet")
    logger.warning("shown")
    assert output.getvalue().count("\n") == 1
    assert "WARNING tests.runtime.log [None] shown" in output.getvalue()
    ours = [h for h in logging.getLogger().handlers if getattr(h, "_servicekit", False)]
    assert len(ours) == 1


def test_a_terminal_gets_text_anything_else_json(output: io.StringIO) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    configure_logging("INFO", stream=terminal)
    logger.info("for a person")
    assert terminal.getvalue().split(" ", 2)[2].startswith("INFO tests.runtime.log")
    configure_logging("INFO", stream=output)
    logger.info("for a machine")
    assert lines(output)[0]["message"] == "for a machine"


@pytest.mark.parametrize(
    ("level", "log_format", "says"),
    [("LOUD", None, "LOG_LEVEL 'LOUD'"), ("INFO", "xml", "LOG_FORMAT 'xml'")],
)
def test_unknown_settings_stop_the_start(level: str, log_format: str | None, says: str) -> None:
    with pytest.raises(ConfigurationError, match=says):
        configure_logging(level, log_format, stream=io.StringIO())  # type: ignore[arg-type]
