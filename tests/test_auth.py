"""Token verification: the auth matrix (algorithms pinned by key, claims, tenants), the identity cache, JWKS."""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import json
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from arda.notifications.auth import Authenticator, Identity, JwtSettings, PublicKey, _decode_hs256
from arda.notifications.codes import ErrorCode
from arda.notifications.errors import AuthError, ConfigError

SECRET = "test-secret-0123456789-abcdefghijklmnop"  # >= 32 bytes
NOW = 1_800_000_000.0


# -- keys and tokens ----------------------------------------------------------------------------------------------


@functools.cache
def rsa_key(n: int = 0) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@functools.cache
def ec_key(n: int = 0) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(**overrides: Any) -> dict[str, Any]:
    """A valid payload (at NOW) for tenant-001; ``name=None`` drops a claim."""
    payload: dict[str, Any] = {"sub": "user-1", "exp": NOW + 3600, "tenants": ["tenant-001"]}
    payload.update(overrides)
    return {k: v for k, v in payload.items() if v is not None}


def hs256(payload: dict[str, Any], secret: str = SECRET, **headers: Any) -> str:
    return jwt.encode(payload, secret, algorithm="HS256", headers=headers or None)


def rs256(payload: dict[str, Any], key: rsa.RSAPrivateKey | None = None, kid: str | None = None) -> str:
    return jwt.encode(payload, key or rsa_key(), algorithm="RS256", headers={"kid": kid} if kid else None)


def es256(payload: dict[str, Any], key: ec.EllipticCurvePrivateKey | None = None, kid: str | None = None) -> str:
    return jwt.encode(payload, key or ec_key(), algorithm="ES256", headers={"kid": kid} if kid else None)


def hand_made(header: dict[str, Any], payload: dict[str, Any], hmac_key: bytes | None = None) -> str:
    """A token built by hand: no signature at all, or an HMAC-SHA256 with any bytes as the key."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}"
    signature = b"" if hmac_key is None else hmac.new(hmac_key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


class FakeClock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class CountingAuthenticator(Authenticator):
    """Counts the real (pyjwt) verifications, to tell a cache hit from a verification."""

    decodes = 0

    def _decode(self, token: str, key: str | PublicKey | jwt.PyJWK, alg: str) -> dict[str, Any]:
        self.decodes += 1
        return super()._decode(token, key, alg)


MakeAuth = Callable[..., CountingAuthenticator]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def make_auth(clock: FakeClock) -> AsyncIterator[MakeAuth]:
    made: list[Authenticator] = []

    def make(cache_size: int = 10_000, **settings: Any) -> CountingAuthenticator:
        auth = CountingAuthenticator(JwtSettings(**settings), clock=clock, cache_size=cache_size)
        made.append(auth)
        return auth

    yield make
    for auth in made:
        await auth.close()


async def refused(auth: Authenticator, token: str, code: ErrorCode = ErrorCode.UNAUTHORIZED) -> str:
    """Assert ``token`` is refused with ``code``; return the message."""
    with pytest.raises(AuthError) as info:
        await auth.verify(token)
    assert info.value.error_code is code, str(info.value)
    assert info.value.code == code.value
    message = str(info.value)
    assert message
    assert not token or token not in message
    return message


# -- accepted tokens ----------------------------------------------------------------------------------------------


async def test_valid_hs256(make_auth: MakeAuth) -> None:
    auth = make_auth(secret=SECRET)
    identity = await auth.verify(hs256(claims(roles=["admin"])))
    assert identity == Identity(
        user_id="user-1", tenants=frozenset({"tenant-001"}), roles=frozenset({"admin"}), expires_at=NOW + 3600
    )
    assert not identity.is_monitor


async def test_valid_rs256(make_auth: MakeAuth) -> None:
    auth = make_auth(public_key=public_pem(rsa_key()))
    identity = await auth.verify(rs256(claims(tenants=["tenant-001", "tenant-002"])))
    assert identity.user_id == "user-1"
    assert identity.tenants == {"tenant-001", "tenant-002"}
    assert identity.roles == frozenset()


async def test_valid_es256(make_auth: MakeAuth) -> None:
    auth = make_auth(public_key=public_pem(ec_key()))
    identity = await auth.verify(es256(claims()))
    assert identity.tenants == {"tenant-001"}


async def test_tenant_id_single_string_form(make_auth: MakeAuth) -> None:
    auth = make_auth(secret=SECRET)
    identity = await auth.verify(hs256(claims(tenants=None, tenantId="tenant-042")))
    assert identity.tenants == {"tenant-042"}
    assert identity.may_subscribe("tenant-042")
    assert not identity.may_subscribe("tenant-001")
    assert not identity.may_subscribe("global")


async def test_monitor_without_tenants_is_accepted_and_may_subscribe_global(make_auth: MakeAuth) -> None:
    auth = make_auth(secret=SECRET)
    identity = await auth.verify(hs256(claims(tenants=None, roles=["monitor"])))
    assert identity.is_monitor
    assert identity.tenants == frozenset()
    assert identity.may_subscribe("global")
    assert not identity.may_subscribe("tenant-001")


async def test_aud_in_token_without_configured_audience_is_accepted(make_auth: MakeAuth) -> None:
    auth = make_auth(secret=SECRET)
    identity = await auth.verify(hs256(claims(aud="some-other-service")))
    assert identity.user_id == "user-1"


async def test_configured_iss_and_aud_accepted_when_matching(make_auth: MakeAuth) -> None:
    auth = make_auth(secret=SECRET, issuer="https://idp.example", audience="arda")
    identity = await auth.verify(hs256(claims(iss="https://idp.example", aud=["other", "arda"])))
    assert identity.user_id == "user-1"


async def test_both_secret_and_public_key_each_algorithm_with_its_own_key(make_auth: MakeAuth) -> None:
    auth = make_auth(secret=SECRET, public_key=public_pem(rsa_key()))
    assert (await auth.verify(hs256(claims(sub="by-secret")))).user_id == "by-secret"
    assert (await auth.verify(rs256(claims(sub="by-key")))).user_id == "by-key"
    # ES256 is not pinned by an RSA key
    assert "not accepted" in await refused(auth, es256(claims()))
    # the secret cannot stand in for the key, nor the key's PEM for the secret
    assert "bad signature" in await refused(
        auth, hand_made({"alg": "HS256", "typ": "JWT"}, claims(), hmac_key=public_pem(rsa_key()).encode())
    )


# -- refused tokens -----------------------------------------------------------------------------------------------


async def test_missing_sub_refused(make_auth: MakeAuth) -> None:
    auth = make_auth(secret=SECRET)
    assert "'sub'" in await refused(auth, hs256(claims(sub=None)))
    assert "sub" in await refused(auth, hs256(claims(sub="")))
    assert "sub" in await refused(auth, hs256(claims(sub=42)))


async def test_missing_exp_refused(make_auth: MakeAuth) -> None:
    auth = make_auth(secret=SECRET)
    assert "'exp'" in await refused(auth, hs256(claims(exp=None)))
    assert "exp" in await refused(auth, hs256(claims(exp="tomorrow")))


async def test_expired_token_is_token_expired(make_auth: MakeAuth) -> None:
    auth = make_auth(secret=SECRET, leeway_s=30)
    message = await refused(auth, hs256(claims(exp=NOW - 31)), ErrorCode.TOKEN_EXPIRED)
    assert "expired" in message
    # the leeway is for `nbf`/`iat` only: one second past `exp` is expired (the WebSocket and HTTP alike)
    await refused(auth, hs256(claims(exp=NOW - 1)), ErrorCode.TOKEN_EXPIRED)
    await refused(auth, hs256(claims(exp=NOW)), ErrorCode.TOKEN_EXPIRED)
    assert (await auth.verify(hs256(claims(exp=NOW + 1)))).expires_at == NOW + 1


@pytest.mark.parametrize(
    ("claim", "value"),
    [("exp", 1_764_000_000_000), ("exp", 10**30), ("exp", -1), ("nbf", 1e13), ("iat", 10**20), ("iat", -5)],
)
async def test_numeric_claims_outside_a_sane_range_are_refused_whole(
    make_auth: MakeAuth, claim: str, value: float
) -> None:
    """Finding 9.7: `exp` in milliseconds (year 57,000) was accepted and then broke the reply."""
    auth = make_auth(secret=SECRET)
    message = await refused(auth, hs256(claims(**{claim: value})))
    assert claim in message
    assert "253402300799" in message
    assert auth.cache_len == 0


async def test_iat_is_kept_and_may_not_be_in_the_future(make_auth: MakeAuth) -> None:
    auth = make_auth(secret=SECRET, leeway_s=30)
    assert (await auth.verify(hs256(claims(iat=NOW - 100)))).issued_at == NOW - 100
    assert (await auth.verify(hs256(claims()))).issued_at is None
    assert "future" in await refused(auth, hs256(claims(iat=NOW + 60)))


async def test_expiry_follows_the_injected_clock(make_auth: MakeAuth, clock: FakeClock) -> None:
    auth = make_auth(secret=SECRET, leeway_s=0)
    token = hs256(claims(exp=NOW + 10))
    clock.now = NOW + 11
    await refused(auth, token, ErrorCode.TOKEN_EXPIRED)
    clock.now = NOW + 9
    assert (await auth.verify(token)).user_id == "user-1"


async def test_nbf_in_the_future_refused(make_auth: MakeAuth) -> None:
    auth = make_auth(secret=SECRET, leeway_s=30)
    assert "not yet valid" in await refused(auth, hs256(claims(nbf=NOW + 60)))
    assert (await auth.verify(hs256(claims(nbf=NOW + 20)))).user_id == "user-1"  # within the leeway
    assert "nbf" in await refused(auth, hs256(claims(nbf="soon")))


async def test_bad_signature_refused(make_auth: MakeAuth) -> None:
    auth = make_auth(secret=SECRET, public_key=public_pem(rsa_key()))
    assert "bad signature" in await refused(auth, hs256(claims(), secret="another-secret-" + "x" * 32))
    assert "bad signature" in await refused(auth, rs256(claims(), key=rsa_key(1)))
    header, _payload, signature = hs256(claims()).split(".")
    tampered = b64url(json.dumps(claims(tenants=["tenant-999"])).encode())
    assert "bad signature" in await refused(auth, f"{header}.{tampered}.{signature}")


async def test_alg_none_refused(make_auth: MakeAuth) -> None:
    auth = make_auth(secret=SECRET)
    token = hand_made({"alg": "none", "typ": "JWT"}, claims())
    assert token.endswith(".")
    assert "'none' is not accepted" in await refused(auth, token)


async def test_algorithm_confusion_refused(make_auth: MakeAuth) -> None:
    """HS256 signed with the RSA public key's PEM as the HMAC secret, against a server holding that key."""
    pem = public_pem(rsa_key())
    auth = make_auth(public_key=pem)
    token = hand_made({"alg": "HS256", "typ": "JWT"}, claims(), hmac_key=pem.encode())
    assert "'HS256' is not accepted" in await refused(auth, token)
    assert auth.decodes == 0  # refused before any cryptography


async def test_wrong_algorithm_for_the_key_type_refused(make_auth: MakeAuth) -> None:
    auth = make_auth(public_key=public_pem(ec_key()))
    assert "'RS256' is not accepted" in await refused(auth, rs256(claims()))
    assert "'HS256' is not accepted" in await refused(auth, hs256(claims()))


async def test_wrong_issuer_refused(make_auth: MakeAuth) -> None:
    auth = make_auth(secret=SECRET, issuer="https://idp.example")
    assert "issuer" in await refused(auth, hs256(claims(iss="https://evil.example")))
    assert "'iss'" in await refused(auth, hs256(claims()))


async def test_wrong_audience_refused(make_auth: MakeAuth) -> None:
    auth = make_auth(secret=SECRET, audience="arda")
    assert "audience" in await refused(auth, hs256(claims(aud="billing")))
    assert "audience" in await refused(auth, hs256(claims(aud=["billing", "reports"])))
    assert "'aud'" in await refused(auth, hs256(claims()))


async def test_missing_tenant_claim_refused(make_auth: MakeAuth) -> None:
    auth = make_auth(secret=SECRET)
    message = await refused(auth, hs256(claims(tenants=None, roles=["admin"])))
    assert message == "token has no tenants or tenantId claim"
    assert "no tenants" in await refused(auth, hs256(claims(tenants=[])))


@pytest.mark.parametrize(
    "tenant_claims",
    [
        {"tenants": ["a b"]},
        {"tenants": ["tenant-001", "global"]},
        {"tenants": [""]},
        {"tenants": [7]},
        {"tenants": "tenant-001"},
        {"tenants": None, "tenantId": "global"},
        {"tenants": None, "tenantId": "a:b"},
        {"tenants": None, "tenantId": ["tenant-001"]},
    ],
)
async def test_invalid_tenant_in_claim_refused(make_auth: MakeAuth, tenant_claims: dict[str, Any]) -> None:
    auth = make_auth(secret=SECRET)
    assert "tenant" in await refused(auth, hs256(claims(**tenant_claims, roles=["monitor"])))


async def test_roles_must_be_a_list_of_strings(make_auth: MakeAuth) -> None:
    auth = make_auth(secret=SECRET)
    assert "roles" in await refused(auth, hs256(claims(roles="monitor")))


@pytest.mark.parametrize("token", ["", "garbage", "a.b", "a.b.c", "e30.e30.", "x" * 20_000])
async def test_malformed_token_refused(make_auth: MakeAuth, token: str) -> None:
    auth = make_auth(secret=SECRET)
    assert await refused(auth, token)
    assert auth.verify_cached(token) is None


async def test_error_messages_never_contain_the_token(make_auth: MakeAuth) -> None:
    auth = make_auth(secret=SECRET, issuer="https://idp.example", audience="arda")
    ok = {"iss": "https://idp.example", "aud": "arda"}
    bad_tokens = [
        hs256(claims(**ok, exp=NOW - 3600)),
        hs256(claims(**ok), secret="wrong-secret-" + "y" * 32),
        hs256(claims(**ok, tenants=["bad tenant"])),
        hs256(claims(**ok, tenants=None)),
        hs256(claims(iss="https://idp.example", aud="other")),
        hs256(claims(**ok, sub=None)),
        hand_made({"alg": "none"}, claims(**ok)),
        hs256(claims(**ok))[:-5] + "!!!!!",
        hs256(claims(**ok))[:-60],
    ]
    for token in bad_tokens:
        with pytest.raises(AuthError) as info:
            await auth.verify(token)
        message = str(info.value)
        assert token not in message
        for part in token.split("."):
            assert len(part) < 8 or part not in message, message


# -- the cache ----------------------------------------------------------------------------------------------------


async def test_cache_hit_returns_the_same_identity_without_reverifying(make_auth: MakeAuth) -> None:
    auth = make_auth(secret=SECRET)
    token = hs256(claims())
    assert auth.verify_cached(token) is None
    first = await auth.verify(token)
    assert auth.decodes == 1
    assert auth.verify_cached(token) is first
    assert await auth.verify(token) is first
    assert auth.decodes == 1  # the second verify was a cache hit
    await auth.verify(hs256(claims(sub="user-2")))
    assert auth.decodes == 2


async def test_refused_tokens_are_not_cached(make_auth: MakeAuth) -> None:
    auth = make_auth(secret=SECRET)
    token = hs256(claims(tenants=None))
    await refused(auth, token)
    await refused(auth, token)
    assert auth.decodes == 2
    assert auth.verify_cached(token) is None
    assert auth.cache_len == 0


async def test_cached_identity_not_returned_past_exp(make_auth: MakeAuth, clock: FakeClock) -> None:
    auth = make_auth(secret=SECRET, leeway_s=0)
    token = hs256(claims(exp=NOW + 60))
    await auth.verify(token)
    clock.now = NOW + 59
    assert auth.verify_cached(token) is not None
    clock.now = NOW + 60
    assert auth.verify_cached(token) is None
    assert auth.cache_len == 0
    await refused(auth, token, ErrorCode.TOKEN_EXPIRED)


async def test_cache_is_bounded_lru(make_auth: MakeAuth) -> None:
    auth = make_auth(secret=SECRET, cache_size=2)
    one, two, three = (hs256(claims(sub=f"user-{n}")) for n in (1, 2, 3))
    for token in (one, two, three):
        await auth.verify(token)
    assert auth.cache_len == 2
    assert auth.verify_cached(one) is None  # the least recently used went first
    assert auth.verify_cached(two) is not None
    assert auth.verify_cached(three) is not None
    # a hit refreshes recency: two was touched before three, so four evicts two
    assert auth.verify_cached(three) is not None
    await auth.verify(hs256(claims(sub="user-4")))
    assert auth.verify_cached(two) is None
    assert auth.verify_cached(three) is not None


async def test_cache_holds_digests_not_tokens(make_auth: MakeAuth) -> None:
    auth = make_auth(secret=SECRET)
    token = hs256(claims())
    await auth.verify(token)
    stored = list(auth._cache)
    assert stored == [hashlib.blake2b(token.encode(), digest_size=16).digest()]


# -- settings -----------------------------------------------------------------------------------------------------


def test_settings_validate() -> None:
    with pytest.raises(ConfigError, match=r"ARDA_JWT_SECRET.*ARDA_JWT_PUBLIC_KEY.*ARDA_JWKS_URL"):
        JwtSettings().validate()
    with pytest.raises(ConfigError, match="ARDA_JWT_SECRET") as info:
        JwtSettings(secret="short-secret").validate()
    assert "short-secret" not in str(info.value)
    with pytest.raises(ConfigError, match="ARDA_JWT_PUBLIC_KEY"):
        JwtSettings(public_key="-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n").validate()
    with pytest.raises(ConfigError, match="ARDA_JWT_PUBLIC_KEY"):
        JwtSettings(public_key=public_pem(ec.generate_private_key(ec.SECP384R1()))).validate()
    with pytest.raises(ConfigError, match="ARDA_JWKS_URL"):
        JwtSettings(jwks_url="file:///etc/passwd").validate()
    with pytest.raises(ConfigError):
        Authenticator(JwtSettings())
    settings = JwtSettings(secret=SECRET)
    assert settings.validate() is settings
    assert JwtSettings(public_key=public_pem(rsa_key()).replace("\n", "\\n")).validate()


# -- JWKS ---------------------------------------------------------------------------------------------------------


def jwk(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, kid: str) -> dict[str, Any]:
    if isinstance(key, rsa.RSAPrivateKey):
        data = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    else:
        data = jwt.algorithms.ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {**data, "kid": kid, "use": "sig"}


class JwksServer:
    """A real HTTP server on 127.0.0.1 serving ``keys`` as a JWKS document, counting requests."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.requests = 0
        self.delay = 0.0
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        return web.json_response({"keys": self.keys})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/.well-known/jwks.json", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        self.url = f"http://127.0.0.1:{port}/.well-known/jwks.json"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def jwks() -> AsyncIterator[JwksServer]:
    server = JwksServer()
    server.keys = [jwk(rsa_key(), "rsa-a"), jwk(ec_key(), "ec-a")]
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_jwks_known_kid_verifies(make_auth: MakeAuth, jwks: JwksServer) -> None:
    auth = make_auth(jwks_url=jwks.url)
    assert (await auth.verify(rs256(claims(sub="rsa-user"), kid="rsa-a"))).user_id == "rsa-user"
    assert (await auth.verify(es256(claims(sub="ec-user"), kid="ec-a"))).user_id == "ec-user"
    assert jwks.requests == 1  # fetched once, lazily, and kept by kid


async def test_jwks_token_with_a_key_not_its_kid_refused(make_auth: MakeAuth, jwks: JwksServer) -> None:
    auth = make_auth(jwks_url=jwks.url)
    assert "bad signature" in await refused(auth, rs256(claims(), key=rsa_key(1), kid="rsa-a"))
    assert "not match" in await refused(auth, es256(claims(), kid="rsa-a"))  # ES256 token, RSA key's kid
    assert "no kid" in await refused(auth, rs256(claims()))
    assert "not accepted" in await refused(auth, hs256(claims(), kid="rsa-a"))


async def test_jwks_rotation_triggers_exactly_one_refetch(
    make_auth: MakeAuth, jwks: JwksServer, clock: FakeClock
) -> None:
    auth = make_auth(jwks_url=jwks.url, jwks_refetch_min_interval_s=30)
    await auth.verify(rs256(claims(), kid="rsa-a"))
    assert jwks.requests == 1
    jwks.keys = [jwk(rsa_key(1), "rsa-b")]  # the issuer rotates its key
    clock.now += 31
    identity = await auth.verify(rs256(claims(sub="rotated"), key=rsa_key(1), kid="rsa-b"))
    assert identity.user_id == "rotated"
    assert jwks.requests == 2
    await auth.verify(rs256(claims(sub="rotated-2"), key=rsa_key(1), kid="rsa-b"))
    assert jwks.requests == 2
    # the rotated-out key is gone with the refetch (a fresh token under it is refused)
    assert "rsa-a" in await refused(auth, rs256(claims(sub="old-key"), kid="rsa-a"))
    assert jwks.requests == 2  # within the interval: no new request


async def test_jwks_burst_with_unknown_kid_makes_one_request(
    make_auth: MakeAuth, jwks: JwksServer, clock: FakeClock
) -> None:
    auth = make_auth(jwks_url=jwks.url)
    await auth.verify(rs256(claims(), kid="rsa-a"))
    assert jwks.requests == 1
    clock.now += 31
    jwks.delay = 0.05  # keep the fetch in flight while the burst arrives
    tokens = [rs256(claims(sub=f"user-{n}"), key=rsa_key(1), kid="unknown") for n in range(20)]
    results = await asyncio.gather(*(auth.verify(t) for t in tokens), return_exceptions=True)
    assert jwks.requests == 2
    assert all(isinstance(r, AuthError) and r.error_code is ErrorCode.UNAUTHORIZED for r in results), results
    assert "unknown kid 'unknown'" in str(results[0])
    assert jwks.url not in str(results[0])  # the internal JWKS URL is never shown to a client (finding 9.11)


async def test_jwks_burst_after_rotation_shares_one_fetch(make_auth: MakeAuth, jwks: JwksServer) -> None:
    jwks.keys = [jwk(rsa_key(1), "rsa-b")]
    jwks.delay = 0.05
    auth = make_auth(jwks_url=jwks.url)
    tokens = [rs256(claims(sub=f"user-{n}"), key=rsa_key(1), kid="rsa-b") for n in range(20)]
    identities = await asyncio.gather(*(auth.verify(t) for t in tokens))
    assert [i.user_id for i in identities] == [f"user-{n}" for n in range(20)]
    assert jwks.requests == 1


async def test_jwks_second_unknown_kid_within_interval_makes_no_request(
    make_auth: MakeAuth, jwks: JwksServer, clock: FakeClock
) -> None:
    auth = make_auth(jwks_url=jwks.url, jwks_refetch_min_interval_s=30)
    await auth.verify(rs256(claims(), kid="rsa-a"))
    clock.now += 31
    await refused(auth, rs256(claims(), kid="unknown-1"))
    assert jwks.requests == 2
    clock.now += 10
    message = await refused(auth, rs256(claims(), kid="unknown-2"))
    assert "unknown kid 'unknown-2'" in message
    assert jwks.requests == 2
    clock.now += 21  # the interval has passed: the next unknown kid may refetch
    await refused(auth, rs256(claims(), kid="unknown-3"))
    assert jwks.requests == 3


async def test_jwks_server_down_is_unauthorized_with_a_clear_message(
    make_auth: MakeAuth, closed_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"http://127.0.0.1:{closed_port}/jwks.json"
    auth = make_auth(jwks_url=url, jwks_timeout_s=2)
    message = await refused(auth, rs256(claims(), kid="rsa-a"))
    assert "key set is unavailable" in message
    # the client is not told the internal URL or the cause (finding 9.11); the operator's log is
    assert url not in message
    assert "unreachable" not in message
    (record,) = [r for r in caplog.records if r.getMessage() == "JWKS fetch failed"]
    assert url in str(record.__dict__)
    assert "unreachable" in str(record.__dict__)


async def test_jwks_outage_keeps_the_keys_already_fetched(
    make_auth: MakeAuth, jwks: JwksServer, clock: FakeClock
) -> None:
    auth = make_auth(jwks_url=jwks.url)
    await auth.verify(rs256(claims(), kid="rsa-a"))
    await jwks.stop()
    clock.now += 31
    assert "unavailable" in await refused(auth, rs256(claims(), kid="rsa-new"))
    # the keys fetched before the outage still verify
    assert (await auth.verify(rs256(claims(sub="still-ok"), kid="rsa-a"))).user_id == "still-ok"


async def test_close_closes_the_session(jwks: JwksServer, clock: FakeClock) -> None:
    auth = Authenticator(JwtSettings(jwks_url=jwks.url), clock=clock)
    await auth.verify(rs256(claims(), kid="rsa-a"))
    session = auth._session
    assert session is not None
    assert not session.closed
    await auth.close()
    assert session.closed
    await auth.close()  # idempotent


# -- the HS256 fast path against pyjwt (differential) -------------------------------------------------------
_claim_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.text(max_size=12),
    st.lists(st.text(max_size=5), max_size=3),
)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _signed(header: dict[str, Any], payload: dict[str, Any], secret: str) -> str:
    """A JWS made by hand: any header and payload (pyjwt refuses to encode some a client may still send)."""
    signing_input = _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(payload).encode())
    signature = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + _b64(signature)


@settings(max_examples=1000, deadline=None)
@given(
    st.dictionaries(st.sampled_from(["sub", "exp", "iss", "aud", "jti", "nbf", "x"]), _claim_values, max_size=7),
    st.sampled_from([None, "arda"]),
    st.sampled_from([None, "https://id"]),
    st.sampled_from(["none", "flip", "truncate", "resign", "crit"]),
)
def test_the_hs256_fast_path_agrees_with_pyjwt(
    payload: dict[str, Any], audience: str | None, issuer: str | None, tamper: str
) -> None:
    header: dict[str, Any] = {"alg": "HS256", "typ": "JWT"}
    if tamper == "crit":
        header.update(crit=["b64"], b64=True)
    token = _signed(header, payload, SECRET if tamper != "resign" else SECRET + "x")
    if tamper == "flip":
        body = token.split(".")
        body[1] = body[1][:-1] + ("A" if body[1][-1] != "A" else "B")
        token = ".".join(body)
    elif tamper == "truncate":
        token = token[:-3]
    options: Any = {
        "require": ["exp", "sub"],
        "verify_exp": False,
        "verify_nbf": False,
        "verify_iat": False,
        "verify_iss": issuer is not None,
        "verify_aud": audience is not None,
        "verify_sub": True,
    }
    try:
        expected: dict[str, Any] | None = jwt.decode(
            token, SECRET, algorithms=["HS256"], options=options, audience=audience, issuer=issuer
        )
    except (jwt.PyJWTError, ValueError, TypeError):
        expected = None
    try:
        got: dict[str, Any] | None = _decode_hs256(token, SECRET.encode(), issuer, audience)
    except AuthError:
        got = None
    if tamper == "crit":
        assert got is None  # stricter than pyjwt on purpose: no critical header extension is accepted
    else:
        assert got == expected
