"""A consumer's delivery settings, checked by the stream router's own configuration check.

kitgen accepts a consumer's settings only if ``servicekit.streams.EventRouter`` accepts
them: the check builds the router the generated module builds (and registers a handler
with the same options) without connecting anywhere. One piece of code decides, so a
service never fails at start-up for a manifest kitgen took.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kitgen.manifest._literals import python_literal
from kitgen.manifest._references import LocatedError

if TYPE_CHECKING:
    from kitgen.manifest.schema import Consumer, ConsumerBackoff, Manifest

__all__ = [
    "check_backoff",
    "check_consumer_settings",
    "check_consumers",
    "dead_letter_stream",
    "router_args",
    "router_imports",
]

DEAD_LETTER_SUFFIX = ":dead"
_DEADLINE_KEYS = ("timeout", "retries", "backoff")

# manifest key -> the router's keyword, for the settings written only when given.
_ROUTER_KEYWORDS = {
    "max_deliveries": "max_deliveries",
    "retries": "default_retries",
    "timeout": "handler_timeout",
    "claim_min_idle_ms": "claim_min_idle_ms",
    "dedupe": "dedupe_ttl",
}


def dead_letter_stream(consumer: Consumer, stream: str) -> str | None:
    """Where the consumer's dead letters go: ``{<stream>}:dead`` unless named or off.

    The default is :func:`servicekit.streams.dead_letter_stream` of a stream name without
    braces (the manifest allows none): its hash tag puts it on the stream's Redis Cluster
    slot, so dead-lettering stays one transaction on a cluster.
    """
    if consumer.dead_letters is False:
        return None
    if consumer.dead_letters is True:
        return "{" + stream + "}" + DEAD_LETTER_SUFFIX
    return consumer.dead_letters


def router_args(consumer: Consumer, stream: str) -> list[str]:
    """The ``EventRouter(...)`` arguments of the generated consumer module, as source."""
    args = [f"stream={python_literal(stream)}", f"group={python_literal(consumer.group)}"]
    dead_letters = dead_letter_stream(consumer, stream)
    if dead_letters is not None:
        args.append(f"dlq_stream={python_literal(dead_letters)}")
    args += [f"{keyword}={python_literal(value)}" for keyword, value in _given(consumer).items()]
    if consumer.backoff is not None:
        arguments = _backoff_arguments(consumer.backoff).items()
        listed = ", ".join(f"{name}={python_literal(value)}" for name, value in arguments)
        args.append(f"default_backoff={consumer.backoff.kind}({listed})")
    if "start" in consumer.model_fields_set:
        args.append(f"group_start_id=GroupStartPosition.{consumer.start.upper()}")
    return args


def router_imports(consumer: Consumer) -> set[tuple[str, str | None]]:
    """What :func:`router_args` needs imported beside ``EventRouter``."""
    imports: set[tuple[str, str | None]] = set()
    if consumer.backoff is not None:
        imports.add(("servicekit.streams", consumer.backoff.kind))
    if "start" in consumer.model_fields_set:
        imports.add(("servicekit.streams", "GroupStartPosition"))
    return imports


def _given(consumer: Consumer) -> dict[str, Any]:
    """The router keywords of the plain settings the manifest states (the others are the
    router's own defaults, which the manifest's defaults equal)."""
    given = {key for key in consumer.model_fields_set if getattr(consumer, key) is not None}
    return {kw: getattr(consumer, key) for key, kw in _ROUTER_KEYWORDS.items() if key in given}


# backoff kind (also the servicekit.streams function's name) -> its parameters, in the
# order of the manifest's (initial, max).
_BACKOFF_PARAMETERS = {
    "exponential": ("initial", "max_delay"),
    "linear": ("delay", "max_delay"),
    "constant": ("delay",),
}


def _backoff_arguments(backoff: ConsumerBackoff) -> dict[str, float]:
    values = (backoff.initial, backoff.max)  # a constant backoff takes the first only
    return dict(zip(_BACKOFF_PARAMETERS[backoff.kind], values, strict=False))


def check_backoff(backoff: ConsumerBackoff) -> None:
    if backoff.kind == "constant" and "max" in backoff.model_fields_set:
        raise LocatedError(("max",), "a constant backoff waits 'initial' every time: drop 'max'")
    if backoff.max < backoff.initial:
        raise LocatedError(
            ("max",), f"max ({backoff.max:g}) is below initial ({backoff.initial:g})"
        )


def check_consumers(manifest: Manifest) -> None:
    """:class:`LocatedError` at the first consumer whose settings the router refuses, or
    whose dead letters would land on a stream the service reads or writes."""
    # A dead-letter write trims its stream to dlq_maxlen entries: on an events stream
    # that would delete events, and consumers would read the dead letters as events.
    busy = {manifest.default_stream} | {manifest.stream_of(c) for c in manifest.consumers}
    for index, consumer in enumerate(manifest.consumers):
        dead = dead_letter_stream(consumer, manifest.stream_of(consumer))
        if dead in busy:
            raise LocatedError(
                ("consumers", index, "dead_letters"),
                f"dead-letter stream '{dead}' is a stream the service emits to or consumes: "
                "dead letters need a stream of their own (the default is {<stream>}:dead)",
            )
        try:
            check_consumer_settings(consumer, manifest.stream_of(consumer))
        except LocatedError as exc:
            raise LocatedError(("consumers", index, *exc.path), exc.message) from None


def check_consumer_settings(consumer: Consumer, stream: str) -> None:
    """:class:`LocatedError` with the router's own words when it would refuse the settings."""
    from servicekit import streams

    spec = consumer.backoff
    backoff = getattr(streams, spec.kind)(**_backoff_arguments(spec)) if spec else None
    try:
        router = streams.EventRouter(
            stream=stream,
            group=consumer.group,
            dlq_stream=dead_letter_stream(consumer, stream),
            default_backoff=backoff,
            group_start_id=streams.GroupStartPosition[consumer.start.upper()],
            **_given(consumer),
        )

        async def handler(event: object) -> None:
            del event

        # The router names the handler in its message: "handler <qualname> allows ...".
        handler.__qualname__ = "with these timeout, retries and backoff"
        router.on("*")(handler)  # as each generated handler is: the router's defaults
    except streams.StreamsConfigurationError as exc:
        # Point at the first key the user wrote of those that make up a handler's deadline.
        given = [key for key in _DEADLINE_KEYS if key in consumer.model_fields_set]
        where = tuple(given[:1])
        raise LocatedError(where, f"the stream router refuses these settings: {exc}") from None
