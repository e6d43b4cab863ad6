"""Masking of sensitive data in notification payloads, before they leave the server.

Contract:

- :meth:`Masker.mask` returns a masked **deep copy** of a JSON-like value (dicts — any ``Mapping`` — lists and
  tuples are walked; strings, numbers, booleans and ``None`` are returned as they are; any other object is
  ``copy.deepcopy``'d and not inspected). The input is never modified.
- A dict entry whose **key** matches one of the key patterns has its whole value, whatever its type (string,
  number, ``None``, a nested dict or list), replaced by :data:`MASK`; nothing below it is kept. Patterns are
  regular expressions searched (``re.search``) case-insensitively in the key; all are compiled into one
  combined expression, and the decision per key is cached (at most :data:`KEY_CACHE_SIZE` keys, then the
  cache starts over). Only string keys are matched.
- With ``mask_card_numbers`` (the default), any string **value**, under any key or in any list, that is a
  payment card number as a whole — 13 to 19 digits, optionally separated by single spaces or dashes,
  surrounding whitespace ignored, passing the Luhn check — is replaced by :data:`MASK`. Numbers (``int``) are
  not checked, and card numbers embedded in longer free text are not searched for.

What :data:`DEFAULT_MASK_PATTERNS` masks, and what it deliberately keeps (this is a Kanban platform: a
*card* is a Kanban card, not a payment card):

====================  =====================================================  ======================================
family                masked keys (examples)                                 kept (examples)
====================  =====================================================  ======================================
passwords             password, newPassword, passwd, pwd, passphrase
secrets               secret, clientSecret, secretKey, privateKey
tokens                token, accessToken, refresh_token, idToken, tokens     tokenCount, token_count, tokenLimit,
                                                                             tokenUsage, tokenizer (counts and
                                                                             tools, not credentials)
API keys              apiKey, api_key, api-key, X-Api-Key
auth headers          Authorization, proxyAuthorization, auth, authHeader,   author, authorName, authenticated
                      auth_code, Cookie, Set-Cookie, credentials
e-mail                email, e-mail, e_mail, userEmail, emailAddress
phone                 phone, phoneNumber, telephone, mobile, tel, telNo,     hotel, hotelName, telemetry
                      home_tel, userTel
payment cards         cardNumber, card_number, cardNo, creditCard,           cardId, cardIds, cards, cardCount,
                      debit_card, cardholderName, pan, cardPan, cvv, cvv2,   cardNotes, cardExpectedAt, panel,
                      cvc, cardExpiry, card_expiration_date, expMonth,       company, expiresAt, expectedAt,
                      exp_year, expiryMonth                                  expiryDate (a batch's expiry)
bank                  iban, ibanNumber
national ids          ssn, SSN, userSsn, social_security_number              businessName
====================  =====================================================  ======================================

Ids (``id``, ``tenantId``, ``userId``, ``loopId``, ``orderId``, ``cardId``, ``cardIds``, …) and every field of
the five built-in event types are never masked by the defaults. Note that a Kanban card *sequence* number
published under the key ``cardNumber`` would be masked: name it ``cardSequence`` or ``cardIndex``.

When in doubt the defaults mask (``tokens``, ``isMobile``, ``emailVerified`` are masked): showing a harmless
value as ``[masked]`` is cheaper than leaking a credential. Custom patterns replace the defaults; extend them
with ``Masker((*DEFAULT_MASK_PATTERNS, r"customerName"))``.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

__all__ = ["DEFAULT_MASK_PATTERNS", "KEY_CACHE_SIZE", "MASK", "Masker", "luhn_valid"]

MASK: Final = "[masked]"
#: How many distinct keys a :class:`Masker` remembers its decision for before it starts over.
KEY_CACHE_SIZE: Final = 4096


def _word(word: str) -> str:
    """A regex for ``word`` as a whole word of a key in camelCase, snake_case, kebab-case or dotted form.

    It starts the key or follows a separator (any case), or follows a lower-case letter or digit capitalised
    (``userTel``); it ends the key or is followed by a separator, a digit or an upper-case letter. So ``tel``
    matches ``tel``, ``telNo``, ``home_tel``, ``userTel`` but not ``hotel`` or ``telemetry``.
    """
    capitalised = word[0].upper() + word[1:]
    return rf"(?:(?:^|(?<=[_\-.\s])){word}|(?-i:(?<=[a-z0-9]){capitalised}))(?=$|[_\-.\s0-9]|(?-i:[A-Z]))"


#: Regexes searched case-insensitively in dict keys; see the module docstring for what they cover.
DEFAULT_MASK_PATTERNS: tuple[str, ...] = (
    # passwords
    r"passw(?:or)?d",
    r"passphrase",
    r"pwd",
    # secrets and keys
    r"secret",
    r"private[_\-]?key",
    r"api[_\-]?key",
    # tokens, but not counts of tokens or tokenizers
    r"token(?![_\-]?(?:counts?|limits?|usage|iz(?:er|ed|e)))",
    # authorization headers and the like
    r"authorization",
    _word("auth"),
    r"auth[_\-]?(?:header|code|key)",
    r"cookie",
    r"credential",
    # e-mail and phone
    r"e[_\-]?mail",
    r"phone",
    r"mobile",
    _word("tel"),
    # payment cards (not Kanban cards: cardId, cardIds, cardNotes… stay)
    r"card[_\-]?(?:numbers?|num|nos?|nr)(?-i:(?![a-z]))",
    r"(?:credit|debit|payment)[_\-]?cards?",
    r"card[_\-]?holder",
    _word("pan"),
    r"primary[_\-]?account[_\-]?number",
    r"cv[vc]",
    r"card[_\-]?exp(?:iry|iration|[_\-]?(?:date|month|year|mm|yy))?(?-i:(?![a-z]))",
    r"^exp(?:iry|iration)?[_\-]?(?:month|year|mm|yy|yyyy)$",
    # bank accounts and national ids
    r"iban",
    _word("ssn"),
    r"social[_\-]?security",
)

#: A whole string that may be a card number: 13–19 digits, single spaces or dashes allowed between them.
_CARD_CANDIDATE = re.compile(r"\d(?:[ \-]?\d){12,18}")
_NOT_DIGIT = re.compile(r"\D")
#: Longer strings are not card numbers (19 digits, 18 separators, some surrounding whitespace): skipped cheaply.
_CARD_MAX_LENGTH = 64


def luhn_valid(digits: str) -> bool:
    """Whether a string of decimal digits passes the Luhn (mod 10) check."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _is_card_number(value: str) -> bool:
    if not 13 <= len(value) <= _CARD_MAX_LENGTH:
        return False
    text = value.strip()
    if _CARD_CANDIDATE.fullmatch(text) is None:
        return False
    return luhn_valid(_NOT_DIGIT.sub("", text))


class Masker:
    """Masks sensitive keys (and, optionally, card-number values) in JSON-like data.

    Build one and reuse it: the patterns are compiled once and key decisions are cached. Safe to share
    between threads (the cache is a plain dict; a lost update only costs a recomputation).
    """

    __slots__ = ("_cache", "_key_re", "mask_card_numbers", "patterns")

    def __init__(self, key_patterns: Iterable[str] = DEFAULT_MASK_PATTERNS, *, mask_card_numbers: bool = True) -> None:
        patterns = (key_patterns,) if isinstance(key_patterns, str) else tuple(key_patterns)
        for pattern in patterns:
            try:
                re.compile(pattern, re.IGNORECASE)
            except re.error as exc:
                raise ValueError(f"invalid mask pattern {pattern!r}: {exc}") from None
        try:
            combined = re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE) if patterns else None
        except re.error as exc:  # e.g. a global flag such as (?i) that is valid only at the start of one pattern
            raise ValueError(f"mask patterns cannot be combined: {exc}") from None
        self.patterns: tuple[str, ...] = patterns
        self.mask_card_numbers = mask_card_numbers
        self._key_re: re.Pattern[str] | None = combined
        self._cache: dict[str, bool] = {}

    def __repr__(self) -> str:
        return f"Masker({len(self.patterns)} patterns, mask_card_numbers={self.mask_card_numbers})"

    def masks_key(self, key: str) -> bool:
        """Whether the value under ``key`` is masked."""
        cache = self._cache
        decision = cache.get(key)
        if decision is None:
            decision = self._key_re is not None and self._key_re.search(key) is not None
            if len(cache) >= KEY_CACHE_SIZE:
                cache.clear()
            cache[key] = decision
        return decision

    def mask(self, value: Any) -> Any:
        """A masked deep copy of ``value``; ``value`` itself is never modified."""
        return self._mask(value)

    def _mask(self, value: Any) -> Any:
        if isinstance(value, str):
            if self.mask_card_numbers and _is_card_number(value):
                return MASK
            return value
        if value is None or isinstance(value, int | float):  # bool is an int
            return value
        if isinstance(value, Mapping):
            masks_key = self.masks_key
            result: dict[Any, Any] = {}
            for key, item in value.items():
                if isinstance(key, str) and masks_key(key):
                    result[key] = MASK
                else:
                    result[key] = self._mask(item)
            return result
        if isinstance(value, list):
            return [self._mask(item) for item in value]
        if isinstance(value, tuple):
            return tuple(self._mask(item) for item in value)
        if isinstance(value, bytes):
            return value
        return copy.deepcopy(value)
