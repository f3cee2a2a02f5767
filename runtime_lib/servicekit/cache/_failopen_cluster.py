"""The fail-open cache client for a Redis Cluster: one circuit breaker per node.

A cluster fails a shard at a time, so the cache does too. Each cache command is routed
by its key's hash slot to the node that serves it, and each node has its own breaker:
when a primary dies, only the keys of its slots become misses (without touching the
network while its breaker is open); every other key keeps hitting. The node's probe
re-reads the slot map before it pings, so the breaker also closes when a replica has
taken the slots over: the keys then go to the new primary, whose breaker is closed.

Multi-key cache commands (``MGET``, ``DEL``, ``UNLINK``, ``EXISTS``) are split by slot, so
cache keys need no hash tags and spread over every shard. A topology that cannot be read
at all (every seed down, ``CLUSTERDOWN``) opens one more breaker, for the whole client.
"""

from __future__ import annotations

import asyncio
import functools
from typing import TYPE_CHECKING, Any

from redis.exceptions import ClusterDownError, RedisClusterException, RedisError

from servicekit.cache._breaker import Breaker
from servicekit.cache._failopen import UNAVAILABLE, fallback_for
from servicekit.redis_clients import ReadyCluster

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from redis.typing import EncodableT

# Commands whose keys are all the arguments after the name; split by slot.
_MULTI_KEY = frozenset({"MGET", "DEL", "UNLINK", "EXISTS"})


class FailOpenRedisCluster(ReadyCluster):
    """``redis.asyncio.cluster.RedisCluster`` with fail-open cache commands, per node.

    The same contract as :class:`~servicekit.cache.FailOpenRedis` (which commands fail
    open and to what), with breakers per node instead of one per server.
    """

    def __init__(
        self,
        *args: Any,
        probe_interval: float = 0.5,
        log_interval: float = 30.0,
        name: str = "servicekit.cache",
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._name = name
        self._probe_interval = probe_interval
        self._log_interval = log_interval
        self._breakers: dict[str, Breaker] = {}
        self.breaker = Breaker(
            self._probe_topology,
            probe_interval=probe_interval,
            log_interval=log_interval,
            name=f"{name} (cluster topology)",
        )

    def node_breaker(self, node_name: str) -> Breaker:
        """The breaker of one node (``host:port``), created on first use."""
        breaker = self._breakers.get(node_name)
        if breaker is None:
            breaker = Breaker(
                functools.partial(self._probe_node, node_name),
                probe_interval=self._probe_interval,
                log_interval=self._log_interval,
                name=f"{self._name} ({node_name})",
            )
            self._breakers[node_name] = breaker
        return breaker

    async def _refresh(self) -> None:
        self._initialize = True
        await self.initialize()

    async def _probe_topology(self) -> None:
        await self._refresh()

    async def _probe_node(self, node_name: str) -> None:
        # Re-read the slot map first: after a failover the node serves no slot any more,
        # its keys go to the promoted replica, and there is nothing left to wait for.
        await self._refresh()
        owners = {nodes[0].name for nodes in self.nodes_manager.slots_cache.values() if nodes}
        node = self.get_node(node_name=node_name)
        if node_name not in owners or node is None:
            return
        # Idle connections to a node that went away are dead: drop them before pinging
        # (redis-py >= 7; older versions reconnect on the failed command instead).
        drop_idle = getattr(node, "disconnect_free_connections", None)
        if drop_idle is not None:
            await drop_idle()
        await node.execute_command("PING")

    async def execute_command(self, *args: EncodableT, **kwargs: Any) -> Any:
        fallback = fallback_for(args)
        if fallback is None or kwargs.get("target_nodes") is not None:
            return await super().execute_command(*args, **kwargs)
        if self.breaker.is_open:
            return fallback(args)
        if self._initialize:
            try:
                await self.initialize()
            except (*UNAVAILABLE, RedisError, RedisClusterException) as exc:
                self.breaker.record_failure(exc, trip=True)
                return fallback(args)
        if len(args) < 2:  # PING: no key, no shard; any node answers for the cluster
            return await self._attempt(None, args, fallback, kwargs)
        if args[0] not in _MULTI_KEY or len(args) == 2:
            return await self._attempt(self.keyslot(args[1]), args, fallback, kwargs)
        return await self._split(args, fallback, kwargs)

    async def _split(
        self,
        args: Sequence[EncodableT],
        fallback: Callable[[tuple[Any, ...]], Any],
        kwargs: dict[str, Any],
    ) -> Any:
        command, keys = args[0], args[1:]
        by_slot: dict[int, list[int]] = {}
        for position, key in enumerate(keys):
            by_slot.setdefault(self.keyslot(key), []).append(position)
        replies = await asyncio.gather(
            *(
                self._attempt(
                    slot, (command, *(keys[i] for i in positions)), fallback, dict(kwargs)
                )
                for slot, positions in by_slot.items()
            )
        )
        if command != "MGET":
            return sum(replies)
        values: list[Any] = [None] * len(keys)
        for positions, reply in zip(by_slot.values(), replies, strict=True):
            for position, value in zip(positions, reply, strict=True):
                values[position] = value
        return values

    async def _attempt(
        self,
        slot: int | None,
        args: tuple[Any, ...],
        fallback: Callable[[tuple[Any, ...]], Any],
        kwargs: dict[str, Any],
    ) -> Any:
        breaker = self.breaker
        if slot is not None:
            try:
                breaker = self.node_breaker(self.nodes_manager.get_node_from_slot(slot).name)
            except RedisClusterException as exc:  # the slot has no node: a topology problem
                self.breaker.record_failure(exc, trip=True)
                return fallback(args)
            if breaker.is_open:
                return fallback(args)
        try:
            return await super().execute_command(*args, **kwargs)
        except UNAVAILABLE as exc:
            failed = getattr(exc, "last_failed_node_name", None)
            (self.node_breaker(failed) if failed else breaker).record_failure(exc, trip=True)
        except (ClusterDownError, RedisClusterException) as exc:
            # The cluster is failing over or lost a shard: wait for the topology probe.
            self.breaker.record_failure(exc, trip=True)
        except RedisError as exc:
            breaker.record_failure(exc, trip=False)
        return fallback(args)

    def report(self, exc: BaseException) -> None:
        """Log a non-availability problem (e.g. an undecodable value), rate-limited."""
        self.breaker.record_failure(exc, trip=False)

    async def aclose(self) -> None:
        for breaker in (self.breaker, *self._breakers.values()):
            await breaker.aclose()
        await super().aclose()
