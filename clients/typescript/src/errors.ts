import type { ServerErrorCode } from "./messages.js";

/**
 * Why something failed. `code` is either a server error code from docs/protocol.md (`unauthorized`,
 * `forbidden`, …) or one of the client's own:
 *
 * - `connection_closed`  the socket closed (`closeCode` says how; see the close-code table)
 * - `connection_failed`  the WebSocket could not be created or failed before opening
 * - `connect_timeout`    not open and authenticated within `connectTimeoutMs`
 * - `heartbeat_timeout`  no `pong` (nor anything else) within `pongTimeoutMs` of a `ping`: a dead connection
 * - `token_unavailable`  the token function threw, rejected or returned something other than a non-empty string
 * - `invalid_frame`      an inbound frame that is not a valid protocol message (it is ignored)
 * - `send_queue_overflow` the bounded send queue was full: its oldest message was dropped
 * - `unsubscribed_by_server` the server ended a subscription (a refreshed token no longer allows it)
 * - `client_closed`      the client was closed (or stopped) before the server answered
 * - `cancelled`          the subscription was released before the server answered
 * - `revoked`            the server closed the connection because the user's access was revoked: the client
 *                        stops (status `unauthorized`); only a new sign-in (a token issued after the
 *                        revocation) helps
 *
 * After a close whose action is `sign_in` (see `CLOSE_CODES`), `code` is the close code's name (`unauthorized`,
 * `revoked`) and `closeCode` its number.
 */
export type ClientErrorCode =
  | "connection_closed"
  | "connection_failed"
  | "connect_timeout"
  | "heartbeat_timeout"
  | "token_unavailable"
  | "invalid_frame"
  | "send_queue_overflow"
  | "unsubscribed_by_server"
  | "client_closed"
  | "cancelled"
  | "revoked";

export type NotificationErrorCode = ServerErrorCode | ClientErrorCode;

export interface NotificationErrorDetails {
  /** The WebSocket close code, for `connection_closed`. */
  readonly closeCode?: number;
  /** The tenant the error concerns (subscribe/unsubscribe replies). */
  readonly tenantId?: string;
  /** The `messageId` of the request the server answered. */
  readonly messageId?: string;
}

/** The error type of `lastError` and of rejected `subscribe`/`unsubscribe` promises. */
export class NotificationError extends Error implements NotificationErrorDetails {
  readonly code: NotificationErrorCode;
  readonly closeCode?: number;
  readonly tenantId?: string;
  readonly messageId?: string;

  constructor(code: NotificationErrorCode, message: string, details: NotificationErrorDetails = {}) {
    super(message);
    this.name = "NotificationError";
    this.code = code;
    if (details.closeCode !== undefined) this.closeCode = details.closeCode;
    if (details.tenantId !== undefined) this.tenantId = details.tenantId;
    if (details.messageId !== undefined) this.messageId = details.messageId;
  }
}
