"""EventRouter against the real Redis: routing, acknowledgement, retries, timeouts,
dead letters, graceful stop, lease renewal and de-duplication."""

from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio

from servicekit.errors import ConfigurationError
from servicekit.kv import already_processed
from servicekit.streams import (
    BaseEvent,
    DeadLetterReason,
    EventEmitter,
    EventRouter,
    GenericEvent,
    NonRetryableError,
    constant,
    exponential,
    get_causation_id,
    get_correlation_id,
    linear,
    read_dead_letters,
    replay,
)
from servicekit.streams.serialization import decode_event

from .conftest import Names, entries, pending_count, running, wait_for


class SkRtDocumentEvent(BaseEvent):
    doc_id: str


class SkRtDocumentCreated(SkRtDocumentEvent):
    title: str = ""


class SkRtDocumentDeleted(SkRtDocumentEvent):
    pass


class SkRtUserCreated(BaseEvent):
    user_id: str


class SkRtUserFollowUp(BaseEvent):
    user_id: str


def make_router(client: redis.asyncio.Redis, names: Names, **options: Any) -> EventRouter:
    options.setdefault("block_ms", 50)
    return EventRouter(client, stream=names("events"), group=names("group"), **options)


async def test_routing_matrix(redis_client: redis.asyncio.Redis, names: Names) -> None:
    router = make_router(redis_client, names)
    seen: dict[str, list[str]] = {}

    def recorder(name: str) -> Callable[[BaseEvent], Awaitable[None]]:
        async def handler(event: BaseEvent) -> None:
            seen.setdefault(name, []).append(event.routing_key)

        return handler

    targets: list[tuple[str, object]] = [
        ("exact", SkRtDocumentCreated),
        ("base_class", SkRtDocumentEvent),
        ("union", SkRtDocumentDeleted | SkRtUserCreated),
        ("glob", "sk_rt_document.*"),
        ("catch_all", "*"),
        ("unknown", GenericEvent),
        ("second_exact", SkRtDocumentCreated),
    ]
    for name, target in targets:
        router.on(target)(recorder(name))

    emitter = EventEmitter(redis_client, stream=router.stream)
    await emitter.emit(
        [
            SkRtDocumentCreated(doc_id="1"),
            SkRtDocumentDeleted(doc_id="1"),
            SkRtUserCreated(user_id="u"),
        ]
    )
    await redis_client.xadd(router.stream, {"event_type": "sk_rt_stranger.arrived", "data": "{}"})
    async with running(router):
        await wait_for(lambda: len(seen.get("catch_all", [])) == 4)
        await wait_for(lambda: _no_pending(redis_client, router))
    assert seen == {
        "exact": ["sk_rt_document.created"],
        "second_exact": ["sk_rt_document.created"],
        "base_class": ["sk_rt_document.created", "sk_rt_document.deleted"],
        "union": ["sk_rt_document.deleted", "sk_rt_user.created"],
        "glob": ["sk_rt_document.created", "sk_rt_document.deleted"],
        "catch_all": [
            "sk_rt_document.created",
            "sk_rt_document.deleted",
            "sk_rt_user.created",
            "sk_rt_stranger.arrived",
        ],
        "unknown": ["sk_rt_stranger.arrived"],
    }
    assert await pending_count(redis_client, router.stream, router.group) == 0


def test_invalid_targets_and_handlers_are_rejected(
    redis_client: redis.asyncio.Redis, names: Names
) -> None:
    router = make_router(redis_client, names)
    with pytest.raises(ConfigurationError):
        router.on(int)
    with pytest.raises(ConfigurationError):

        @router.on(SkRtUserCreated)  # type: ignore[type-var]
        def not_async(event: SkRtUserCreated) -> None: ...


def test_handler_deadline_must_be_finite(redis_client: redis.asyncio.Redis, names: Names) -> None:
    # Longer than claim_min_idle_ms is fine: the entry's lease is refreshed (test_lease.py).
    router = make_router(redis_client, names, handler_timeout=60.0, claim_min_idle_ms=1000)

    @router.on(SkRtUserCreated, retries=4, backoff=exponential(max_delay=8))
    async def long(event: SkRtUserCreated) -> None: ...

    with pytest.raises(ConfigurationError, match="deadline must be finite"):
        make_router(redis_client, names, handler_timeout=math.inf)
    with pytest.raises(ConfigurationError, match="deadline must be finite"):

        @router.on(SkRtUserCreated, timeout=math.inf)
        async def endless(event: SkRtUserCreated) -> None: ...

    with pytest.raises(ConfigurationError, match="deadline must be finite"):

        @router.on(SkRtUserCreated, retries=1, backoff=constant(delay=math.inf))
        async def endless_backoff(event: SkRtUserCreated) -> None: ...


def test_backoff_strategies() -> None:
    exp = exponential(base=2, max_delay=10, jitter=False)
    assert [exp(n) for n in range(1, 6)] == [2, 4, 8, 10, 10]
    jittered = exponential(base=2, max_delay=10)
    assert all(2 <= jittered(2) <= 4 for _ in range(100))
    assert exponential(initial=0.01, jitter=False)(3) == pytest.approx(0.08)
    lin = linear(delay=1.5, max_delay=4)
    assert [lin(n) for n in range(1, 5)] == [1.5, 3.0, 4, 4]
    assert [constant(0.2)(n) for n in range(1, 4)] == [0.2, 0.2, 0.2]


async def test_acknowledged_only_after_every_handler_succeeded(
    redis_client: redis.asyncio.Redis, names: Names
) -> None:
    router = make_router(redis_client, names)
    calls: list[str] = []

    @router.on(SkRtUserCreated)
    async def works(event: SkRtUserCreated) -> None:
        calls.append("works")

    @router.on(SkRtUserCreated)
    async def fails(event: SkRtUserCreated) -> None:
        calls.append("fails")
        raise ConnectionError("downstream unavailable")

    await EventEmitter(redis_client, stream=router.stream).emit(SkRtUserCreated(user_id="u"))
    async with running(router):
        await wait_for(lambda: len(calls) == 2)
    assert sorted(calls) == ["fails", "works"]
    # A retryable failure leaves the entry pending for redelivery.
    assert await pending_count(redis_client, router.stream, router.group) == 1


async def test_quick_retries_with_backoff(redis_client: redis.asyncio.Redis, names: Names) -> None:
    router = make_router(redis_client, names)
    attempts: list[float] = []

    @router.on(SkRtUserCreated, retries=3, backoff=constant(0.05), timeout=1.0)
    async def flaky(event: SkRtUserCreated) -> None:
        attempts.append(asyncio.get_running_loop().time())
        if len(attempts) < 3:
            raise ConnectionError("try again")

    await EventEmitter(redis_client, stream=router.stream).emit(SkRtUserCreated(user_id="u"))
    async with running(router):
        await wait_for(lambda: len(attempts) == 3)
        await wait_for(lambda: _no_pending(redis_client, router))
    assert len(attempts) == 3
    assert all(b - a >= 0.04 for a, b in itertools.pairwise(attempts))


async def _no_pending(client: redis.asyncio.Redis, router: EventRouter) -> bool:
    return await pending_count(client, router.stream, router.group) == 0


async def test_handler_timeout_then_retry(redis_client: redis.asyncio.Redis, names: Names) -> None:
    router = make_router(redis_client, names)
    attempts = 0
    cancelled = 0

    @router.on(SkRtUserCreated, timeout=0.05, retries=1, backoff=constant(0.01))
    async def slow_once(event: SkRtUserCreated) -> None:
        nonlocal attempts, cancelled
        attempts += 1
        if attempts == 1:
            try:
                await asyncio.sleep(5)
            except asyncio.CancelledError:
                cancelled += 1
                raise

    timeouts = 0

    @router.on(SkRtUserFollowUp, timeout=0.05)
    async def always_slow(event: SkRtUserFollowUp) -> None:
        nonlocal timeouts
        timeouts += 1
        await asyncio.sleep(5)

    emitter = EventEmitter(redis_client, stream=router.stream)
    await emitter.emit([SkRtUserCreated(user_id="u"), SkRtUserFollowUp(user_id="u")])
    async with running(router):
        await wait_for(lambda: attempts == 2 and timeouts == 1)
    assert cancelled == 1
    # The first entry succeeded on its retry; the second timed out without retries left.
    [(entry_id, _, _, _)] = [
        (p["message_id"], p["consumer"], p["time_since_delivered"], p["times_delivered"])
        for p in await redis_client.xpending_range(router.stream, router.group, "-", "+", 10)
    ]
    [(_, fields)] = await entries(redis_client, router.stream, entry_id, entry_id)
    assert isinstance(decode_event(fields), SkRtUserFollowUp)


async def test_router_is_usable_after_a_timeout(
    redis_client: redis.asyncio.Redis, names: Names
) -> None:
    # The shared timer of a router task must leave no stray cancellation behind.
    router = make_router(redis_client, names)
    handled: list[str] = []

    @router.on(SkRtUserCreated, timeout=0.05)
    async def sometimes_slow(event: SkRtUserCreated) -> None:
        if event.user_id == "slow":
            await asyncio.sleep(5)
        await asyncio.sleep(0.01)
        handled.append(event.user_id)

    emitter = EventEmitter(redis_client, stream=router.stream)
    await emitter.emit([SkRtUserCreated(user_id="slow"), SkRtUserCreated(user_id="a")])
    async with running(router) as task:
        await wait_for(lambda: handled == ["a"])
        await emitter.emit(SkRtUserCreated(user_id="b"))
        await wait_for(lambda: handled == ["a", "b"])
        assert not task.done()


async def test_dead_letter_for_each_reason(redis_client: redis.asyncio.Redis, names: Names) -> None:
    dlq = names("dlq")
    router = make_router(
        redis_client,
        names,
        dlq_stream=dlq,
        max_deliveries=2,
        claim_min_idle_ms=200,
        handler_timeout=0.1,
    )
    failures = 0

    @router.on(SkRtDocumentCreated, retryable_exceptions=(ConnectionError,))
    async def strict(event: SkRtDocumentCreated) -> None:
        raise ValueError(f"bad document {event.doc_id}")

    @router.on(SkRtDocumentDeleted)
    async def explicit(event: SkRtDocumentDeleted) -> None:
        raise NonRetryableError("cannot delete twice")

    @router.on(SkRtUserCreated)
    async def always_failing(event: SkRtUserCreated) -> None:
        nonlocal failures
        failures += 1
        raise ConnectionError("still down")

    emitter = EventEmitter(redis_client, stream=router.stream)
    await emitter.emit(
        [
            SkRtDocumentCreated(doc_id="d1"),
            SkRtDocumentDeleted(doc_id="d2"),
            SkRtUserCreated(user_id="u"),
        ]
    )
    garbage_id: Any = await redis_client.xadd(
        router.stream, {"event_type": "sk_rt_user.created", "data": "{oops"}
    )
    async with running(router):
        await wait_for(lambda: _count(redis_client, dlq, 4))
        await wait_for(lambda: _no_pending(redis_client, router))

    letters = {letter.reason: letter for letter in await read_dead_letters(redis_client, dlq)}
    assert len(letters) == 3
    non_retryable = [
        letter
        for letter in await read_dead_letters(redis_client, dlq)
        if letter.reason is DeadLetterReason.NON_RETRYABLE_ERROR
    ]
    assert sorted(letter.handler.rsplit(".", 1)[-1] for letter in non_retryable) == [
        "explicit",
        "strict",
    ]
    strict_letter = next(x for x in non_retryable if x.handler.endswith("strict"))
    assert strict_letter.error == "ValueError: bad document d1"
    assert strict_letter.event_type == "sk_rt_document.created"
    assert strict_letter.original_stream == router.stream
    assert strict_letter.original_group == router.group
    original = decode_event({"event_type": strict_letter.event_type, "data": strict_letter.data})
    assert isinstance(original, SkRtDocumentCreated)
    assert original.doc_id == "d1"

    broken = letters[DeadLetterReason.DESERIALIZATION_FAILED]
    assert broken.original_msg_id == garbage_id.decode()
    assert broken.data == "{oops"

    exhausted = letters[DeadLetterReason.MAX_DELIVERIES_EXCEEDED]
    assert exhausted.event_type == "sk_rt_user.created"
    assert "delivered 3 times" in exhausted.error
    assert failures == 2  # handled on deliveries 1 and 2, dead-lettered on the third


async def _count(client: redis.asyncio.Redis, stream: str, n: int) -> bool:
    return int(await client.xlen(stream)) >= n


async def test_replaying_a_dead_letter(redis_client: redis.asyncio.Redis, names: Names) -> None:
    dlq = names("dlq")
    router = make_router(redis_client, names, dlq_stream=dlq)
    broken = True
    handled: list[str] = []

    @router.on(SkRtUserCreated)
    async def handler(event: SkRtUserCreated) -> None:
        if broken:
            raise NonRetryableError("not yet")
        handled.append(event.user_id)

    await EventEmitter(redis_client, stream=router.stream).emit(SkRtUserCreated(user_id="u"))
    async with running(router):
        await wait_for(lambda: _count(redis_client, dlq, 1))
        [letter] = await read_dead_letters(redis_client, dlq)
        broken = False
        await replay(redis_client, letter)
        await wait_for(lambda: handled == ["u"])
    assert await redis_client.xlen(dlq) == 0


async def test_without_a_dlq_dead_entries_stay_pending(
    redis_client: redis.asyncio.Redis, names: Names
) -> None:
    router = make_router(redis_client, names)
    calls = 0

    @router.on(SkRtUserCreated)
    async def handler(event: SkRtUserCreated) -> None:
        nonlocal calls
        calls += 1
        raise NonRetryableError("no")

    await EventEmitter(redis_client, stream=router.stream).emit(SkRtUserCreated(user_id="u"))
    await redis_client.xadd(router.stream, {"garbage": "1"})
    async with running(router):
        await wait_for(lambda: calls == 1)
        await wait_for(lambda: _pending_is(redis_client, router, 2))
    assert await redis_client.xlen(router.stream) == 2


async def _pending_is(client: redis.asyncio.Redis, router: EventRouter, n: int) -> bool:
    return await pending_count(client, router.stream, router.group) == n


async def test_graceful_stop_finishes_and_acknowledges_in_flight_handlers(
    redis_client: redis.asyncio.Redis, names: Names
) -> None:
    router = make_router(redis_client, names, block_ms=5000)
    started = asyncio.Event()
    finished: list[str] = []

    @router.on(SkRtUserCreated)
    async def slow(event: SkRtUserCreated) -> None:
        started.set()
        await asyncio.sleep(0.3)
        finished.append(event.user_id)

    await EventEmitter(redis_client, stream=router.stream).emit(SkRtUserCreated(user_id="u"))
    task = asyncio.create_task(router.start())
    await asyncio.wait_for(started.wait(), 5)
    await router.stop()
    assert finished == ["u"]
    assert task.done() and task.exception() is None
    assert not router.running
    assert await pending_count(redis_client, router.stream, router.group) == 0

    # Stopping an idle router does not wait for its blocking read (block_ms=5000).
    task = asyncio.create_task(router.start())
    await wait_for(lambda: router._read_task is not None)
    loop = asyncio.get_running_loop()
    before = loop.time()
    await router.stop()
    await task
    assert loop.time() - before < 2.5


async def test_a_stream_deleted_under_a_waiting_router_is_recreated(
    redis_client: redis.asyncio.Redis, names: Names
) -> None:
    """Redis wakes a read blocked on a stream that is deleted (or moved to another node
    of a cluster) with an ``UNBLOCKED`` error: the router reads again, finds its group
    gone, creates it again and goes on."""
    router = make_router(redis_client, names, block_ms=5000)
    emitter = EventEmitter(redis_client, stream=router.stream)
    seen: list[str] = []

    @router.on(SkRtUserCreated)
    async def record(event: SkRtUserCreated) -> None:
        seen.append(event.user_id)

    await emitter.emit(SkRtUserCreated(user_id="before"))
    async with running(router) as task:
        await wait_for(lambda: seen == ["before"] and router._read_task is not None)
        # Time for the read ahead to reach the server and block there; had it not, the
        # read after the delete would find the group gone all the same.
        await asyncio.sleep(0.05)
        await redis_client.delete(router.stream)
        await emitter.emit(SkRtUserCreated(user_id="after"))
        await wait_for(lambda: seen == ["before", "after"] or task.done())
        assert not task.done()
    assert seen == ["before", "after"]


async def test_start_twice_and_deferred_configuration(
    redis_client: redis.asyncio.Redis, names: Names
) -> None:
    router = EventRouter(stream=names("events"), group=names("group"), block_ms=50)
    with pytest.raises(ConfigurationError):
        await router.start()
    handled: list[str] = []

    @router.on(SkRtUserCreated)
    async def handler(event: SkRtUserCreated) -> None:
        handled.append(event.user_id)

    task = asyncio.create_task(router.start(redis_client))
    await wait_for(lambda: router.running)
    with pytest.raises(ConfigurationError):
        await router.start()
    await EventEmitter(redis_client, stream=router.stream).emit(SkRtUserCreated(user_id="u"))
    await wait_for(lambda: handled == ["u"])
    await router.stop()
    await task


async def test_handlers_see_and_propagate_correlation(
    redis_client: redis.asyncio.Redis, names: Names
) -> None:
    router = make_router(redis_client, names)
    emitter = EventEmitter(redis_client, stream=router.stream)
    context: list[tuple[str | None, str | None]] = []

    @router.on(SkRtUserCreated)
    async def first(event: SkRtUserCreated) -> None:
        context.append((get_correlation_id(), get_causation_id()))
        await emitter.emit(SkRtUserFollowUp(user_id=event.user_id))

    follow_ups: list[SkRtUserFollowUp] = []

    @router.on(SkRtUserFollowUp)
    async def second(event: SkRtUserFollowUp) -> None:
        follow_ups.append(event)

    root = SkRtUserCreated(user_id="u")
    await emitter.emit(root)
    async with running(router):
        await wait_for(lambda: len(follow_ups) == 1)
    assert context == [(str(root.id), str(root.id))]
    assert follow_ups[0].causation_id == str(root.id)
    assert follow_ups[0].correlation_id == str(root.id)
    assert get_correlation_id() is None


async def test_slow_ordered_batch_is_not_claimed_by_another_consumer(
    redis_client: redis.asyncio.Redis, names: Names
) -> None:
    # Each handler run fits in claim_min_idle_ms, a whole batch does not: the first
    # consumer renews its entries, so the second one never claims and re-runs them.
    stream, group = names("events"), names("group")
    options: dict[str, Any] = {
        "stream": stream,
        "group": group,
        "block_ms": 50,
        "batch_size": 8,
        "claim_min_idle_ms": 250,
        "claim_interval": 0.02,
        "handler_timeout": 0.2,
    }
    first = EventRouter(redis_client, consumer="first", **options)
    second = EventRouter(redis_client, consumer="second", **options)
    handled: list[tuple[str, str]] = []

    for router, name in ((first, "first"), (second, "second")):

        @router.on(SkRtUserCreated)
        async def slow(event: SkRtUserCreated, name: str = name) -> None:
            handled.append((name, event.user_id))
            await asyncio.sleep(0.08)

    await first.ensure_group()
    await EventEmitter(redis_client, stream=stream).emit(
        [SkRtUserCreated(user_id=str(i)) for i in range(8)]
    )
    async with running(first):
        await wait_for(lambda: len(handled) >= 1)
        async with running(second):
            await wait_for(lambda: _no_pending_stream(redis_client, stream, group))
            await asyncio.sleep(0.3)  # let the second consumer run a few claim passes
    assert sorted(user for _, user in handled) == [str(i) for i in range(8)]
    assert {name for name, _ in handled} == {"first"}


async def _no_pending_stream(client: redis.asyncio.Redis, stream: str, group: str) -> bool:
    return await pending_count(client, stream, group) == 0 and await client.xlen(stream) > 0


async def test_unordered_batches_run_concurrently(
    redis_client: redis.asyncio.Redis, names: Names
) -> None:
    router = make_router(redis_client, names, ordered=False, batch_size=5)
    running_now = 0
    peak = 0

    @router.on(SkRtUserCreated)
    async def handler(event: SkRtUserCreated) -> None:
        nonlocal running_now, peak
        running_now += 1
        peak = max(peak, running_now)
        await asyncio.sleep(0.05)
        running_now -= 1

    await EventEmitter(redis_client, stream=router.stream).emit(
        [SkRtUserCreated(user_id=str(i)) for i in range(5)]
    )
    async with running(router):
        await wait_for(lambda: _pending_zero_after(redis_client, router, 5))
    assert peak == 5


async def _pending_zero_after(client: redis.asyncio.Redis, router: EventRouter, n: int) -> bool:
    info = await client.xinfo_groups(router.stream)
    return bool(info) and info[0]["pending"] == 0 and info[0]["entries-read"] == n


async def test_one_line_deduplication(redis_client: redis.asyncio.Redis, names: Names) -> None:
    router = make_router(redis_client, names)
    namespace = names("processed")
    effects: list[str] = []

    @router.on(SkRtUserCreated)
    async def handler(event: SkRtUserCreated) -> None:
        if await already_processed(
            redis_client, event_id=str(event.id), ttl=60, namespace=namespace
        ):
            return
        effects.append(event.user_id)

    event = SkRtUserCreated(user_id="u")
    emitter = EventEmitter(redis_client, stream=router.stream)
    await emitter.emit([event, event])  # the same event delivered twice
    async with running(router):
        await wait_for(lambda: _pending_zero_after(redis_client, router, 2))
    assert effects == ["u"]
    await redis_client.delete(f"{namespace}:{event.id}")


async def test_block_longer_than_the_socket_timeout(redis_url: str, names: Names) -> None:
    # redis-py's default socket timeout (5 s) equals the default block_ms: blocking reads
    # must not be cut off by it.
    client = redis.asyncio.Redis.from_url(redis_url, socket_timeout=0.1)
    try:
        router = make_router(client, names, block_ms=300)
        handled: list[str] = []

        @router.on(SkRtUserCreated)
        async def handler(event: SkRtUserCreated) -> None:
            handled.append(event.user_id)

        async with running(router) as task:
            await asyncio.sleep(0.5)  # a few empty blocking reads, each longer than 0.1 s
            await EventEmitter(client, stream=router.stream).emit(SkRtUserCreated(user_id="u"))
            await wait_for(lambda: handled == ["u"])
            assert not task.done()
    finally:
        await client.delete(router.stream)
        await client.aclose()


@pytest.mark.parametrize("ordered", [True, False])
async def test_each_event_of_a_batch_sees_its_own_correlation(
    redis_client: redis.asyncio.Redis, names: Names, ordered: bool
) -> None:
    # Both ways of handling a batch: one entry after the other, and one task per entry.
    router = make_router(redis_client, names, batch_size=10, ordered=ordered)
    seen: list[tuple[str, str | None]] = []

    @router.on(SkRtUserCreated)
    async def record(event: SkRtUserCreated) -> None:
        seen.append((event.user_id, get_correlation_id()))

    events = [SkRtUserCreated(user_id=str(n), correlation_id=f"chain-{n}") for n in range(5)]
    await EventEmitter(redis_client, stream=router.stream).emit(events)
    async with running(router):
        await wait_for(lambda: len(seen) == 5)
    assert sorted(seen) == [(str(n), f"chain-{n}") for n in range(5)]
    assert get_correlation_id() is None


async def _misbehave(user_id: str) -> None:
    """For a handler with a short timeout: "slow" runs past it, "stubborn" too and then
    swallows the cancellation, raising another error instead; anything else returns."""
    if user_id == "stubborn":
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            raise ValueError("cleanup failed") from None
    if user_id == "slow":
        await asyncio.sleep(5)


async def test_handler_swallowing_its_timeout_cannot_kill_the_router(
    redis_client: redis.asyncio.Redis, names: Names
) -> None:
    router = make_router(redis_client, names)
    handled: list[str] = []

    @router.on(SkRtUserCreated, timeout=0.05)
    async def stubborn(event: SkRtUserCreated) -> None:
        await _misbehave(event.user_id)
        handled.append(event.user_id)

    emitter = EventEmitter(redis_client, stream=router.stream)
    await emitter.emit(SkRtUserCreated(user_id="stubborn"))
    async with running(router) as task:
        await emitter.emit(SkRtUserCreated(user_id="next"))
        await wait_for(lambda: handled == ["next"])
        assert not task.done()
    assert await pending_count(redis_client, router.stream, router.group) == 1


@pytest.mark.parametrize("ordered", [True, False])
async def test_timeouts_within_one_batch(
    redis_client: redis.asyncio.Redis, names: Names, ordered: bool
) -> None:
    # One batch mixing entries with one handler and with two (run concurrently), some of
    # which time out or swallow their timeout, handled in order or one task per entry.
    router = make_router(redis_client, names, batch_size=10, ordered=ordered)
    handled: list[str] = []

    @router.on(SkRtUserCreated, timeout=0.05)
    async def single(event: SkRtUserCreated) -> None:
        await _misbehave(event.user_id)
        handled.append(event.user_id)

    @router.on(SkRtUserFollowUp, timeout=0.05)
    async def first_of_two(event: SkRtUserFollowUp) -> None:
        await _misbehave(event.user_id)
        handled.append(f"first:{event.user_id}")

    @router.on(SkRtUserFollowUp, timeout=0.05)
    async def second_of_two(event: SkRtUserFollowUp) -> None:
        await asyncio.sleep(0.01)
        handled.append(f"second:{event.user_id}")

    emitter = EventEmitter(redis_client, stream=router.stream)
    await emitter.emit(
        [
            SkRtUserCreated(user_id="stubborn"),
            SkRtUserCreated(user_id="slow"),
            SkRtUserCreated(user_id="ok"),
            SkRtUserFollowUp(user_id="slow"),
            SkRtUserFollowUp(user_id="ok"),
        ]
    )
    async with running(router) as task:
        await wait_for(lambda: len(handled) == 4)
        # No stray cancellation is left behind: the router handles the next batch.
        await emitter.emit(SkRtUserCreated(user_id="after"))
        await wait_for(lambda: "after" in handled)
        await wait_for(lambda: _pending_is(redis_client, router, 3))
        assert not task.done()
    assert sorted(handled) == ["after", "first:ok", "ok", "second:ok", "second:slow"]
    pending = await redis_client.xpending_range(router.stream, router.group, "-", "+", 10)
    left = []
    for row in pending:
        [(_, fields)] = await entries(
            redis_client, router.stream, row["message_id"], row["message_id"]
        )
        left.append(decode_event(fields))
    assert sorted((type(e).__name__, getattr(e, "user_id", "")) for e in left) == [
        ("SkRtUserCreated", "slow"),
        ("SkRtUserCreated", "stubborn"),
        ("SkRtUserFollowUp", "slow"),
    ]
