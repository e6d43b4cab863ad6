/**
 * What the client does after each close code and error code: read from the protocol's tables
 * (src/generated/protocol.ts, generated from the service), never from numbers or names in the client's logic.
 *
 * Close actions: `reconnect` (with backoff, re-authenticate, resume), `back_off` (the same with a longer
 * backoff), `refresh_token` (reconnect with a fresh token; a second one in a row stops as unauthorized),
 * `sign_in` (stop: `unauthorized`), `stop` (stop: `closed`). A code the table does not know (1005, 1006: no
 * close frame) reconnects.
 * Error actions: `reauthenticate` (a fresh token, once), `retry` (the request may be sent again after a
 * backoff), `fail` (reported). A code the table does not know (a newer server) fails.
 */
import {
  CLOSE_CODES,
  ERROR_CODE_INFO,
  type CloseAction,
  type CloseCode,
  type CloseCodeName,
  type ErrorAction,
  type ErrorCode,
} from "../generated/protocol.js";
import type { ServerErrorCode } from "../messages.js";

export type { CloseAction, ErrorAction };

export interface ClosePolicy {
  readonly code: number;
  /** The code's name in the table; null for a code it does not know. */
  readonly name: CloseCodeName | null;
  readonly action: CloseAction;
  readonly meaning: string | null;
}

/** What a close code the table does not know asks for: the connection was lost, try again. */
const UNKNOWN_CLOSE_ACTION: CloseAction = "reconnect";
/** What an error code the table does not know asks for: report it, do not retry. */
const UNKNOWN_ERROR_ACTION: ErrorAction = "fail";

const has = <T extends object>(table: T, key: PropertyKey): key is keyof T => Object.prototype.hasOwnProperty.call(table, key);

export function closePolicy(code: number): ClosePolicy {
  if (!has(CLOSE_CODES, code)) return { code, name: null, action: UNKNOWN_CLOSE_ACTION, meaning: null };
  const entry = CLOSE_CODES[code as CloseCode];
  return { code, name: entry.name, action: entry.action, meaning: entry.meaning };
}

export function errorAction(code: ServerErrorCode): ErrorAction {
  return has(ERROR_CODE_INFO, code) ? ERROR_CODE_INFO[code as ErrorCode].action : UNKNOWN_ERROR_ACTION;
}
