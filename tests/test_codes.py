"""The protocol's code tables (``arda.notifications.codes``): complete, unique, and consistent."""

from __future__ import annotations

from typing import get_args

from arda.notifications import codes
from arda.notifications.codes import CLOSE_CODES, ERROR_CODES, ERRORS, Action, ErrorAction, ErrorCode


def test_every_error_code_has_exactly_one_row() -> None:
    rows = [e.code for e in ERRORS]
    assert sorted(rows) == sorted(ErrorCode)
    assert len(rows) == len(set(rows))
    assert tuple(ErrorCode) == ERROR_CODES
    assert all(e.meaning and e.action in get_args(ErrorAction) for e in ERRORS)


def test_errors_retry_exactly_when_their_action_is_retry() -> None:
    for e in ERRORS:
        assert e.retry == (e.action == "retry"), e
    by_code = {e.code: e for e in ERRORS}
    assert by_code[ErrorCode.UNAUTHORIZED][1:3] == ("reauthenticate", False)
    assert by_code[ErrorCode.TOKEN_EXPIRED][1:3] == ("reauthenticate", False)
    assert by_code[ErrorCode.INTERNAL_ERROR][1:3] == ("retry", True)
    assert by_code[ErrorCode.RATE_LIMITED][1:3] == ("retry", True)


def test_close_codes_are_unique_and_retry_is_false_exactly_for_stop_and_sign_in() -> None:
    assert len({c.code for c in CLOSE_CODES}) == len(CLOSE_CODES)
    assert len({c.name for c in CLOSE_CODES}) == len(CLOSE_CODES)
    for c in CLOSE_CODES:
        assert c.action in get_args(Action), c
        assert c.retry == (c.action not in ("stop", "sign_in")), c
        assert c.meaning, c
    assert {c.action for c in CLOSE_CODES} == set(get_args(Action))


def test_the_close_table() -> None:
    table = {c.code: (c.name, c.action, c.retry) for c in CLOSE_CODES}
    assert table == {
        1000: ("normal", "stop", False),
        1001: ("going_away", "reconnect", True),
        1002: ("protocol_error", "stop", False),
        1007: ("invalid_data", "stop", False),
        1008: ("policy_violation", "stop", False),
        1009: ("message_too_big", "stop", False),
        1011: ("internal_error", "reconnect", True),
        1013: ("try_again_later", "back_off", True),
        4001: ("unauthorized", "sign_in", False),
        4002: ("token_expired", "refresh_token", True),
        4003: ("auth_timeout", "reconnect", True),
        4004: ("slow_consumer", "reconnect", True),
        4005: ("rate_limited", "back_off", True),
        4006: ("resync", "reconnect", True),
        4008: ("heartbeat_timeout", "reconnect", True),
        4009: ("revoked", "sign_in", False),
        4010: ("closed_by_operator", "reconnect", True),
    }
    assert "403" in codes.POLICY_VIOLATION.meaning
    assert "Not sent" in codes.POLICY_VIOLATION.meaning


def test_every_module_constant_is_in_the_table() -> None:
    constants = [v for v in vars(codes).values() if isinstance(v, codes.CloseCode)]
    assert sorted(constants) == sorted(CLOSE_CODES)
