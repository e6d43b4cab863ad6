"""Event bus benchmark: publish throughput (history on) and subscriber receive rate, against a private
redis-server, side by side with plain redis-py doing the nearest equivalent (no history, no validation); then
one Redis against a 3-primary Redis Cluster for the same many-tenant load, with the Redis CPU each node spent.

Run: ``make bench-bus`` (or ``.venv/bin/python bench/bus.py [--quick] [--no-cluster]``). Prints a table and one
JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import platform
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis
import redis.asyncio as aioredis

from arda.events import AnyEvent, EventBus, OrderCreated, default_registry
from arda.events.wire import frame_with_position
from arda.testing.cluster import ClusterSetup
from arda.testing.redis_server import RedisServer

TENANT = "tenant-001"


def make_event(n: int) -> OrderCreated:
    # ~300 bytes on the wire, like the notification benchmarks
    return OrderCreated(
        tenant_id=TENANT,
        order_id=f"ord-{n}",
        order_number=f"PO-{n}",
        supplier_name="Acme Fasteners GmbH",
        loop_id="loop-456",
        total_amount=129.5,
        currency="EUR",
        user_id="buyer-17",
    )


async def timed(label: str, count: int, fn: Callable[[], Awaitable[None]]) -> dict[str, Any]:
    started = time.perf_counter()
    await fn()
    elapsed = time.perf_counter() - started
    print(f"  {label:<58} {count / elapsed:>12,.0f} events/s  ({count:,} in {elapsed:.2f} s)", flush=True)
    return _row(label, count, elapsed)


def _row(name: str, count: int, elapsed: float) -> dict[str, Any]:
    return {"name": name, "events": count, "seconds": round(elapsed, 3), "per_second": round(count / elapsed)}


async def publish_benchmarks(url: str, scale: int) -> list[dict[str, Any]]:
    results = []
    async with EventBus(url) as bus:
        n_seq = 2_000 * scale

        async def sequential() -> None:
            for n in range(n_seq):
                await bus.publish(make_event(n))

        results.append(await timed("arda publish(), one await at a time", n_seq, sequential))

        n_conc, workers = 20_000 * scale, 200

        async def concurrent() -> None:
            async def worker(w: int) -> None:
                for n in range(w, n_conc, workers):
                    await bus.publish(make_event(n))

            await asyncio.gather(*(worker(w) for w in range(workers)))

        results.append(await timed(f"arda publish(), {workers} concurrent publishers", n_conc, concurrent))

        n_many = 40_000 * scale
        batch = [make_event(n) for n in range(1000)]

        async def many() -> None:
            for _ in range(n_many // 1000):
                await bus.publish_many([OrderCreated(**_fields(e)) for e in batch])

        results.append(await timed("arda publish_many(), 1,000 per call", n_many, many))

        async def many_concurrent() -> None:
            async def worker() -> None:
                for _ in range(n_many // 4000):
                    await bus.publish_many([OrderCreated(**_fields(e)) for e in batch])

            await asyncio.gather(*(worker() for _ in range(4)))

        results.append(await timed("arda publish_many(), 1,000 per call, 4 concurrent", n_many, many_concurrent))

    client = aioredis.Redis.from_url(url)
    payload = default_registry.prepare(make_event(0))[1]

    async def baseline_seq() -> None:
        for _ in range(n_seq):
            await client.publish("bench:plain", payload)

    results.append(await timed("peer: redis-py PUBLISH, one await at a time (no history)", n_seq, baseline_seq))

    async def baseline_pipeline() -> None:
        for _ in range(n_many // 1000):
            async with client.pipeline(transaction=False) as pipe:
                for _ in range(1000):
                    pipe.publish("bench:plain", payload)
                await pipe.execute()

    results.append(await timed("peer: redis-py pipeline of 1,000 PUBLISH (no history)", n_many, baseline_pipeline))
    await client.aclose()
    return results


def _fields(event: OrderCreated) -> dict[str, Any]:
    # a fresh event (new id) each time, as a real publisher would send
    return {
        "tenant_id": event.tenant_id,
        "order_id": event.order_id,
        "order_number": event.order_number,
        "supplier_name": event.supplier_name,
        "loop_id": event.loop_id,
        "total_amount": event.total_amount,
        "currency": event.currency,
        "user_id": event.user_id,
    }


def flood(port: int, count: int, ready: Any) -> None:
    """Another process: PUBLISH pre-framed events as fast as Redis takes them (pipelines of 1,000)."""
    client = redis.Redis(port=port)
    payload = frame_with_position("1-0", default_registry.prepare(make_event(0))[1])
    ready.wait()
    for _ in range(count // 1000):
        pipe = client.pipeline(transaction=False)
        for _ in range(1000):
            pipe.publish(f"arda:events:{TENANT}", payload)
        pipe.execute()
    pipe = client.pipeline(transaction=False)
    pipe.publish(f"arda:events:{TENANT}", b"STOP")
    pipe.execute()


async def receive_benchmarks(server: RedisServer, scale: int) -> list[dict[str, Any]]:
    results = []
    count = 200_000 * scale
    ctx = mp.get_context("spawn")

    # arda: full path — parse, validate, route, one sync handler
    async with EventBus(server.url) as bus:
        done = asyncio.Event()
        got = 0

        def handler(event: AnyEvent) -> None:
            nonlocal got
            got += 1
            if got == count:
                done.set()

        bus.on_gap = lambda gap: done.set()  # a loss ends the run: it is reported below

        await bus.subscribe_tenant(TENANT, handler)
        ready = ctx.Event()
        proc = ctx.Process(target=flood, args=(server.port, count, ready))
        proc.start()
        await asyncio.sleep(0.5)
        started = time.perf_counter()
        ready.set()
        await asyncio.wait_for(done.wait(), 120)
        elapsed = time.perf_counter() - started
        if got < count:
            print(f"  arda subscriber: LOST events, got {got:,} of {count:,}; stats: {bus.stats}")
        proc.join()
        rate = got / elapsed
        print(f"  {'arda subscriber: decode + validate + one handler':<58} {rate:>12,.0f} events/s  ({got:,})")
        results.append(_row("arda subscriber", got, elapsed))

    # peer: redis-py PubSub.listen() (hiredis), counting raw messages, no decoding
    client = aioredis.Redis.from_url(server.url)
    pubsub = client.pubsub()
    await pubsub.subscribe(f"arda:events:{TENANT}")
    ready = ctx.Event()
    proc = ctx.Process(target=flood, args=(server.port, count, ready))
    proc.start()
    await asyncio.sleep(0.5)
    started = time.perf_counter()
    ready.set()
    seen = 0
    async with asyncio.timeout(120):
        async for message in pubsub.listen():
            if message["type"] == "message":
                if message["data"] == b"STOP":
                    break
                seen += 1
    elapsed = time.perf_counter() - started
    proc.join()
    rate = seen / elapsed
    print(f"  {'peer: redis-py PubSub.listen(), raw messages, no decoding':<58} {rate:>12,.0f} events/s  ({seen:,})")
    results.append(_row("redis-py PubSub.listen", seen, elapsed))
    await pubsub.aclose()  # type: ignore[no-untyped-call]
    await client.aclose()
    return results


def _redis_cpu(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def _spread_load(bus: EventBus, total: int, tenants: int) -> None:
    """``total`` events over ``tenants`` tenants, 500 per publish_many, 4 callers at once."""

    async def worker(w: int) -> None:
        for start in range(w * 500, total, 4 * 500):
            await bus.publish_many(
                [
                    OrderCreated(**{**_fields(make_event(n)), "tenant_id": f"tenant-{n % tenants:03d}"})
                    for n in range(start, min(start + 500, total))
                ]
            )

    await asyncio.gather(*(worker(w) for w in range(4)))


async def cluster_benchmarks(scale: int) -> list[dict[str, Any]]:
    """The same many-tenant load on one Redis and on a 3-primary cluster (no replicas): stored events/s, and the
    Redis CPU per event on each node — on 2 cores the rate is bounded by the machine; the per-node CPU shows that
    the work is split."""
    total, tenants = 20_000 * scale, 200
    results = []
    single = RedisServer().start()
    try:
        before = _redis_cpu(single.client())
        async with EventBus(single.url) as bus:
            row = await timed(
                f"one Redis: publish_many over {tenants} tenants", total, lambda: _spread_load(bus, total, tenants)
            )
        used = _redis_cpu(single.client()) - before
        print(f"    Redis CPU: {used:.2f} s ({used / total * 1e6:.1f} µs per event)")
        results.append({**row, "redis_cpu_s": [round(used, 3)]})
    finally:
        single.close()
    with ClusterSetup(primaries=3, replicas=0) as setup:
        primaries = setup.primaries()
        before_nodes = [_redis_cpu(setup.client(n)) for n in primaries]
        async with EventBus(setup.url) as bus:  # redis+cluster://
            row = await timed(
                f"cluster, 3 primaries: publish_many over {tenants} tenants",
                total,
                lambda: _spread_load(bus, total, tenants),
            )
        used_nodes = [_redis_cpu(setup.client(n)) - b for n, b in zip(primaries, before_nodes, strict=True)]
        shares = ", ".join(f"{u:.2f} s ({u / total * 1e6:.1f} µs/event)" for u in used_nodes)
        print(f"    Redis CPU per primary: {shares}; sum {sum(used_nodes) / total * 1e6:.1f} µs per event")
        results.append({**row, "redis_cpu_s": [round(u, 3) for u in used_nodes]})
    return results


async def main(quick: bool, cluster: bool = True) -> None:
    scale = 1 if quick else 3
    server = RedisServer().start()
    server.client().config_set("client-output-buffer-limit", "pubsub 256mb 64mb 60")
    version = server.client().info("server")["redis_version"]
    print(f"arda bus benchmark — Python {platform.python_version()}, redis-server {version}, {mp.cpu_count()} cores")
    try:
        print("publish (history on, idempotency on):")
        pub = await publish_benchmarks(server.url, scale)
        server.client().flushall()
        print("receive (a separate process floods PUBLISH; all on this machine):")
        rec = await receive_benchmarks(server, scale)
    finally:
        server.close()
    clu: list[dict[str, Any]] = []
    if cluster:
        print("one Redis against a Redis Cluster (the same load; Redis CPU from INFO cpu):")
        clu = await cluster_benchmarks(scale)
    results = pub + rec + clu
    print(json.dumps({"benchmark": "bus", "python": platform.python_version(), "redis": version, "results": results}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smaller counts")
    parser.add_argument("--no-cluster", action="store_true", help="skip one Redis against a Redis Cluster")
    args = parser.parse_args()
    asyncio.run(main(args.quick, cluster=not args.no_cluster))
    sys.exit(0)
