/**
 * What the client does after each close code and error code of the protocol.
 *
 * Close actions: `reconnect` (with backoff, re-authenticate, resume), `back_off` (the same with a longer
 * backoff), `refresh_token` (reconnect with a fresh token; a second one in a row stops as unauthorized),
 * `sign_in` (stop: `unauthorized`), `stop` (stop: `closed`). A code the table does not know reconnects.
 * Error actions: `reauthenticate` (a fresh token, once), `retry` (the request may be sent again after a
 * backoff), `fail` (reported).
 */
import { CLOSE_CODES, type CloseCode } from "../generated/protocol.js";
import type { ServerErrorCode } from "../messages.js";

export type CloseAction = "reconnect" | "back_off" | "refresh_token" | "sign_in" | "stop";
export type ErrorAction = "reauthenticate" | "retry" | "fail";

export interface ClosePolicy {
  readonly code: number;
  /** The code's name in the table (null for a code it does not know, e.g. 1006: no close frame). */
  readonly name: string | null;
  readonly action: CloseAction;
  readonly meaning: string | null;
}

const REAUTHENTICATE_ERRORS = new Set<ServerErrorCode>(["unauthorized", "token_expired"]);
const RETRY_ERRORS = new Set<ServerErrorCode>(["internal_error", "rate_limited"]);
const SIGN_IN_CLOSES = new Set<number>([4001, 4009]);
const REFRESH_TOKEN_CLOSES = new Set<number>([4002]);
const BACK_OFF_CLOSES = new Set<number>([1013, 4005]);

export function closePolicy(code: number): ClosePolicy {
  const entry = Object.prototype.hasOwnProperty.call(CLOSE_CODES, code) ? CLOSE_CODES[code as CloseCode] : undefined;
  if (!entry) return { code, name: null, action: "reconnect", meaning: null };
  const action: CloseAction = SIGN_IN_CLOSES.has(code)
    ? "sign_in"
    : REFRESH_TOKEN_CLOSES.has(code)
      ? "refresh_token"
      : BACK_OFF_CLOSES.has(code)
        ? "back_off"
        : entry.action;
  return { code, name: entry.name, action, meaning: entry.meaning };
}

export function errorAction(code: ServerErrorCode): ErrorAction {
  return REAUTHENTICATE_ERRORS.has(code) ? "reauthenticate" : RETRY_ERRORS.has(code) ? "retry" : "fail";
}
