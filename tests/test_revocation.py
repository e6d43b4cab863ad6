"""Revocation (`POST /v1/revocations`): a user's connections closed with 4009 on every instance, and their tokens
issued until then refused — everywhere, or for one tenant — while a token issued later works."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

from arda.events import Revocation
from arda.notifications.auth import Identity
from arda.notifications.revocations import Revocations
from conftest import order
from ws_client import Running, running_service, token

NOW = 1_800_000_000.0


def identity(user: str = "u-1", tenants: tuple[str, ...] = ("t-a", "t-b"), iat: float | None = NOW - 60) -> Identity:
    return Identity(user, frozenset(tenants), frozenset(), NOW + 3600, iat)


def test_what_a_revocation_takes_from_an_identity() -> None:
    r = Revocations()
    old, new, unknown_age = identity(), identity(iat=NOW + 1), identity(iat=None)
    assert r.admit(old) is old
    r.add(Revocation("u-1", "t-a", NOW))
    assert r.admit(old) == identity(tenants=("t-b",))  # that tenant only
    assert r.admit(new) is new  # issued later: untouched
    assert r.admit(identity(tenants=("t-a",))) is None  # nothing left
    assert r.admit(unknown_age) == identity(tenants=("t-b",), iat=None)  # no iat: cannot show it is newer
    assert r.admit(identity("u-2")) == identity("u-2")
    r.add(Revocation("u-1", None, NOW))
    assert r.admit(old) is None
    assert r.admit(new) is new
    r.add(Revocation("u-1", None, NOW - 100))  # an older one changes nothing
    assert r.admit(identity(iat=NOW - 50)) is None
    assert len(r) == 2
    assert r.applies(Revocation("u-1", "t-a", NOW), old)
    assert not r.applies(Revocation("u-1", "t-c", NOW), old)
    assert not r.applies(Revocation("u-1", None, NOW), new)
    assert not r.applies(Revocation("u-2", None, NOW), old)


async def revoke(svc: Running, **body: str) -> dict[str, str]:
    status, reply, _ = await svc.http("POST", "/v1/revocations", body=body)
    assert status == 202, reply
    return dict(reply)


async def test_revocation_closes_the_users_connections_on_every_instance(redis_url: str, tmp_path: Path) -> None:
    async with running_service(redis_url, tmp_path / "a") as a, running_service(redis_url, tmp_path / "b") as b:
        old = token("u-1", ["tenant-001"])
        async with a.client() as on_a, b.client() as on_b, b.user("u-2") as bystander:
            for c in (on_a, on_b):
                await c.send("authenticate", {"token": old})
                await c.expect("authenticated")
                await c.subscribe()
            await bystander.subscribe()
            started = time.monotonic()
            reply = await revoke(a, userId="u-1")
            assert reply["userId"] == "u-1"
            assert reply["tenantId"] is None
            assert reply["revokedAt"].endswith("Z")
            assert await on_a.closed_with() == 4009
            assert await on_b.closed_with() == 4009
            assert time.monotonic() - started < 2.0
            (published,) = await b.publish(order())
            assert (await bystander.notifications(1))[0]["eventId"] == published["id"]  # others untouched
        for svc in (a, b):  # the old token (cached, verified before) is refused on both instances
            async with svc.client() as again:
                await again.send("authenticate", {"token": old}, "a")
                err = await again.expect("error")
                assert (err["payload"]["code"], err["messageId"]) == ("unauthorized", "a")
                assert "revoked" in err["payload"]["message"]
                assert await again.closed_with() == 4001
        status, body, _ = await a.http("GET", "/v1/tenants/tenant-001/events", auth=old)
        assert (status, body["code"]) == (401, "unauthorized")
        fresh = token("u-1", ["tenant-001"], iat=int(time.time()) + 2)  # issued after the revocation
        async with b.client() as later:
            await later.send("authenticate", {"token": fresh})
            assert (await later.expect("authenticated"))["payload"]["userId"] == "u-1"
    # an instance started afterwards knows it too
    async with running_service(redis_url, tmp_path / "c") as c, c.client() as late:
        await late.send("authenticate", {"token": old})
        assert (await late.expect("error"))["payload"]["code"] == "unauthorized"


async def test_a_revocation_for_one_tenant_takes_only_that_tenant(tmp_path: Path) -> None:
    async with running_service(f"memory://rev-{uuid.uuid4().hex}", tmp_path) as svc:
        both = token("u-1", ["tenant-a", "tenant-b"])
        async with svc.client() as c, svc.user("u-1", ["tenant-b"], iat=int(time.time()) + 2) as newer:
            await c.send("authenticate", {"token": both})
            await c.expect("authenticated")
            await revoke(svc, userId="u-1", tenantId="tenant-a")
            assert await c.closed_with() == 4009
            await newer.send("ping", None, "p")  # a token without tenant-a is not touched
            assert (await newer.expect("pong"))["messageId"] == "p"
        async with svc.client() as again:
            await again.send("authenticate", {"token": both})
            auth = await again.expect("authenticated")
            assert auth["payload"]["tenants"] == ["tenant-b"]
            await again.send("subscribe", {"tenantId": "tenant-a"}, "s")
            assert (await again.expect("error"))["payload"]["code"] == "forbidden"
            assert (await again.subscribe("tenant-b"))["tenantId"] == "tenant-b"


async def test_revocation_requests_are_checked(tmp_path: Path) -> None:
    async with running_service(f"memory://rev-{uuid.uuid4().hex}", tmp_path) as svc:
        for body, status in (
            ({}, 422),
            ({"userId": ""}, 422),
            ({"userId": "u-1", "tenantId": "bad tenant"}, 422),
            ({"userId": "u-1", "tenantId": "global"}, 422),
            ({"userId": "u-1", "extra": 1}, 422),
        ):
            got, reply, _ = await svc.http("POST", "/v1/revocations", body=body)
            assert got == status, (body, reply)
        got, _, _ = await svc.http("POST", "/v1/revocations", body={"userId": "u-1"}, auth="wrong")
        assert got == 401
        assert await svc.service.bus.revocations() == []
        await asyncio.sleep(0)
