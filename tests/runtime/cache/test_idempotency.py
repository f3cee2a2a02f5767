"""idempotent_execute on the shared Redis and on the cluster: exactly once per key, across
callers and processes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from servicekit import kv
from servicekit.errors import ServiceKitError
from servicekit.redis_clients import RedisClient, connect

REPO = Path(__file__).resolve().parents[3]
CLIENT = Path(__file__).with_name("_idempotency_client.py")


class Operation:
    """An operation with a side effect to count: each run returns its own number."""

    def __init__(self, seconds: float = 0.0) -> None:
        self.seconds = seconds
        self.runs = 0

    async def __call__(self) -> dict[str, int]:
        self.runs += 1
        run = self.runs
        await asyncio.sleep(self.seconds)
        return {"run": run}


async def never_called() -> str:
    raise AssertionError("the operation ran a second time")


def client_process(redis_url: str, namespace: str, mode: str) -> subprocess.Popen[str]:
    """Another process using the key ``pay`` (see _idempotency_client.py)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "runtime_lib")])}
    return subprocess.Popen(
        [sys.executable, str(CLIENT), redis_url, namespace, mode],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )


async def test_the_first_result_is_replayed_with_its_status(
    raw_redis: RedisClient, key_prefix: str
) -> None:
    runs = 0

    async def create_order() -> dict[str, object]:
        nonlocal runs
        runs += 1
        return {"order": runs, "at": datetime(2024, 5, 1, tzinfo=UTC)}

    def call(key: str, status: int) -> asyncio.Future[tuple[object, int, bool]]:
        return asyncio.ensure_future(
            kv.idempotent_execute(
                raw_redis, key=key, compute=create_order, status_code=status, ttl=60,
                namespace=key_prefix,
            )
        )  # fmt: skip

    first = await call("req-1", 201)
    replay = await call("req-1", 200)  # the status stored is the first one's
    other = await call("req-2", 200)

    at = "2024-05-01T00:00:00+00:00"  # every caller gets the decoded JSON, the first too
    assert first == ({"order": 1, "at": at}, 201, False)
    assert replay == ({"order": 1, "at": at}, 201, True)
    assert other == ({"order": 2, "at": at}, 200, False)
    assert runs == 2
    assert 55_000 < await raw_redis.pttl(f"{key_prefix}:req-1") <= 60_000  # replayed for ttl


async def test_of_50_concurrent_callers_one_runs_and_49_are_told_it_is_in_progress(
    raw_redis: RedisClient, key_prefix: str
) -> None:
    gate = asyncio.Event()
    runs = 0

    async def charge() -> str:
        nonlocal runs
        runs += 1
        await gate.wait()  # still running while every other caller asks
        return "charged"

    calls = [
        asyncio.create_task(
            kv.idempotent_execute(
                raw_redis, key="pay", compute=charge, lease=5, namespace=key_prefix
            )
        )
        for _ in range(50)
    ]
    async with asyncio.timeout(30):
        while sum(call.done() for call in calls) < 49:
            await asyncio.sleep(0.01)
    refused = [call.exception() for call in calls if call.done()]
    gate.set()
    outcomes = await asyncio.gather(*calls, return_exceptions=True)

    assert runs == 1
    assert [o for o in outcomes if isinstance(o, tuple)] == [("charged", 200, False)]
    assert len(refused) == 49
    for error in refused:
        assert isinstance(error, kv.IdempotencyInProgressError)
        assert isinstance(error, ServiceKitError)
        assert error.key == "pay"
        assert 1 <= error.retry_after <= 5  # the holder's lease ends within 5 s
    later = await kv.idempotent_execute(
        raw_redis, key="pay", compute=never_called, namespace=key_prefix
    )
    assert later == ("charged", 200, True)


async def test_50_concurrent_callers_that_wait_all_get_the_one_result(
    raw_redis: RedisClient, key_prefix: str
) -> None:
    charge = Operation(0.2)

    outcomes = await asyncio.gather(
        *(
            kv.idempotent_execute(
                raw_redis, key="pay", compute=charge, wait=30, namespace=key_prefix
            )
            for _ in range(50)
        )
    )

    assert charge.runs == 1
    assert {(body["run"], status) for body, status, _ in outcomes} == {(1, 200)}
    assert sorted(is_replay for _, _, is_replay in outcomes) == [False] + [True] * 49


async def test_a_holder_running_longer_than_its_lease_keeps_the_key(
    raw_redis: RedisClient, key_prefix: str
) -> None:
    charge = Operation(2.0)
    holder = asyncio.create_task(
        kv.idempotent_execute(raw_redis, key="pay", compute=charge, lease=0.6, namespace=key_prefix)
    )
    await asyncio.sleep(1.2)  # two leases: only renewals keep the key

    with pytest.raises(kv.IdempotencyInProgressError):
        await kv.idempotent_execute(raw_redis, key="pay", compute=charge, namespace=key_prefix)

    assert await holder == ({"run": 1}, 200, False)
    assert charge.runs == 1


async def test_a_killed_holder_keeps_the_key_until_its_lease_lapses_then_one_caller_runs(
    target_url: str, raw_redis: RedisClient, key_prefix: str
) -> None:
    started = f"{key_prefix}:started"
    holder = client_process(target_url, key_prefix, "hang")  # lease: 3 s
    try:
        async with asyncio.timeout(30):
            while not await raw_redis.exists(started):
                await asyncio.sleep(0.02)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert holder.returncode == -signal.SIGKILL

    charge = Operation()
    with pytest.raises(kv.IdempotencyInProgressError) as in_progress:
        await kv.idempotent_execute(raw_redis, key="pay", compute=charge, namespace=key_prefix)
    assert 1 <= in_progress.value.retry_after <= 3
    assert charge.runs == 0

    # The dead holder renews nothing: its lease lapses, and of the callers waiting for it
    # exactly one runs the operation; the others replay that run.
    outcomes = await asyncio.gather(
        *(
            kv.idempotent_execute(
                raw_redis, key="pay", compute=charge, wait=30, namespace=key_prefix
            )
            for _ in range(10)
        )
    )
    assert charge.runs == 1
    assert sorted(is_replay for _, _, is_replay in outcomes) == [False] + [True] * 9
    assert int(await raw_redis.get(started) or 0) == 1  # the killed holder ran it once


async def test_a_result_is_replayed_to_a_new_process(
    target_url: str, raw_redis: RedisClient, key_prefix: str
) -> None:
    first = client_process(target_url, key_prefix, "finish")
    output, _ = first.communicate(timeout=60)
    assert first.returncode == 0
    expected = {"charge": "ch_1", "at": "2024-05-01T00:00:00+00:00"}
    assert orjson.loads(output) == [expected, 201, False]

    again = client_process(target_url, key_prefix, "finish")
    output, _ = again.communicate(timeout=60)
    assert orjson.loads(output) == [expected, 201, True]

    fresh = await connect(target_url)  # and to this one's new client
    try:
        replay = await kv.idempotent_execute(
            fresh, key="pay", compute=never_called, namespace=key_prefix
        )
    finally:
        await fresh.aclose()
    assert replay == (expected, 201, True)
    assert int(await raw_redis.get(f"{key_prefix}:started") or 0) == 1


async def test_a_key_sent_with_another_payload_is_refused(
    raw_redis: RedisClient, key_prefix: str
) -> None:
    gate = asyncio.Event()

    async def charge() -> str:
        await gate.wait()
        return "charged 10"

    def call(fingerprint: bytes | str) -> asyncio.Task[tuple[object, int, bool]]:
        return asyncio.create_task(
            kv.idempotent_execute(
                raw_redis, key="pay", compute=charge, fingerprint=fingerprint,
                namespace=key_prefix,
            )
        )  # fmt: skip

    holder = call(b'{"amount": 10}')
    await asyncio.sleep(0.1)
    # While the first runs: the same payload is in progress, another one is refused.
    with pytest.raises(kv.IdempotencyInProgressError):
        await call('{"amount": 10}')  # text and its UTF-8 bytes are the same payload
    with pytest.raises(kv.IdempotencyKeyReusedError) as reused:
        await call(b'{"amount": 20}')
    assert reused.value.key == "pay"
    gate.set()
    assert await holder == ("charged 10", 200, False)

    # Once done: the same payload is replayed, another one (or none) is still refused.
    assert await call(b'{"amount": 10}') == ("charged 10", 200, True)
    with pytest.raises(kv.IdempotencyKeyReusedError):
        await call(b'{"amount": 20}')
    with pytest.raises(kv.IdempotencyKeyReusedError):
        await kv.idempotent_execute(raw_redis, key="pay", compute=charge, namespace=key_prefix)


async def test_a_failing_operation_frees_the_key_for_a_retry(
    raw_redis: RedisClient, key_prefix: str
) -> None:
    attempts = 0

    async def charge() -> str:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise ConnectionResetError("the payment provider hung up")
        return "charged"

    execute = kv.idempotent_execute
    with pytest.raises(ConnectionResetError):
        await execute(raw_redis, key="pay", compute=charge, namespace=key_prefix)
    assert await raw_redis.exists(f"{key_prefix}:pay") == 0

    assert await execute(raw_redis, key="pay", compute=charge, namespace=key_prefix) == (
        "charged",
        200,
        False,
    )
    assert await execute(raw_redis, key="pay", compute=charge, namespace=key_prefix) == (
        "charged",
        200,
        True,
    )
    assert attempts == 2


async def test_a_result_json_cannot_hold_frees_the_key(
    raw_redis: RedisClient, key_prefix: str
) -> None:
    async def charge() -> object:
        return {1: "an integer key"}

    with pytest.raises(TypeError):
        await kv.idempotent_execute(raw_redis, key="pay", compute=charge, namespace=key_prefix)
    assert await raw_redis.exists(f"{key_prefix}:pay") == 0


async def test_a_cancelled_operation_frees_the_key(raw_redis: RedisClient, key_prefix: str) -> None:
    slow = Operation(30)
    holder = asyncio.create_task(
        kv.idempotent_execute(raw_redis, key="pay", compute=slow, namespace=key_prefix)
    )
    async with asyncio.timeout(10):
        while not slow.runs:
            await asyncio.sleep(0.01)
    holder.cancel()
    with pytest.raises(asyncio.CancelledError):
        await holder

    assert await raw_redis.exists(f"{key_prefix}:pay") == 0
    quick = Operation()
    outcome = await kv.idempotent_execute(raw_redis, key="pay", compute=quick, namespace=key_prefix)
    assert outcome == ({"run": 1}, 200, False)


async def test_a_waiting_caller_runs_it_when_the_holder_fails(
    raw_redis: RedisClient, key_prefix: str
) -> None:
    async def failing() -> str:
        await asyncio.sleep(0.2)
        raise RuntimeError("declined")

    retry = Operation()
    holder = asyncio.create_task(
        kv.idempotent_execute(raw_redis, key="pay", compute=failing, namespace=key_prefix)
    )
    await asyncio.sleep(0.05)
    waiter = await kv.idempotent_execute(
        raw_redis, key="pay", compute=retry, wait=30, namespace=key_prefix
    )

    with pytest.raises(RuntimeError, match="declined"):
        await holder
    assert waiter == ({"run": 1}, 200, False)
    assert retry.runs == 1


async def test_a_holder_that_lost_its_lease_cannot_overwrite_the_next_holders_result(
    raw_redis: RedisClient, key_prefix: str
) -> None:
    second = Operation()

    async def first() -> str:
        # Our lease lapses (simulated) and another caller claims the key and finishes.
        await raw_redis.delete(f"{key_prefix}:pay")
        await kv.idempotent_execute(raw_redis, key="pay", compute=second, namespace=key_prefix)
        return "first"

    with pytest.raises(kv.IdempotencyLeaseLostError) as lost:
        await kv.idempotent_execute(raw_redis, key="pay", compute=first, namespace=key_prefix)

    assert lost.value.body == "first"  # not recorded, but not lost to the caller either
    replay = await kv.idempotent_execute(
        raw_redis, key="pay", compute=never_called, namespace=key_prefix
    )
    assert replay == ({"run": 1}, 200, True)


async def test_works_with_decoded_responses(target_url: str, key_prefix: str) -> None:
    client = await connect(target_url, decode_responses=True)
    charge = Operation()
    try:
        outcomes = [
            await kv.idempotent_execute(
                client, key="d", compute=charge, fingerprint=b"p", status_code=201,
                namespace=key_prefix,
            )
            for _ in range(2)
        ]  # fmt: skip
        with pytest.raises(kv.IdempotencyKeyReusedError):
            await kv.idempotent_execute(
                client, key="d", compute=charge, fingerprint=b"q", namespace=key_prefix
            )
    finally:
        await client.delete(f"{key_prefix}:d")
        await client.aclose()
    assert outcomes == [({"run": 1}, 201, False), ({"run": 1}, 201, True)]


async def test_a_result_stored_by_the_previous_version_is_replayed(
    raw_redis: RedisClient, key_prefix: str
) -> None:
    # Before the record was a hash, a finished result was this string (for its ttl).
    old = orjson.dumps({"status_code": 201, "body": {"order": 7}})
    await raw_redis.set(f"{key_prefix}:req", old, ex=60)

    replay = await kv.idempotent_execute(
        raw_redis, key="req", compute=never_called, namespace=key_prefix
    )

    assert replay == ({"order": 7}, 201, True)
    assert await raw_redis.get(f"{key_prefix}:req") == old
