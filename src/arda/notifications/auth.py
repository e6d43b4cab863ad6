"""Token verification for the notification service: a JWT in, an :class:`Identity` out.

What is accepted:

* A signed JWT whose algorithm is pinned by the configured key, never by the token: ``HS256`` only with the
  shared secret (``ARDA_JWT_SECRET``, at least 32 bytes); ``RS256`` with an RSA public key and ``ES256`` with
  an EC P-256 public key (``ARDA_JWT_PUBLIC_KEY``, PEM); ``RS256``/``ES256`` with the key of the token's
  ``kid`` in a JWKS document (``ARDA_JWKS_URL``). When a secret and a public key are both configured, each
  algorithm verifies only with its own key. ``alg: none``, any other algorithm, and a token whose ``alg``
  names a key type that is not configured (algorithm confusion: ``HS256`` signed with an RSA public key's PEM)
  are refused.
* Claims: ``sub`` (non-empty string) and ``exp`` are required. ``exp``, ``nbf`` and ``iat`` must be unix
  seconds between 0 and :data:`MAX_TIMESTAMP` (year 9999) or the token is refused whole. Against the injected
  clock: the token is expired once ``exp`` is reached (no leeway: one rule for every entry point); ``nbf`` and
  ``iat`` may be up to ``leeway_s`` in the future (the issuer's clock may run ahead). ``iss`` must equal
  ``ARDA_JWT_ISSUER`` and ``aud`` must contain ``ARDA_JWT_AUDIENCE`` when those are set (an ``aud`` in the
  token with no audience configured is fine).
  Tenants come from ``tenants`` (list of strings) and/or ``tenantId`` (one string); each must be a valid,
  non-reserved tenant id. A token with no tenant is refused unless its ``roles`` contain ``"monitor"``.
* Errors are :class:`~arda.notifications.errors.AuthError`: ``token_expired`` when ``exp`` has passed,
  ``unauthorized`` (with the reason) for everything else. Messages never contain the token.

Caching: a verified identity is kept until its ``exp`` in a bounded LRU keyed by a 16-byte BLAKE2b digest of
the token (the cache never holds tokens). :meth:`Authenticator.verify` consults it first, and
:meth:`Authenticator.verify_cached` is the synchronous fast path. A cached identity stays valid until ``exp``
even if its signing key is later removed from the JWKS.

JWKS: fetched lazily with one :class:`aiohttp.ClientSession` (timeout ``jwks_timeout_s``), keys kept by
``kid``. An unknown ``kid`` triggers a refetch at most once per ``jwks_refetch_min_interval_s``; concurrent
verifications share one in-flight fetch. A refetch replaces the key set (rotated-out keys are dropped); a
failed fetch keeps the previous keys. Verification itself is pure CPU (~100 µs) and never does I/O.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeGuard

import aiohttp
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from jwt.exceptions import InvalidSubjectError
from jwt.types import Options

from .. import logs
from ..events import jsonlimits
from ..events.errors import InvalidTenantError
from ..events.models import validate_tenant_id
from .codes import ErrorCode
from .errors import AuthError, ConfigError

__all__ = ["Authenticator", "Identity", "JwtSettings"]

log = logging.getLogger("arda.notifications.auth")

MONITOR_ROLE: Final = "monitor"
GLOBAL_TENANT: Final = "global"
HS256: Final = "HS256"
RS256: Final = "RS256"
ES256: Final = "ES256"
#: Algorithms a JWKS key may carry; keys for anything else (``oct``/HS256 included) are ignored.
JWKS_ALGORITHMS: Final = frozenset({RS256, ES256})
MIN_SECRET_BYTES: Final = 32
MIN_RSA_BITS: Final = 2048
#: Longer tokens are refused before any parsing (bounds the work an unauthenticated client can cause).
MAX_TOKEN_LENGTH: Final = 16 * 1024
MAX_JWKS_BYTES: Final = 1024 * 1024
#: The latest time a numeric claim (``exp``, ``nbf``, ``iat``) may name: 9999-12-31T23:59:59Z.
MAX_TIMESTAMP: Final = 253_402_300_799

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a verified token speaks for."""

    user_id: str  # the `sub` claim
    tenants: frozenset[str]  # validated tenant ids from `tenants` and/or `tenantId`
    roles: frozenset[str]  # from `roles`, may be empty
    expires_at: float  # `exp`, unix seconds
    issued_at: float | None = None  # `iat`, unix seconds, when the token has one (revocation compares it)

    @property
    def is_monitor(self) -> bool:
        return MONITOR_ROLE in self.roles

    def may_subscribe(self, tenant_id: str) -> bool:
        """A tenant of the token, or ``"global"`` for a monitor."""
        return tenant_id in self.tenants or (tenant_id == GLOBAL_TENANT and self.is_monitor)


@dataclass(frozen=True)
class JwtSettings:
    secret: str | None = None  # HS256 shared secret (ARDA_JWT_SECRET)
    public_key: str | None = None  # PEM public key, RSA or EC P-256 (ARDA_JWT_PUBLIC_KEY) -> RS256 / ES256
    jwks_url: str | None = None  # JWKS URL (ARDA_JWKS_URL) -> RS256 / ES256 keys by `kid`
    issuer: str | None = None  # ARDA_JWT_ISSUER: when set, `iss` must equal it
    audience: str | None = None  # ARDA_JWT_AUDIENCE: when set, `aud` must contain it
    leeway_s: float = 30.0
    jwks_refetch_min_interval_s: float = 30.0  # unknown kid triggers a refetch at most this often
    jwks_timeout_s: float = 5.0

    def validate(self) -> JwtSettings:
        """Return ``self``, or raise :class:`ConfigError` naming the setting that is missing or invalid."""
        if self.secret is None and self.public_key is None and self.jwks_url is None:
            raise ConfigError(
                "no JWT verification key configured: set ARDA_JWT_SECRET (HS256), "
                "ARDA_JWT_PUBLIC_KEY (PEM, RS256/ES256) or ARDA_JWKS_URL"
            )
        if self.secret is not None and len(self.secret.encode()) < MIN_SECRET_BYTES:
            raise ConfigError(f"ARDA_JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes long")
        if self.public_key is not None:
            _load_public_key(self.public_key)
        if self.jwks_url is not None and not self.jwks_url.startswith(("https://", "http://")):
            raise ConfigError("ARDA_JWKS_URL must be an http:// or https:// URL")
        for name, value, minimum in (
            ("leeway_s", self.leeway_s, 0.0),
            ("jwks_refetch_min_interval_s", self.jwks_refetch_min_interval_s, 0.0),
        ):
            if not math.isfinite(value) or value < minimum:
                raise ConfigError(f"JWT setting {name} must be a finite number >= {minimum}, got {value!r}")
        if not math.isfinite(self.jwks_timeout_s) or self.jwks_timeout_s <= 0:
            raise ConfigError(f"JWT setting jwks_timeout_s must be a finite number > 0, got {self.jwks_timeout_s!r}")
        return self


def _load_public_key(pem: str) -> tuple[PublicKey, str]:
    """Parse ``ARDA_JWT_PUBLIC_KEY``; return the key and the one algorithm it verifies."""
    if "\\n" in pem and "\n" not in pem:  # a PEM squeezed into one line of an env file
        pem = pem.replace("\\n", "\n")
    try:
        key = load_pem_public_key(pem.strip().encode())
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"ARDA_JWT_PUBLIC_KEY is not a PEM public key: {exc}") from None
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise ConfigError(f"ARDA_JWT_PUBLIC_KEY: RSA key of {key.key_size} bits; at least {MIN_RSA_BITS} needed")
        return key, RS256
    if isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise ConfigError(f"ARDA_JWT_PUBLIC_KEY: EC key on {key.curve.name}; ES256 needs P-256 (secp256r1)")
        return key, ES256
    raise ConfigError(f"ARDA_JWT_PUBLIC_KEY: unsupported key type {type(key).__name__}; use RSA or EC P-256")


def _unauthorized(reason: str) -> AuthError:
    return AuthError(ErrorCode.UNAUTHORIZED, reason)


def _short(value: object, limit: int = 64) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _token_digest(token: str) -> bytes:
    return hashlib.blake2b(token.encode(), digest_size=16).digest()


_SETS: dict[frozenset[str], frozenset[str]] = {}


def _interned(value: frozenset[str]) -> frozenset[str]:
    """One shared frozenset per distinct set of tenants or roles (thousands of identities share a handful):
    an identity held for each connection costs a pointer, not a ~200-byte set. Bounded: past 10,000
    distinct sets, new ones are not kept."""
    shared = _SETS.get(value)
    if shared is not None:
        return shared
    if len(_SETS) < 10_000:
        _SETS[value] = value
    return value


def _segment(text: str) -> bytes:
    """A base64url segment of a JWS, decoded strictly (only the URL-safe alphabet, padding optional)."""
    return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)


def _jws_header(token: str) -> dict[str, Any] | None:
    """The decoded header of a JWS compact token (three dot-separated segments), or None."""
    if token.count(".") != 2:
        return None
    try:
        header = jsonlimits.decode_any(_segment(token.partition(".")[0]))
    except (ValueError, jsonlimits.JsonInputError):
        return None
    return header if isinstance(header, dict) else None


def _decode_hs256(token: str, secret: bytes, issuer: str | None, audience: str | None) -> dict[str, Any]:
    """The claims of an HS256 JWS compact token, checked as pyjwt checks them with the options
    :class:`Authenticator` passes (signature, ``crit``, ``exp``/``sub`` present, ``sub`` a string, ``iss``,
    ``aud``, ``jti`` a string) — by hand, because pyjwt spends ~100 µs of Python on a token whose crypto costs
    ~2 µs. The differential test in tests/test_auth.py holds it to pyjwt's verdicts. Raises ``unauthorized``."""
    signing_input, _, signature = token.rpartition(".")
    _, _, payload = signing_input.partition(".")
    header = _jws_header(token)
    if header is None:
        raise _unauthorized("malformed token: not a JWS compact serialisation with a JSON object header")
    if "crit" in header:
        raise _unauthorized("malformed token: unsupported critical header parameters")
    try:
        claimed = _segment(signature)
        expected = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
    except (ValueError, UnicodeEncodeError):
        raise _unauthorized("malformed token: invalid signature padding or characters") from None
    if not hmac.compare_digest(claimed, expected):
        raise _unauthorized("bad signature")
    try:
        claims = jsonlimits.decode_any(_segment(payload))
    except (ValueError, jsonlimits.JsonInputError):
        raise _unauthorized("malformed token: invalid payload") from None
    if not isinstance(claims, dict):
        raise _unauthorized("malformed token: the payload must be a JSON object")
    for required in ("exp", "sub"):
        if claims.get(required) is None:  # null counts as missing (as pyjwt has it)
            raise _unauthorized(f"token has no {required!r} claim")
    if not isinstance(claims["sub"], str):
        raise _unauthorized("sub claim must be a string")
    if "jti" in claims and not isinstance(claims["jti"], str):
        raise _unauthorized("invalid token: jti claim must be a string")
    if issuer is not None and claims.get("iss") != issuer:
        if "iss" not in claims:
            raise _unauthorized("token has no 'iss' claim")
        raise _unauthorized(f"wrong issuer: iss must be {issuer!r}")
    if audience is not None:
        aud = claims.get("aud")
        if aud is None:
            raise _unauthorized("token has no 'aud' claim")
        audiences = [aud] if isinstance(aud, str) else aud
        if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
            raise _unauthorized(f"wrong audience: aud must contain {audience!r}")
        if audience not in audiences:
            raise _unauthorized(f"wrong audience: aud must contain {audience!r}")
    return claims


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _timestamp(claims: Mapping[str, Any], name: str) -> float | None:
    """A NumericDate claim (unix seconds) or None when absent; ``unauthorized`` when it is not a number between
    0 and :data:`MAX_TIMESTAMP` (milliseconds by mistake, or a value no date can hold, are refused whole)."""
    if name not in claims:
        return None
    value = claims[name]
    if not _is_number(value) or not 0 <= value <= MAX_TIMESTAMP:
        raise _unauthorized(f"{name} claim must be a number of unix seconds between 0 and {MAX_TIMESTAMP}")
    return float(value)


class Authenticator:
    """Verifies tokens against :class:`JwtSettings`; caches identities until ``exp``.

    ``clock`` (unix seconds) drives every time check, of tokens and of the cache and the JWKS refetch
    interval. Create, use and :meth:`close` it on one event loop.
    """

    def __init__(
        self,
        settings: JwtSettings,
        *,
        clock: Callable[[], float] = time.time,
        cache_size: int = 10_000,
        admit: Callable[[Identity], Identity | None] | None = None,
    ) -> None:
        if cache_size < 1:
            raise ValueError(f"cache_size must be >= 1, got {cache_size}")
        self.settings = settings.validate()
        self._clock = clock
        #: Applied to every identity handed out, cached or not: what is revoked of it (None: all of it).
        self._admit = admit
        self._cache_size = cache_size
        self._cache: OrderedDict[bytes, Identity] = OrderedDict()
        self._public_key: PublicKey | None = None
        self._public_alg: str | None = None
        if settings.public_key is not None:
            self._public_key, self._public_alg = _load_public_key(settings.public_key)
        allowed: set[str] = set()
        if settings.secret is not None:
            allowed.add(HS256)
        if self._public_alg is not None:
            allowed.add(self._public_alg)
        if settings.jwks_url is not None:
            allowed |= JWKS_ALGORITHMS
        #: Every algorithm some configured key verifies; anything else is refused before any crypto.
        self.algorithms: frozenset[str] = frozenset(allowed)
        self._options: Options = {
            "verify_signature": True,
            "require": ["exp", "sub"],
            "verify_exp": False,  # checked against the injected clock in _identity
            "verify_nbf": False,  # idem
            "verify_iat": False,
            "verify_iss": settings.issuer is not None,
            "verify_aud": settings.audience is not None,
            "verify_sub": True,
            "enforce_minimum_key_length": True,
        }
        # JWKS state
        self._jwks: dict[str, jwt.PyJWK] = {}
        self._jwks_fetched_at: float | None = None  # clock() of the last fetch attempt
        self._jwks_error: str | None = None  # why the last fetch failed, if it did
        self._fetch_task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    # -- cache -------------------------------------------------------------------------------------------------

    def verify_cached(self, token: str) -> Identity | None:
        """The cached identity of ``token`` if it was verified before, has not expired and is not revoked;
        else ``None``."""
        if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
            return None
        identity = self._lookup(_token_digest(token))
        if identity is None or self._admit is None:
            return identity
        return self._admit(identity)  # None when revoked: verify() then says so

    def _lookup(self, digest: bytes) -> Identity | None:
        identity = self._cache.get(digest)
        if identity is None:
            return None
        if self._clock() >= identity.expires_at:
            del self._cache[digest]
            return None
        self._cache.move_to_end(digest)
        return identity

    def _store(self, digest: bytes, identity: Identity) -> None:
        if self._clock() >= identity.expires_at:  # expired while verifying (a JWKS fetch): not worth caching
            return
        self._cache[digest] = identity
        self._cache.move_to_end(digest)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    @property
    def cache_len(self) -> int:
        return len(self._cache)

    # -- verification ------------------------------------------------------------------------------------------

    async def verify(self, token: str) -> Identity:
        """The identity of a valid ``token``; raise :class:`AuthError` (``token_expired`` or ``unauthorized``)."""
        identity = self.verify_now(token)
        if identity is not None:
            return identity
        digest = _token_digest(token)
        header = self._header(token)
        key, alg = await self._key_for(header)
        claims = self._decode(token, key, alg)
        identity = self._identity(claims)
        self._store(digest, identity)
        return self._admitted(identity)

    def verify_now(self, token: str) -> Identity | None:
        """:meth:`verify` without waiting: the identity, or :class:`AuthError`, when that needs no I/O (a cached
        token, or one verified by a configured key); None when only :meth:`verify` can tell (a JWKS key to
        fetch). HS256 is verified by :func:`_decode_hs256` — pyjwt's checks, without its overhead (~10 µs
        instead of ~100: a reconnect storm verifies every client's token once)."""
        if not isinstance(token, str) or not token:
            raise _unauthorized("no token")
        if len(token) > MAX_TOKEN_LENGTH:
            raise _unauthorized(f"token longer than {MAX_TOKEN_LENGTH} characters")
        digest = _token_digest(token)
        cached = self._lookup(digest)
        if cached is not None:
            return self._admitted(cached)
        header = self._header(token)
        alg = header.get("alg")
        if alg == HS256 and HS256 in self.algorithms and self.settings.secret is not None:
            claims = self._decode(token, self.settings.secret, HS256)
        elif alg in self.algorithms and alg != HS256 and (self.settings.jwks_url is None or "kid" not in header):
            key, pinned = self._static_key(header)
            claims = self._decode(token, key, pinned)
        else:
            return None
        identity = self._identity(claims)
        self._store(digest, identity)
        return self._admitted(identity)

    def _header(self, token: str) -> dict[str, Any]:
        """The JWS header, decoded strictly (the signature is checked later, with the key it selects)."""
        header = _jws_header(token)
        if header is None:
            raise _unauthorized("malformed token: not a JWS compact serialisation with a JSON object header")
        return header

    def _static_key(self, header: dict[str, Any]) -> tuple[PublicKey, str]:
        """The configured public key for a token without a JWKS ``kid`` (its algorithm pinned by the key)."""
        alg = header.get("alg")
        if self._public_key is not None and self._public_alg is not None and alg == self._public_alg:
            return self._public_key, self._public_alg
        raise _unauthorized(f"token has no kid: cannot choose a JWKS key for {alg}")

    def _admitted(self, identity: Identity) -> Identity:
        """``identity`` less what is revoked of it; ``unauthorized`` when that is all of it."""
        if self._admit is None:
            return identity
        admitted = self._admit(identity)
        if admitted is None:
            raise _unauthorized("token revoked: sign in again")
        return admitted

    async def _key_for(self, header: dict[str, Any]) -> tuple[str | PublicKey | jwt.PyJWK, str]:
        """The key and the one algorithm to verify a token with this header; pinned by configuration."""
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.algorithms:
            accepted = ", ".join(sorted(self.algorithms))
            raise _unauthorized(f"token algorithm {_short(alg)} is not accepted (accepted: {accepted})")
        if alg == HS256:
            secret = self.settings.secret
            if secret is None:  # unreachable: HS256 is in self.algorithms only with a secret
                raise _unauthorized("token algorithm 'HS256' is not accepted")
            return secret, HS256
        kid = header.get("kid")
        if self.settings.jwks_url is not None and kid is not None:
            if not isinstance(kid, str):
                raise _unauthorized("token kid must be a string")
            return await self._jwk_for(kid), alg
        if self._public_key is not None and alg == self._public_alg:
            return self._public_key, alg
        raise _unauthorized(f"token has no kid: cannot choose a JWKS key for {alg}")

    def _decode(self, token: str, key: str | PublicKey | jwt.PyJWK, alg: str) -> dict[str, Any]:
        """Signature, ``iss``, ``aud``, presence of ``sub``/``exp``, with exactly one algorithm: HS256 by
        :func:`_decode_hs256`, the others by pyjwt."""
        s = self.settings
        if alg == HS256 and isinstance(key, str):
            return _decode_hs256(token, key.encode(), s.issuer, s.audience)
        try:
            return jwt.decode(token, key, algorithms=[alg], options=self._options, audience=s.audience, issuer=s.issuer)
        except jwt.InvalidSignatureError:
            reason = "bad signature"
        except jwt.InvalidAlgorithmError as exc:
            reason = f"algorithm not accepted: {exc}"
        except jwt.InvalidIssuerError:
            reason = f"wrong issuer: iss must be {s.issuer!r}"
        except jwt.InvalidAudienceError:
            reason = f"wrong audience: aud must contain {s.audience!r}"
        except jwt.MissingRequiredClaimError as exc:
            reason = f"token has no {exc.claim!r} claim"
        except InvalidSubjectError:
            reason = "sub claim must be a string"
        except jwt.InvalidKeyError as exc:
            reason = f"signing key refused: {exc}"
        except jwt.DecodeError as exc:
            reason = f"malformed token: {exc}"
        except jwt.PyJWTError as exc:
            reason = f"invalid token: {exc}"
        except (ValueError, TypeError) as exc:
            reason = f"malformed token: {type(exc).__name__}"
        raise _unauthorized(self._redact(reason, token))

    def _identity(self, claims: dict[str, Any]) -> Identity:
        """Time checks against the injected clock, then ``sub``, ``roles`` and tenants."""
        now = self._clock()
        leeway = self.settings.leeway_s
        exp = _timestamp(claims, "exp")
        assert exp is not None  # required: pyjwt checked its presence
        if exp <= now:  # the one expiry rule, for the WebSocket and the HTTP API alike: no leeway past `exp`
            raise AuthError(ErrorCode.TOKEN_EXPIRED, "token expired")
        nbf = _timestamp(claims, "nbf")
        if nbf is not None and nbf > now + leeway:
            raise _unauthorized("token is not yet valid (nbf is in the future)")
        iat = _timestamp(claims, "iat")
        if iat is not None and iat > now + leeway:
            raise _unauthorized("token is issued in the future (iat)")

        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise _unauthorized("sub claim must be a non-empty string")

        raw_roles = claims.get("roles")
        if raw_roles is None:
            raw_roles = []
        if not isinstance(raw_roles, list) or not all(isinstance(r, str) for r in raw_roles):
            raise _unauthorized("roles claim must be a list of strings")
        roles = _interned(frozenset(raw_roles))

        claimed: list[object] = []
        raw_tenants = claims.get("tenants")
        if raw_tenants is not None:
            if not isinstance(raw_tenants, list):
                raise _unauthorized("tenants claim must be a list of tenant ids")
            claimed.extend(raw_tenants)
        tenant_id = claims.get("tenantId")
        if tenant_id is not None:
            claimed.append(tenant_id)
        tenants: set[str] = set()
        for value in claimed:
            try:
                tenants.add(validate_tenant_id(value))
            except InvalidTenantError as exc:
                raise _unauthorized(f"token claims an invalid tenant id: {exc.detail}") from None
        if not tenants and MONITOR_ROLE not in roles:
            raise _unauthorized("token has no tenants or tenantId claim")
        return Identity(
            user_id=sub,
            tenants=_interned(frozenset(tenants)),
            roles=roles,
            expires_at=float(exp),
            issued_at=None if iat is None else float(iat),
        )

    @staticmethod
    def _redact(message: str, token: str) -> str:
        """Belt and braces: a reason never quotes the token or one of its parts."""
        for part in (token, *token.split(".")):
            if len(part) >= 8 and part in message:
                message = message.replace(part, "[token]")
        return message

    # -- JWKS --------------------------------------------------------------------------------------------------

    async def _jwk_for(self, kid: str) -> jwt.PyJWK:
        key = self._jwks.get(kid)
        if key is not None:
            return key
        await self._refetch()
        key = self._jwks.get(kid)
        if key is not None:
            return key
        # what the client is told never names the JWKS URL or why fetching it failed (both are logged)
        if self._jwks_error is not None:
            raise _unauthorized(f"no key for kid {_short(kid)}: the key set is unavailable")
        logs.client_fault(log, "unknown_kid", "token with an unknown kid", kid=_short(kid), url=self.settings.jwks_url)
        raise _unauthorized(f"unknown kid {_short(kid)}: not in the key set")

    async def _refetch(self) -> None:
        """Fetch the JWKS unless one was fetched within the minimum interval; join a fetch in flight."""
        task = self._fetch_task
        if task is None:
            now = self._clock()
            last = self._jwks_fetched_at
            if last is not None and now - last < self.settings.jwks_refetch_min_interval_s:
                return
            self._jwks_fetched_at = now
            task = asyncio.get_running_loop().create_task(self._fetch_jwks(), name="arda-jwks-fetch")
            self._fetch_task = task
            task.add_done_callback(self._fetch_done)
        await asyncio.shield(task)

    def _fetch_done(self, task: asyncio.Task[None]) -> None:
        if self._fetch_task is task:
            self._fetch_task = None
        if not task.cancelled():
            task.exception()  # retrieved here: every waiter may have been cancelled

    async def _fetch_jwks(self) -> None:
        url = self.settings.jwks_url
        assert url is not None
        if self._closed:
            self._jwks_error = "authenticator is closed"
            return
        try:
            body = await self._download(url)
            keys = self._parse_jwks(body)
        except _JwksError as exc:
            self._jwks_error = f"JWKS fetch from {url} failed: {exc}"
            log.warning("JWKS fetch failed", extra={"url": url, "error": str(exc)})
            return
        self._jwks = keys
        self._jwks_error = None
        log.info("JWKS fetched", extra={"url": url, "kids": sorted(keys)})

    async def _download(self, url: str) -> bytes:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.settings.jwks_timeout_s))
        try:
            async with self._session.get(url, headers={"Accept": "application/json"}) as response:
                if response.status != 200:
                    raise _JwksError(f"HTTP {response.status}")
                body = bytearray()
                async for chunk in response.content.iter_chunked(64 * 1024):
                    body += chunk
                    if len(body) > MAX_JWKS_BYTES:
                        raise _JwksError(f"document larger than {MAX_JWKS_BYTES} bytes")
                return bytes(body)
        except TimeoutError:
            raise _JwksError(f"timed out after {self.settings.jwks_timeout_s:g} s") from None
        except aiohttp.ClientError as exc:
            raise _JwksError(f"unreachable ({type(exc).__name__}: {exc})") from None

    @staticmethod
    def _parse_jwks(body: bytes) -> dict[str, jwt.PyJWK]:
        try:
            document = json.loads(body)
        except (ValueError, RecursionError):
            raise _JwksError("not JSON") from None
        if not isinstance(document, dict):
            raise _JwksError("not a JSON object")
        try:
            key_set = jwt.PyJWKSet.from_dict(document)
        except jwt.PyJWTError as exc:
            raise _JwksError(f"no usable keys ({exc})") from None
        keys = {
            key.key_id: key
            for key in key_set.keys
            if key.key_id is not None and key.algorithm_name in JWKS_ALGORITHMS and key.public_key_use in (None, "sig")
        }
        if not keys:
            raise _JwksError("no RS256/ES256 signing key with a kid")
        return keys

    async def close(self) -> None:
        """Stop a JWKS fetch in flight and close the HTTP session, if one was opened."""
        self._closed = True
        task, self._fetch_task = self._fetch_task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()


class _JwksError(Exception):
    """Why a JWKS fetch failed (internal; becomes part of an ``unauthorized`` reason)."""
