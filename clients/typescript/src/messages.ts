/**
 * The WebSocket messages of docs/protocol.md, both directions, and a run-time guard for every message the
 * server sends. The event types (`ArdaEvent`, …) and the code tables are generated from the Python service
 * (src/generated/); these message envelopes are written by hand because `arda schema` describes events only.
 */
import type { ErrorCode } from "./generated/protocol.js";

export type Severity = "info" | "success" | "warning" | "error";
export const SEVERITIES: readonly Severity[] = ["info", "success", "warning", "error"];

/** An error code from the server: one of the protocol's codes, or a newer one this client does not know. */
export type ServerErrorCode = ErrorCode | (string & {});

/** What the service sends for one event (`notification.payload`). */
export interface Notification {
  /** Stable for the event (`"<tenantId>:<eventId>"`): a replayed event has the same id. */
  readonly id: string;
  readonly eventId: string;
  readonly eventType: string;
  readonly tenantId: string;
  readonly title: string;
  readonly message: string;
  readonly severity: Severity;
  /** e.g. "kanban", "orders", "loops", "recommendations", "system". */
  readonly category: string;
  /** ISO 8601 UTC with milliseconds and "Z". */
  readonly timestamp: string;
  /** The event's place in its stream (the tenant's, or the global one for a `global` subscription). */
  readonly position: string | null;
  /** The event's wire fields, sensitive ones masked as `"[masked]"`. */
  readonly data: Readonly<Record<string, unknown>>;
}

// -- server → client ---------------------------------------------------------------------------------
interface Envelope<T extends string> {
  readonly type: T;
  /** The `messageId` of the request this answers; absent on pushed messages. */
  readonly messageId?: string;
}
export interface AuthenticatedMessage extends Envelope<"authenticated"> {
  readonly payload: { readonly userId: string; readonly tenants: readonly string[]; readonly expiresAt: string };
}
export interface SubscribedMessage extends Envelope<"subscribed"> {
  readonly payload: { readonly tenantId: string; readonly position: string | null; readonly recovered: boolean };
}
export interface UnsubscribedMessage extends Envelope<"unsubscribed"> {
  /** `reason` is set when the server ended the subscription itself (a refreshed token no longer allows it). */
  readonly payload: { readonly tenantId: string; readonly reason?: string };
}
export interface NotificationMessage extends Envelope<"notification"> {
  readonly payload: Notification;
}
export interface AcknowledgedMessage extends Envelope<"acknowledged"> {
  readonly payload: { readonly notificationId: string };
}
export type PongMessage = Envelope<"pong">;
export interface ErrorMessage extends Envelope<"error"> {
  readonly payload: { readonly code: ServerErrorCode; readonly message: string };
}
export type ServerMessage =
  | AuthenticatedMessage
  | SubscribedMessage
  | UnsubscribedMessage
  | NotificationMessage
  | AcknowledgedMessage
  | PongMessage
  | ErrorMessage;
export type ServerMessageType = ServerMessage["type"];

// -- client → server ---------------------------------------------------------------------------------
export interface AuthenticateMessage {
  readonly type: "authenticate";
  readonly payload: { readonly token: string };
  readonly messageId: string;
}
export interface SubscribeMessage {
  readonly type: "subscribe";
  readonly payload: { readonly tenantId: string; readonly since?: string };
  readonly messageId: string;
}
export interface UnsubscribeMessage {
  readonly type: "unsubscribe";
  readonly payload: { readonly tenantId: string };
  readonly messageId: string;
}
export interface AcknowledgeMessage {
  readonly type: "acknowledge";
  readonly payload: { readonly notificationId: string };
  readonly messageId: string;
}
export interface PingMessage {
  readonly type: "ping";
  readonly messageId: string;
}
export type ClientMessage =
  | AuthenticateMessage
  | SubscribeMessage
  | UnsubscribeMessage
  | AcknowledgeMessage
  | PingMessage;

// -- run-time validation -----------------------------------------------------------------------------
export type ParseResult = { readonly ok: true; readonly message: ServerMessage } | { readonly ok: false; readonly error: string };

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const isStr = (v: unknown): v is string => typeof v === "string";
const isStrOrNull = (v: unknown): v is string | null => v === null || typeof v === "string";

class Invalid extends Error {}
function need(condition: boolean, what: string): asserts condition {
  if (!condition) throw new Invalid(what);
}
function str(p: Obj, key: string, where: string): string {
  const v = p[key];
  need(isStr(v), `${where}.${key} must be a string`);
  return v;
}
function strOrNull(p: Obj, key: string, where: string): string | null {
  const v = p[key];
  need(isStrOrNull(v), `${where}.${key} must be a string or null`);
  return v;
}

const guards: { [K in ServerMessageType]: (payload: unknown, where: string) => unknown } = {
  authenticated(p, w) {
    need(isObj(p), `${w} must be an object`);
    const tenants = p["tenants"];
    need(Array.isArray(tenants) && tenants.every(isStr), `${w}.tenants must be a list of strings`);
    return { userId: str(p, "userId", w), tenants: [...tenants], expiresAt: str(p, "expiresAt", w) };
  },
  subscribed(p, w) {
    need(isObj(p), `${w} must be an object`);
    need(typeof p["recovered"] === "boolean", `${w}.recovered must be a boolean`);
    return { tenantId: str(p, "tenantId", w), position: strOrNull(p, "position", w), recovered: p["recovered"] };
  },
  unsubscribed(p, w) {
    need(isObj(p), `${w} must be an object`);
    const tenantId = str(p, "tenantId", w);
    const reason = p["reason"];
    need(reason === undefined || reason === null || isStr(reason), `${w}.reason must be a string`);
    return isStr(reason) ? { tenantId, reason } : { tenantId };
  },
  notification(p, w) {
    need(isObj(p), `${w} must be an object`);
    const severity = p["severity"];
    need(isStr(severity) && (SEVERITIES as readonly string[]).includes(severity), `${w}.severity is not a severity`);
    const data = p["data"];
    need(isObj(data), `${w}.data must be an object`);
    const id = str(p, "id", w);
    need(id.length > 0, `${w}.id must not be empty`);
    const n: Notification = {
      id,
      eventId: str(p, "eventId", w),
      eventType: str(p, "eventType", w),
      tenantId: str(p, "tenantId", w),
      title: str(p, "title", w),
      message: str(p, "message", w),
      severity: severity as Severity,
      category: str(p, "category", w),
      timestamp: str(p, "timestamp", w),
      position: strOrNull(p, "position", w),
      data,
    };
    return n;
  },
  acknowledged(p, w) {
    need(isObj(p), `${w} must be an object`);
    return { notificationId: str(p, "notificationId", w) };
  },
  pong() {
    return undefined;
  },
  error(p, w) {
    need(isObj(p), `${w} must be an object`);
    return { code: str(p, "code", w), message: str(p, "message", w) };
  },
};

/**
 * Parses and validates one inbound frame. Never throws: an invalid frame gives `{ok: false, error}`.
 * Unknown members are ignored (and dropped), as the protocol allows.
 */
export function parseServerFrame(data: unknown): ParseResult {
  if (typeof data !== "string") return { ok: false, error: "binary frame: the protocol uses JSON text frames" };
  let raw: unknown;
  try {
    raw = JSON.parse(data);
  } catch {
    return { ok: false, error: "frame is not valid JSON" };
  }
  try {
    need(isObj(raw), "frame is not a JSON object");
    const type = raw["type"];
    need(isStr(type), "frame has no string `type`");
    need(Object.prototype.hasOwnProperty.call(guards, type), `unknown message type ${JSON.stringify(type).slice(0, 64)}`);
    const messageId = raw["messageId"];
    need(messageId === undefined || messageId === null || isStr(messageId), "`messageId` must be a string");
    const guard = guards[type as ServerMessageType];
    const payload = guard(raw["payload"], `${type}.payload`);
    const message: Record<string, unknown> = { type };
    if (payload !== undefined) message["payload"] = payload;
    if (isStr(messageId)) message["messageId"] = messageId;
    return { ok: true, message: message as unknown as ServerMessage };
  } catch (error) {
    if (error instanceof Invalid) return { ok: false, error: error.message };
    return { ok: false, error: "invalid frame" };
  }
}
