/**
 * The WebSocket messages of docs/protocol.md, both directions, and a run-time guard for every message the
 * server sends. The message types are generated from the Python service's JSON Schemas (`arda protocol`,
 * src/generated/messages.ts), like the event types and the notification union (`arda schema`,
 * src/generated/events.ts and notifications.ts); this module keeps their public names and checks inbound
 * frames against them.
 */
import type { ServerMessage, ServerMessageType, WireNotification } from "./generated/messages.js";
import {
  NOTIFICATION_EVENT_TYPES,
  type KnownNotification,
  type Notification,
  type NotificationEventType,
} from "./generated/notifications.js";

export type {
  AcknowledgedMessage,
  AcknowledgeMessage,
  AuthenticatedMessage,
  AuthenticateMessage,
  ClientMessage,
  ClientMessageType,
  ErrorMessage,
  FilterSpec,
  HistoryMessage,
  HistoryReplyMessage,
  HistoryReplyPayload,
  HistoryRequestPayload,
  NotificationMessage,
  PingMessage,
  PongMessage,
  ServerErrorCode,
  ServerMessage,
  ServerMessageType,
  SubscribedMessage,
  SubscribeMessage,
  UnsubscribedMessage,
  UnsubscribeMessage,
  WireNotification,
} from "./generated/messages.js";
export { CLIENT_MESSAGE_TYPES, SERVER_MESSAGE_TYPES } from "./generated/messages.js";
export type * from "./generated/notifications.js";
export { NOTIFICATION_EVENT_TYPES } from "./generated/notifications.js";

export type Severity = WireNotification["severity"];
/** Every severity, once (a missing or unknown one does not compile). */
const SEVERITY_SET = { info: true, success: true, warning: true, error: true } as const satisfies Record<Severity, true>;
export const SEVERITIES: readonly Severity[] = Object.keys(SEVERITY_SET) as Severity[];

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

/**
 * A count the protocol added later (`subscribed.backlog`): a non-negative integer, 0 when absent (a server
 * from before it, during a rolling upgrade).
 */
function count(p: Obj, key: string, where: string): number {
  const v = p[key];
  if (v === undefined) return 0;
  need(typeof v === "number" && Number.isInteger(v) && v >= 0, `${where}.${key} must be a non-negative integer`);
  return v;
}

/** One notification (a `notification` message's payload, or one of a `history` reply's). */
function notificationPayload(p: unknown, w: string): WireNotification {
  need(isObj(p), `${w} must be an object`);
  const severity = p["severity"];
  need(isStr(severity) && (SEVERITIES as readonly string[]).includes(severity), `${w}.severity is not a severity`);
  const data = p["data"];
  need(isObj(data), `${w}.data must be an object`);
  const id = str(p, "id", w);
  need(id.length > 0, `${w}.id must not be empty`);
  // `read` came with the inbox (issue 13); a server from before it sends none: unread.
  const read = p["read"];
  need(read === undefined || typeof read === "boolean", `${w}.read must be a boolean`);
  return {
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
    stream: str(p, "stream", w),
    data,
    read: read ?? false,
  };
}

/** The payload of one server message type (`undefined` for `pong`, which has none). */
type PayloadOf<T extends ServerMessageType> = Extract<ServerMessage, { type: T }> extends { payload: infer P } ? P : undefined;

/** One guard per message type: it returns the payload typed as the generated message has it, or throws `Invalid`. */
const guards: { [K in ServerMessageType]: (payload: unknown, where: string) => PayloadOf<K> } = {
  authenticated(p, w) {
    need(isObj(p), `${w} must be an object`);
    const tenants = p["tenants"];
    need(Array.isArray(tenants) && tenants.every(isStr), `${w}.tenants must be a list of strings`);
    return { userId: str(p, "userId", w), tenants: [...tenants], expiresAt: str(p, "expiresAt", w) };
  },
  subscribed(p, w) {
    need(isObj(p), `${w} must be an object`);
    need(typeof p["recovered"] === "boolean", `${w}.recovered must be a boolean`);
    return {
      tenantId: str(p, "tenantId", w),
      position: strOrNull(p, "position", w),
      recovered: p["recovered"],
      backlog: count(p, "backlog", w),
    };
  },
  unsubscribed(p, w) {
    need(isObj(p), `${w} must be an object`);
    const tenantId = str(p, "tenantId", w);
    const reason = p["reason"];
    need(reason === undefined || reason === null || isStr(reason), `${w}.reason must be a string`);
    return isStr(reason) ? { tenantId, reason } : { tenantId };
  },
  notification: notificationPayload,
  acknowledged(p, w) {
    need(isObj(p), `${w} must be an object`);
    return { notificationId: str(p, "notificationId", w) };
  },
  history(p, w) {
    need(isObj(p), `${w} must be an object`);
    const list = p["notifications"];
    need(Array.isArray(list), `${w}.notifications must be a list`);
    need(typeof p["hasMore"] === "boolean", `${w}.hasMore must be a boolean`);
    return {
      tenantId: str(p, "tenantId", w),
      notifications: list.map((n: unknown, i) => notificationPayload(n, `${w}.notifications[${i}]`)),
      hasMore: p["hasMore"],
      before: strOrNull(p, "before", w),
    };
  },
  pong: () => undefined,
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

// -- typed notifications ------------------------------------------------------------------------------

const KNOWN_TYPES: ReadonlySet<string> = new Set(NOTIFICATION_EVENT_TYPES);

/** Whether `eventType` is one of the event types this client was generated with. */
export function isKnownEventType(eventType: string): eventType is NotificationEventType {
  return KNOWN_TYPES.has(eventType);
}

/** Whether the notification's event type is one this client knows (its `data` is typed). */
export function isKnownNotification(notification: Notification): notification is KnownNotification {
  return isKnownEventType(notification.eventType);
}

/**
 * A checked wire notification as the typed union: a member of a known event type, whose `data` the service
 * made from an event it validated against the schema this client was generated from, or the unknown member.
 * (Fields a newer publisher added are in `data` too; the schema's rules for evolving a type keep the fields
 * it declares.)
 */
export function typedNotification(notification: WireNotification): Notification {
  return notification as Notification;
}
