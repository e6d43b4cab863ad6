"""Which users' tokens are revoked. Pure: fed with :class:`~arda.events.Revocation` records (from the bus, on
every instance), asked about identities.

A revocation of a user at time *T* (Redis's clock) refuses that user's tokens issued (``iat``) at or before
*T* — a token without ``iat`` cannot show it is newer, so it is refused too — for one tenant, or for every
tenant. A token issued later is unaffected. A tenant-scoped revocation takes that tenant out of the token;
a token left with no tenant (and no ``monitor`` role) is refused whole.
"""

from __future__ import annotations

import dataclasses

from ..events import Revocation
from .auth import Identity


class Revocations:
    """The latest revocation per user and scope (a tenant, or None for every tenant)."""

    __slots__ = ("_users",)

    def __init__(self) -> None:
        self._users: dict[str, dict[str | None, float]] = {}

    def add(self, revocation: Revocation) -> None:
        scopes = self._users.setdefault(revocation.user_id, {})
        known = scopes.get(revocation.tenant_id)
        if known is None or revocation.revoked_at > known:
            scopes[revocation.tenant_id] = revocation.revoked_at

    def __len__(self) -> int:
        return sum(len(scopes) for scopes in self._users.values())

    def applies(self, revocation: Revocation, identity: Identity) -> bool:
        """Whether ``revocation`` takes something from ``identity`` (its user, issued no later, its tenant)."""
        if identity.user_id != revocation.user_id or not _issued_by(identity, revocation.revoked_at):
            return False
        return revocation.tenant_id is None or revocation.tenant_id in identity.tenants

    def admit(self, identity: Identity) -> Identity | None:
        """``identity`` less what is revoked of it: None when nothing is left, else the identity (the same one
        when nothing is revoked, a copy without the revoked tenants otherwise)."""
        scopes = self._users.get(identity.user_id)
        if scopes is None:
            return identity
        everywhere = scopes.get(None)
        if everywhere is not None and _issued_by(identity, everywhere):
            return None
        gone = {t for t, at in scopes.items() if t is not None and t in identity.tenants and _issued_by(identity, at)}
        if not gone:
            return identity
        remaining = identity.tenants - gone
        if not remaining and not identity.is_monitor:
            return None
        return dataclasses.replace(identity, tenants=frozenset(remaining))


def _issued_by(identity: Identity, at: float) -> bool:
    return identity.issued_at is None or identity.issued_at <= at
