/**
 * NotificationClient: one WebSocket connection to the Arda notification service, framework-free.
 *
 * It owns the connection (authenticate first, heartbeats, reconnects with backoff, resume), the
 * subscriptions (as reference-counted state, replayed on every reconnect), and the notification state
 * (bounded, deduplicated, read/unread), exposed as a store for `useSyncExternalStore`.
 * See README.md for the behaviour in prose and docs/protocol.md for the wire protocol.
 */
import { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from "./backoff.js";
import {
  defaultDocument,
  defaultWebSocket,
  defaultWindow,
  systemClock,
  type Clock,
  type DocumentLike,
  type WebSocketConstructor,
  type WebSocketLike,
  type WindowLike,
} from "./environment.js";
import { NotificationError, type NotificationErrorCode, type NotificationErrorDetails } from "./errors.js";
import { CLOSE_CODES, type CloseCode } from "./generated/protocol.js";
import {
  parseServerFrame,
  type AcknowledgeMessage,
  type ClientMessage,
  type ErrorMessage,
  type Notification,
  type ServerMessage,
} from "./messages.js";

// -- public types ------------------------------------------------------------------------------------

/** A token, or a function (possibly async) called for a fresh one on every connection attempt and refresh. */
export type TokenSource = string | (() => string | Promise<string>);

/**
 * - `connecting`   the first connection attempt is under way (never connected yet)
 * - `connected`    open and authenticated
 * - `reconnecting` a connection was lost (or an attempt failed): waiting for or making the next attempt
 * - `offline`      the browser is offline: no attempts until it is back online
 * - `unauthorized` the token was refused even after one fresh one: stopped until `reconnect()`
 * - `closed`       `close()` was called, or the server closed with a "stop" code: stopped until `reconnect()`
 */
export type ConnectionStatus = "connecting" | "connected" | "reconnecting" | "offline" | "unauthorized" | "closed";

/** A notification as the client keeps it: the wire notification plus whether it was read. */
export interface ClientNotification extends Notification {
  readonly read: boolean;
}

export interface SubscriptionState {
  readonly tenantId: string;
  /** `pending` until the server confirms on the current connection; `error` when it refused (see `error`). */
  readonly status: "pending" | "subscribed" | "error";
  /** The last position seen in this subscription's stream (resume continues after it). */
  readonly position: string | null;
  /** The `recovered` flag of the server's last `subscribed` answer (null before the first). */
  readonly recovered: boolean | null;
  readonly error: NotificationError | null;
}

export interface SubscriptionInfo {
  readonly tenantId: string;
  readonly position: string | null;
  readonly recovered: boolean;
}

export interface RecoveryFailedEvent {
  readonly tenantId: string;
  /** The newest position: delivery continues after it; anything before it that was missed is lost here. */
  readonly position: string | null;
}

/** The store's snapshot: immutable, and the same object until something changes. */
export interface NotificationSnapshot {
  readonly status: ConnectionStatus;
  readonly isConnected: boolean;
  /** Newest first, at most `maxNotifications`, each id once. */
  readonly notifications: readonly ClientNotification[];
  readonly unreadCount: number;
  readonly lastError: NotificationError | null;
  /** The subscriptions wanted by this client (reference count > 0), by tenant. */
  readonly subscriptions: Readonly<Record<string, SubscriptionState>>;
  /** Tenants whose resume could not recover the gap (`recovered: false`): reload their state, then `clearRecoveryFailed`. */
  readonly recoveryFailed: readonly string[];
  /** The authenticated user (from `authenticated.payload.userId`), once known. */
  readonly userId: string | null;
  /** Messages (acknowledgements) waiting to be sent. */
  readonly queuedMessages: number;
  /** Messages dropped by the send queue's drop policy since the client was created. */
  readonly droppedMessages: number;
}

export interface NotificationClientEvents {
  /** A new notification (not a duplicate) was added. */
  notification: (notification: ClientNotification) => void;
  /** A resume came back with `recovered: false`: missed notifications are lost; reload from the source of truth. */
  recoveryFailed: (event: RecoveryFailedEvent) => void;
  /** Every error also stored in `lastError`. */
  error: (error: NotificationError) => void;
  status: (status: ConnectionStatus) => void;
}

export interface NotificationClientOptions {
  /** The service's WebSocket endpoint, e.g. `ws://localhost:3001/ws`. */
  url: string;
  token: TokenSource;
  /** The bound of the notification list (newest kept). Default 100. */
  maxNotifications?: number;
  /** The bound of the send queue; when full, the oldest queued message is dropped. Default 100. */
  maxQueuedMessages?: number;
  backoff?: Partial<BackoffOptions>;
  /** Send a `ping` after this long without any inbound frame (ms). Default 25000. */
  pingIntervalMs?: number;
  /** A connection with no frame within this long of a `ping` is dead (wall clock, ms). Default 10000. */
  pongTimeoutMs?: number;
  /** An attempt not open and authenticated within this long is abandoned (ms). Default 15000. */
  connectTimeoutMs?: number;
  /** Re-authenticate this long before the token expires (ms; at most half the token's remaining life). Default 60000. */
  reauthLeadMs?: number;
  /** Pace of queued messages: a token bucket of `burst`, refilled at `perSecond` (the server allows 20/s, burst 40). Default 10/s, burst 20. */
  sendRate?: { perSecond: number; burst: number };
  onNotification?: NotificationClientEvents["notification"];
  onRecoveryFailed?: NotificationClientEvents["recoveryFailed"];
  onError?: NotificationClientEvents["error"];
  onStatus?: NotificationClientEvents["status"];
  // -- injectable environment (tests, Node) --
  /** The WebSocket constructor. Default `globalThis.WebSocket` (in Node 20: pass the `ws` package's). */
  WebSocket?: WebSocketConstructor;
  clock?: Clock;
  /** Uniform in [0, 1). Default `Math.random`. */
  random?: () => number;
  /** `online`/`offline`/`pagehide`/`pageshow` and `navigator.onLine`. Default `window` when there is one; `null` for none. */
  window?: WindowLike | null;
  /** `visibilitychange` and `visibilityState`. Default `document` when there is one; `null` for none. */
  document?: DocumentLike | null;
}

// -- internals ---------------------------------------------------------------------------------------

type Listener = () => void;
type TokenResult = { ok: true; token: string } | { ok: false; error: unknown };
type Request =
  | { kind: "auth" }
  | { kind: "ping" }
  | { kind: "subscribe"; tenantId: string }
  | { kind: "unsubscribe"; tenantId: string }
  | { kind: "ack"; item: QueuedAck };

interface QueuedAck {
  readonly message: AcknowledgeMessage;
  tries: number;
}

interface Waiter<T> {
  resolve(value: T): void;
  reject(error: NotificationError): void;
}

interface TenantEntry {
  readonly tenantId: string;
  refs: number;
  wire: "none" | "subscribing" | "subscribed" | "unsubscribing";
  position: string | null;
  recovered: boolean | null;
  blocked: NotificationError | null;
  retries: number;
  subscribeWaiters: Waiter<SubscriptionInfo>[];
  unsubscribeWaiters: Waiter<void>[];
}

interface Connection {
  readonly id: number;
  readonly ws: WebSocketLike;
  readonly token: Promise<TokenResult>;
  opened: boolean;
  authenticated: boolean;
  /** The messageId of the `authenticate` awaiting its answer. */
  authId: string | null;
  /** A refresh (token fetch + authenticate) is under way. */
  refreshing: boolean;
  readonly requests: Map<string, Request>;
  /** The outstanding ping's messageId and when it was sent (wall clock). */
  pingId: string | null;
  pingSentAt: number;
  lastSeenAt: number;
  expiresAt: number | null;
  reauthAt: number | null;
}

/** Timers by name, one per name; all of them cleared by `clearAll` (so `close()` leaves none). */
class TimerSet {
  private readonly handles = new Map<string, unknown>();
  constructor(private readonly clock: Clock) {}
  set(name: string, callback: () => void, ms: number): void {
    this.clear(name);
    const handle = this.clock.setTimeout(() => {
      if (this.handles.get(name) === handle) this.handles.delete(name);
      callback();
    }, Math.max(0, ms));
    this.handles.set(name, handle);
  }
  clear(name: string): void {
    const handle = this.handles.get(name);
    if (handle !== undefined) {
      this.handles.delete(name);
      this.clock.clearTimeout(handle);
    }
  }
  has(name: string): boolean {
    return this.handles.has(name);
  }
  clearAll(): void {
    for (const name of [...this.handles.keys()]) this.clear(name);
  }
}

/** Token bucket pacing queued messages (control messages consume without waiting). */
class RateLimiter {
  private tokens: number;
  private last: number;
  constructor(
    private readonly perMs: number,
    private readonly burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.last = now;
  }
  private refill(now: number): void {
    this.tokens = Math.min(this.burst, this.tokens + Math.max(0, now - this.last) * this.perMs);
    this.last = now;
  }
  take(now: number): boolean {
    this.refill(now);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
  consume(now: number): void {
    this.refill(now);
    this.tokens = Math.max(0, this.tokens - 1);
  }
  msUntilNext(now: number): number {
    this.refill(now);
    return this.tokens >= 1 ? 0 : Math.ceil((1 - this.tokens) / this.perMs);
  }
}

/** A set that forgets its oldest members beyond `limit` (for seen and read notification ids). */
class BoundedSet {
  private readonly items = new Set<string>();
  constructor(private readonly limit: number) {}
  has(value: string): boolean {
    return this.items.has(value);
  }
  add(value: string): void {
    if (this.items.has(value)) return;
    this.items.add(value);
    if (this.items.size > this.limit) {
      const oldest = this.items.values().next();
      if (!oldest.done) this.items.delete(oldest.value);
    }
  }
}

const STOP_ERRORS = new Set(["unauthorized", "token_expired"]);
const RETRYABLE_ERRORS = new Set(["internal_error", "rate_limited"]);
const MAX_ACK_TRIES = 3;
const MIN_REAUTH_DELAY_MS = 1000;
const noop = (): void => undefined;

function freeze<T extends object>(value: T): T {
  return Object.freeze(value);
}

function asText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function closeCodeInfo(code: number): (typeof CLOSE_CODES)[CloseCode] | undefined {
  return Object.prototype.hasOwnProperty.call(CLOSE_CODES, code) ? CLOSE_CODES[code as CloseCode] : undefined;
}

/**
 * A connection to the notification service with its subscriptions and notification state.
 *
 * Nothing happens until `connect()`. `close()` stops everything (no timer, listener or socket is left);
 * `reconnect()` works in any state, including after `close()` or in `unauthorized`.
 */
export class NotificationClient {
  readonly url: string;
  /** The store for `useSyncExternalStore(client.store.subscribe, client.store.getSnapshot)`. */
  readonly store: {
    readonly subscribe: (listener: Listener) => () => void;
    readonly getSnapshot: () => NotificationSnapshot;
  };

  private token: TokenSource;
  private readonly WS: WebSocketConstructor | undefined;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly window: WindowLike | null;
  private readonly document: DocumentLike | null;
  private readonly backoff: BackoffOptions;
  private readonly maxNotifications: number;
  private readonly maxQueued: number;
  private readonly pingIntervalMs: number;
  private readonly pongTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly reauthLeadMs: number;
  private readonly timers: TimerSet;
  private readonly limiter: RateLimiter;

  // connection
  private conn: Connection | null = null;
  private connSeq = 0;
  private idSeq = 0;
  private started = false;
  private stopped = true;
  private everConnected = false;
  private attempts = 0;
  private authFailures = 0;
  /** The latest token expiry the server confirmed (ms). */
  private bestExpiry: number | null = null;
  private offline = false;
  private hidden = false;
  private frozen = false;
  private envAttached = false;

  // subscriptions and messages
  private readonly tenants = new Map<string, TenantEntry>();
  private readonly recoveryFailed = new Set<string>();
  private readonly queue: QueuedAck[] = [];
  private dropped = 0;

  // notifications
  private items: ClientNotification[] = [];
  private readonly seen: BoundedSet;
  private readonly readIds: BoundedSet;

  // store
  private status: ConnectionStatus = "closed";
  private lastError: NotificationError | null = null;
  private userId: string | null = null;
  private snapshot: NotificationSnapshot;
  private dirty = false;
  private itemsDirty = true;
  private itemsCache: readonly ClientNotification[] = freeze([]);
  private unreadCache = 0;
  private readonly listeners = new Set<Listener>();
  private readonly handlers: { [K in keyof NotificationClientEvents]: Set<NotificationClientEvents[K]> } = {
    notification: new Set(),
    recoveryFailed: new Set(),
    error: new Set(),
    status: new Set(),
  };
  private microtaskQueued = false;
  private notifyPending = false;
  private reconcileAll = false;

  constructor(options: NotificationClientOptions) {
    this.url = options.url;
    this.token = options.token;
    this.WS = options.WebSocket ?? defaultWebSocket();
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.window = options.window === undefined ? defaultWindow() : options.window;
    this.document = options.document === undefined ? defaultDocument() : options.document;
    this.backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    this.maxNotifications = Math.max(1, Math.floor(options.maxNotifications ?? 100));
    this.maxQueued = Math.max(1, Math.floor(options.maxQueuedMessages ?? 100));
    this.pingIntervalMs = options.pingIntervalMs ?? 25_000;
    this.pongTimeoutMs = options.pongTimeoutMs ?? 10_000;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 15_000;
    this.reauthLeadMs = options.reauthLeadMs ?? 60_000;
    const rate = options.sendRate ?? { perSecond: 10, burst: 20 };
    this.timers = new TimerSet(this.clock);
    this.limiter = new RateLimiter(rate.perSecond / 1000, Math.max(1, rate.burst), this.clock.now());
    const bound = Math.max(1000, this.maxNotifications * 10);
    this.seen = new BoundedSet(bound);
    this.readIds = new BoundedSet(bound);
    if (options.onNotification) this.handlers.notification.add(options.onNotification);
    if (options.onRecoveryFailed) this.handlers.recoveryFailed.add(options.onRecoveryFailed);
    if (options.onError) this.handlers.error.add(options.onError);
    if (options.onStatus) this.handlers.status.add(options.onStatus);
    this.snapshot = this.build();
    this.store = freeze({
      subscribe: (listener: Listener) => {
        this.listeners.add(listener);
        return () => {
          this.listeners.delete(listener);
        };
      },
      getSnapshot: () => this.getSnapshot(),
    });
  }

  // -- public API ------------------------------------------------------------------------------------

  /** The current state; the same object until something changes. */
  getSnapshot(): NotificationSnapshot {
    if (this.dirty) {
      this.dirty = false;
      this.snapshot = this.build();
    }
    return this.snapshot;
  }

  /** Listen to an event; returns the function that stops listening. */
  on<K extends keyof NotificationClientEvents>(event: K, handler: NotificationClientEvents[K]): () => void {
    const set = this.handlers[event] as Set<NotificationClientEvents[K]>;
    set.add(handler);
    return () => {
      set.delete(handler);
    };
  }

  /** Replace the token (source) used from the next connection attempt or refresh on. Never reconnects. */
  setToken(token: TokenSource): void {
    this.token = token;
  }

  /** Start connecting (no-op when already started and not stopped). */
  connect(): void {
    if (this.started && !this.stopped) return;
    this.started = true;
    this.stopped = false;
    this.attachEnvironment();
    this.offline = this.window?.navigator?.onLine === false;
    this.hidden = this.document?.visibilityState === "hidden";
    if (this.offline) this.setStatus("offline");
    else this.open();
  }

  /**
   * Reconnect now, whatever the state: closes the current connection if any, resets the backoff and the
   * auth-failure count, and opens a new connection at once (also after `close()`, in `unauthorized`, offline).
   */
  reconnect(): void {
    this.started = true;
    this.stopped = false;
    this.attempts = 0;
    this.authFailures = 0;
    this.frozen = false;
    this.attachEnvironment();
    this.hidden = this.document?.visibilityState === "hidden";
    if (this.conn) this.abandon(this.conn, "reconnect requested");
    this.timers.clear("reconnect");
    this.open();
  }

  /**
   * Close the connection and stop: no timer, event listener or socket is left. State (notifications,
   * subscriptions, queued acknowledgements) is kept; `reconnect()` starts again. Pending
   * `subscribe`/`unsubscribe` promises reject with `client_closed`.
   */
  close(): void {
    this.stop("closed", null);
  }

  /**
   * Want notifications of `tenantId` (reference-counted: the wire `subscribe` is sent once, for the first
   * holder, and replayed with `since` on every reconnect). Resolves with the server's `subscribed` answer;
   * rejects with the server's `error` (e.g. `forbidden`: the subscription is then not retried until
   * `subscribe` is called again), or `client_closed`. Each call must be matched by one `unsubscribe`.
   */
  subscribe(tenantId: string): Promise<SubscriptionInfo> {
    const entry = this.entry(tenantId);
    entry.refs += 1;
    if (entry.blocked) {
      entry.blocked = null;
      entry.retries = 0;
    }
    this.changed();
    this.scheduleReconcile();
    if (entry.wire === "subscribed") {
      return Promise.resolve({ tenantId, position: entry.position, recovered: entry.recovered ?? true });
    }
    if (this.started && this.stopped) {
      return Promise.reject(this.error("client_closed", `the client is ${this.status}`, { tenantId }, false));
    }
    return new Promise((resolve, reject) => entry.subscribeWaiters.push({ resolve, reject }));
  }

  /**
   * Release one hold on `tenantId`. When the last holder releases it, the wire `unsubscribe` is sent (at the
   * end of the current tick, so a release followed by a new hold in the same tick sends nothing) and the
   * promise resolves with the server's `unsubscribed`; otherwise it resolves at once.
   */
  unsubscribe(tenantId: string): Promise<void> {
    const entry = this.tenants.get(tenantId);
    if (!entry || entry.refs === 0) return Promise.resolve();
    entry.refs -= 1;
    this.changed();
    if (entry.refs > 0) return Promise.resolve();
    this.scheduleReconcile();
    return new Promise((resolve, reject) => entry.unsubscribeWaiters.push({ resolve, reject }));
  }

  /**
   * Mark a notification read, at once (optimistic), and acknowledge it to the server, which tells the
   * user's other connections. Sent now when connected, else queued (see the send queue's drop policy).
   */
  markAsRead(notificationId: string): void {
    if (this.readIds.has(notificationId)) return;
    this.setRead(notificationId);
    if (this.queue.some((q) => q.message.payload.notificationId === notificationId)) return;
    this.enqueue({
      message: { type: "acknowledge", payload: { notificationId }, messageId: this.nextId("k") },
      tries: 0,
    });
    this.pump();
  }

  /** `markAsRead` for every unread notification in the list. */
  markAllAsRead(): void {
    for (const item of this.items) if (!item.read) this.markAsRead(item.id);
  }

  /** Empty the notification list (locally). Ids already seen stay deduplicated. */
  clearNotifications(): void {
    if (this.items.length === 0) return;
    this.items = [];
    this.itemsDirty = true;
    this.changed();
  }

  /** Forget the `recovered: false` flag of one tenant (or of all), once the app has reloaded its state. */
  clearRecoveryFailed(tenantId?: string): void {
    const had = tenantId === undefined ? this.recoveryFailed.size > 0 : this.recoveryFailed.has(tenantId);
    if (!had) return;
    if (tenantId === undefined) this.recoveryFailed.clear();
    else this.recoveryFailed.delete(tenantId);
    this.changed();
  }

  // -- connection ------------------------------------------------------------------------------------

  private open(): void {
    this.timers.clear("reconnect");
    const WS = this.WS;
    this.setStatus(this.everConnected ? "reconnecting" : "connecting");
    if (this.stopped) return; // a status listener closed the client
    if (!WS) {
      this.stop("closed", this.error("connection_failed", "no WebSocket implementation: pass options.WebSocket"));
      return;
    }
    let ws: WebSocketLike;
    try {
      ws = new WS(this.url);
    } catch (error) {
      this.error("connection_failed", `could not open ${this.url}: ${asText(error)}`);
      this.scheduleReconnect();
      return;
    }
    const conn: Connection = {
      id: ++this.connSeq,
      ws,
      token: this.fetchToken(),
      opened: false,
      authenticated: false,
      authId: null,
      refreshing: false,
      requests: new Map(),
      pingId: null,
      pingSentAt: 0,
      lastSeenAt: this.clock.now(),
      expiresAt: null,
      reauthAt: null,
    };
    this.conn = conn;
    ws.onopen = () => {
      if (this.conn === conn) void this.onOpen(conn);
    };
    ws.onmessage = (event) => {
      if (this.conn === conn) this.onFrame(conn, event.data);
    };
    ws.onerror = () => {
      // A `close` event always follows; the close handler decides what to do.
    };
    ws.onclose = (event) => {
      if (this.conn === conn) this.onClose(conn, event.code, event.reason);
    };
    this.timers.set("connect", () => this.onConnectTimeout(conn), this.connectTimeoutMs);
  }

  private fetchToken(): Promise<TokenResult> {
    const source = this.token;
    return (async (): Promise<TokenResult> => {
      try {
        const token = typeof source === "function" ? await source() : source;
        if (typeof token !== "string" || token.length === 0) {
          return { ok: false, error: new Error("the token function returned no token") };
        }
        return { ok: true, token };
      } catch (error) {
        return { ok: false, error };
      }
    })();
  }

  private async onOpen(conn: Connection): Promise<void> {
    conn.opened = true;
    conn.lastSeenAt = this.clock.now();
    this.armHeartbeat(conn, this.pingIntervalMs);
    const result = await conn.token;
    if (this.conn !== conn) return; // abandoned (or the client closed) while the token was on its way
    if (!result.ok) {
      this.error("token_unavailable", `no token: ${asText(result.error)}`);
      this.abandon(conn, "no token");
      this.scheduleReconnect();
      return;
    }
    this.sendAuthenticate(conn, result.token);
  }

  private sendAuthenticate(conn: Connection, token: string): void {
    const messageId = this.nextId("a");
    conn.authId = messageId;
    conn.requests.set(messageId, { kind: "auth" });
    this.send(conn, { type: "authenticate", payload: { token }, messageId });
  }

  private onConnectTimeout(conn: Connection): void {
    if (this.conn !== conn || conn.authenticated) return;
    this.error("connect_timeout", `not connected and authenticated within ${this.connectTimeoutMs} ms`);
    this.abandon(conn, "connect timeout");
    this.scheduleReconnect();
  }

  private onClose(conn: Connection, code: number, reason: string): void {
    this.teardown(conn);
    const info = closeCodeInfo(code);
    const text = reason || info?.meaning || "the connection closed";
    const error = this.error("connection_closed", `closed (${code}${info ? ` ${info.name}` : ""}): ${text}`, {
      closeCode: code,
    });
    if (code === 4001) {
      this.stop("unauthorized", error);
      return;
    }
    if (info?.name === "revoked") {
      // The user's access was revoked: only a token issued after it works, so this takes a new sign-in.
      this.stop("unauthorized", this.error("revoked", `access revoked: ${text}`, { closeCode: code }));
      return;
    }
    if (info?.action === "stop") {
      this.stop("closed", error);
      return;
    }
    if (code === 4002) {
      // The token expired unrefreshed: reconnecting fetches a fresh one, but only once in a row.
      this.authFailures += 1;
      if (this.authFailures >= 2) {
        this.stop("unauthorized", error);
        return;
      }
    }
    if (code === 1013 || code === 4005) this.attempts = Math.max(this.attempts, 3); // "back off"
    this.scheduleReconnect();
  }

  /** Forget a connection: its events are ignored from now on, its socket is closed, its timers cleared. */
  private abandon(conn: Connection, reason: string): void {
    if (this.conn === conn) this.teardown(conn);
    const ws = conn.ws;
    // No-ops rather than null: some implementations (the `ws` package) throw on an unhandled `error`.
    ws.onopen = noop;
    ws.onmessage = noop;
    ws.onerror = noop;
    ws.onclose = noop;
    try {
      ws.close(1000, reason);
    } catch {
      // already closed or closing
    }
  }

  /** The connection is gone: clear its timers, put its unanswered acknowledgements back in the queue. */
  private teardown(conn: Connection): void {
    if (this.conn !== conn) return;
    this.conn = null;
    for (const name of ["connect", "heartbeat", "stable", "reauth", "pump"]) this.timers.clear(name);
    const unanswered: QueuedAck[] = [];
    for (const request of conn.requests.values()) if (request.kind === "ack") unanswered.push(request.item);
    conn.requests.clear();
    if (unanswered.length) {
      this.queue.unshift(...unanswered); // re-sent first, with the same messageIds
      this.trimQueue();
      this.changed();
    }
    for (const entry of [...this.tenants.values()]) {
      this.timers.clear(`retry:${entry.tenantId}`);
      if (entry.wire !== "none") {
        entry.wire = "none";
        this.changed();
      }
      this.settleUnwanted(entry);
    }
  }

  private scheduleReconnect(immediate = false): void {
    if (this.stopped) return;
    this.timers.clear("reconnect");
    if (this.offline) {
      this.setStatus("offline");
      return;
    }
    this.setStatus(this.everConnected ? "reconnecting" : "connecting");
    if (this.hidden || this.frozen) return; // suspended: a visible page (or pageshow) probes
    const delay = immediate ? 0 : backoffDelay(this.attempts, this.backoff, this.random);
    this.attempts += 1;
    if (immediate) this.open();
    else this.timers.set("reconnect", () => this.open(), delay);
  }

  private stop(status: "closed" | "unauthorized", error: NotificationError | null): void {
    this.stopped = true;
    if (this.conn) this.abandon(this.conn, status);
    this.timers.clearAll();
    this.detachEnvironment();
    this.setStatus(status);
    const reason = error ?? new NotificationError("client_closed", "the client was closed");
    for (const entry of [...this.tenants.values()]) {
      for (const w of entry.subscribeWaiters.splice(0)) w.reject(reason);
      this.settleUnwanted(entry);
    }
  }

  // -- authentication --------------------------------------------------------------------------------

  private onAuthenticated(conn: Connection, payload: { userId: string; expiresAt: string }, messageId?: string): void {
    if (messageId !== undefined) conn.requests.delete(messageId);
    if (conn.authId === messageId || messageId === undefined) conn.authId = null;
    const first = !conn.authenticated;
    const previousExpiry = conn.expiresAt;
    conn.authenticated = true;
    conn.refreshing = false;
    const expiresAt = Date.parse(payload.expiresAt);
    // Only a token that lasts longer than any before counts as fresh: the server accepts an expired token
    // within its leeway, and resetting the count on that would let warning → refresh → warning loop.
    if (!Number.isFinite(expiresAt) || this.bestExpiry === null || expiresAt > this.bestExpiry) {
      this.authFailures = 0;
      if (Number.isFinite(expiresAt)) this.bestExpiry = expiresAt;
    }
    this.offline = false; // evidently not (after a reconnect() forced while the browser said offline)
    if (this.userId !== payload.userId) {
      this.userId = payload.userId;
      this.changed();
    }
    conn.expiresAt = Number.isFinite(expiresAt) ? expiresAt : null;
    this.scheduleReauth(conn, previousExpiry);
    if (!first) return;
    this.timers.clear("connect");
    this.everConnected = true;
    this.setStatus("connected");
    this.timers.set("stable", () => (this.attempts = 0), this.backoff.stableMs);
    // Subscriptions first (with `since`), then whatever was queued: the server handles them in order.
    for (const entry of this.tenants.values()) this.reconcile(entry);
    this.pump();
  }

  private scheduleReauth(conn: Connection, previousExpiry: number | null): void {
    this.timers.clear("reauth");
    conn.reauthAt = null;
    const expiresAt = conn.expiresAt;
    if (expiresAt === null) return;
    // A refresh that did not extend the token (a fixed string token) is not repeated: the server's
    // `token_expired` warning then gets one more try, and 4002 ends it.
    if (previousExpiry !== null && expiresAt <= previousExpiry) return;
    const now = this.clock.now();
    const life = expiresAt - now;
    if (life <= 0) return;
    const lead = Math.min(this.reauthLeadMs, life / 2);
    const delay = Math.max(MIN_REAUTH_DELAY_MS, life - lead); // never a refresh loop, even for short tokens
    conn.reauthAt = now + delay;
    this.timers.set("reauth", () => void this.refreshAuth(conn), delay);
  }

  /** Re-authenticate on the open connection with a fresh token (before expiry, or after `token_expired`). */
  private async refreshAuth(conn: Connection): Promise<void> {
    if (this.conn !== conn || !conn.authenticated || conn.refreshing) return;
    conn.refreshing = true;
    conn.reauthAt = null;
    this.timers.clear("reauth");
    const result = await this.fetchToken();
    if (this.conn !== conn) return;
    if (!result.ok) {
      conn.refreshing = false;
      this.error("token_unavailable", `no token for the refresh: ${asText(result.error)}`);
      // Try again while the token is still valid (the server's `token_expired` warning gives one more chance).
      const left = (conn.expiresAt ?? 0) - this.clock.now();
      if (left > 2 * MIN_REAUTH_DELAY_MS) {
        const delay = Math.min(30_000, left / 2);
        conn.reauthAt = this.clock.now() + delay;
        this.timers.set("reauth", () => void this.refreshAuth(conn), delay);
      }
      return;
    }
    this.sendAuthenticate(conn, result.token);
  }

  /** `unauthorized`/`token_expired`: get a fresh token once; a second failure in a row stops in `unauthorized`. */
  private onAuthFailure(conn: Connection, error: NotificationError): void {
    conn.refreshing = false;
    this.authFailures += 1;
    if (this.authFailures >= 2) {
      this.stop("unauthorized", error);
      return;
    }
    if (conn.authenticated) {
      void this.refreshAuth(conn); // the current token stays in force until it ends
    } else {
      this.abandon(conn, "authentication failed"); // the server closes it anyway (4001/4002)
      this.open();
    }
  }

  // -- heartbeats ------------------------------------------------------------------------------------

  private armHeartbeat(conn: Connection, ms: number): void {
    this.timers.set("heartbeat", () => this.heartbeat(conn), ms);
  }

  private heartbeat(conn: Connection): void {
    if (this.conn !== conn) return;
    const now = this.clock.now();
    if (conn.pingId !== null) {
      const waited = now - conn.pingSentAt;
      if (waited >= this.pongTimeoutMs) {
        this.dead(conn);
        return;
      }
      this.armHeartbeat(conn, this.pongTimeoutMs - waited);
      return;
    }
    const idle = now - conn.lastSeenAt;
    if (idle >= this.pingIntervalMs) this.ping(conn);
    else this.armHeartbeat(conn, this.pingIntervalMs - idle);
  }

  private ping(conn: Connection): void {
    const messageId = this.nextId("p");
    conn.pingId = messageId;
    conn.pingSentAt = this.clock.now();
    conn.requests.set(messageId, { kind: "ping" });
    this.send(conn, { type: "ping", messageId });
    this.armHeartbeat(conn, this.pongTimeoutMs);
  }

  /** No answer in time: drop the socket without waiting for its `close` and reconnect at once. */
  private dead(conn: Connection): void {
    this.error("heartbeat_timeout", `no answer within ${this.pongTimeoutMs} ms of a ping: the connection is dead`);
    this.abandon(conn, "heartbeat timeout");
    this.scheduleReconnect(true);
  }

  /** Check the connection now (page visible again, back online): wall-clock deadlines, then a ping. */
  private probe(): void {
    if (this.stopped) return;
    const conn = this.conn;
    if (!conn) {
      // Suspended (hidden, pagehide): try now. A backoff timer already running is left alone.
      if (!this.offline && !this.hidden && !this.frozen && !this.timers.has("reconnect")) this.open();
      return;
    }
    if (!conn.authenticated) return; // an attempt is under way; its own deadline applies
    const now = this.clock.now();
    if (conn.pingId !== null) {
      if (now - conn.pingSentAt >= this.pongTimeoutMs) this.dead(conn);
      return;
    }
    this.ping(conn);
    if (conn.reauthAt !== null && now >= conn.reauthAt) void this.refreshAuth(conn);
  }

  // -- environment -----------------------------------------------------------------------------------

  private readonly onOnline = (): void => {
    if (this.stopped || !this.offline) return;
    this.offline = false;
    if (!this.conn) {
      this.timers.clear("reconnect");
      this.open(); // at once
    } else this.probe();
  };

  private readonly onOffline = (): void => {
    if (this.stopped) return;
    this.offline = true;
    if (this.conn) this.abandon(this.conn, "offline");
    this.timers.clear("reconnect");
    this.setStatus("offline");
  };

  private readonly onVisibility = (): void => {
    if (this.stopped) return;
    this.hidden = this.document?.visibilityState === "hidden";
    if (this.hidden) this.timers.clear("reconnect"); // suspended until visible
    else this.probe();
  };

  private readonly onPageHide = (): void => {
    // Entering the back/forward cache (or unloading): an open socket would keep the page out of the cache.
    if (this.stopped) return;
    this.frozen = true;
    if (this.conn) this.abandon(this.conn, "pagehide");
    this.timers.clear("reconnect");
    this.setStatus(this.everConnected ? "reconnecting" : "connecting");
  };

  private readonly onPageShow = (): void => {
    if (this.stopped || !this.frozen) return;
    this.frozen = false;
    this.probe();
  };

  private attachEnvironment(): void {
    if (this.envAttached) return;
    this.envAttached = true;
    this.window?.addEventListener("online", this.onOnline);
    this.window?.addEventListener("offline", this.onOffline);
    this.window?.addEventListener("pagehide", this.onPageHide);
    this.window?.addEventListener("pageshow", this.onPageShow);
    this.document?.addEventListener("visibilitychange", this.onVisibility);
  }

  private detachEnvironment(): void {
    if (!this.envAttached) return;
    this.envAttached = false;
    this.window?.removeEventListener("online", this.onOnline);
    this.window?.removeEventListener("offline", this.onOffline);
    this.window?.removeEventListener("pagehide", this.onPageHide);
    this.window?.removeEventListener("pageshow", this.onPageShow);
    this.document?.removeEventListener("visibilitychange", this.onVisibility);
  }

  // -- inbound ---------------------------------------------------------------------------------------

  private onFrame(conn: Connection, data: unknown): void {
    conn.lastSeenAt = this.clock.now();
    if (conn.pingId !== null) {
      conn.requests.delete(conn.pingId);
      conn.pingId = null; // any frame proves the connection alive
      this.armHeartbeat(conn, this.pingIntervalMs);
    }
    const parsed = parseServerFrame(data);
    if (!parsed.ok) {
      this.error("invalid_frame", `invalid frame ignored: ${parsed.error}`);
      return;
    }
    try {
      this.dispatch(conn, parsed.message);
    } catch (error) {
      // Defensive: nothing inbound may throw out of the socket's event handler.
      this.error("invalid_frame", `frame could not be handled: ${asText(error)}`);
    }
  }

  private dispatch(conn: Connection, message: ServerMessage): void {
    switch (message.type) {
      case "authenticated":
        this.onAuthenticated(conn, message.payload, message.messageId);
        return;
      case "subscribed":
        this.onSubscribed(conn, message.payload, message.messageId);
        return;
      case "unsubscribed":
        this.onUnsubscribed(conn, message.payload, message.messageId);
        return;
      case "notification":
        this.onNotification(message.payload);
        return;
      case "acknowledged": {
        const request = message.messageId === undefined ? undefined : conn.requests.get(message.messageId);
        if (request?.kind === "ack" && message.messageId !== undefined) conn.requests.delete(message.messageId);
        this.setRead(message.payload.notificationId);
        return;
      }
      case "pong":
        if (message.messageId !== undefined) conn.requests.delete(message.messageId);
        return;
      case "error":
        this.onServerError(conn, message);
        return;
    }
  }

  private onServerError(conn: Connection, message: ErrorMessage): void {
    const { code, message: text } = message.payload;
    const messageId = message.messageId;
    const request = messageId === undefined ? undefined : conn.requests.get(messageId);
    if (messageId !== undefined) conn.requests.delete(messageId);
    const tenantId = request?.kind === "subscribe" || request?.kind === "unsubscribe" ? request.tenantId : undefined;
    const details: NotificationErrorDetails = {
      ...(messageId !== undefined ? { messageId } : {}),
      ...(tenantId !== undefined ? { tenantId } : {}),
    };
    const error = this.error(code, text, details);
    if (STOP_ERRORS.has(code) && (request === undefined || request.kind === "auth")) {
      if (request?.kind === "auth") conn.authId = null;
      this.onAuthFailure(conn, error);
      return;
    }
    if (!request) return;
    switch (request.kind) {
      case "subscribe":
        this.onSubscribeError(request.tenantId, error);
        return;
      case "unsubscribe": {
        const entry = this.tenants.get(request.tenantId);
        if (!entry) return;
        entry.wire = code === "not_subscribed" ? "none" : "subscribed";
        if (code !== "not_subscribed") for (const w of entry.unsubscribeWaiters.splice(0)) w.reject(error);
        this.changed();
        this.reconcile(entry);
        return;
      }
      case "ack": {
        const item = request.item;
        if (RETRYABLE_ERRORS.has(code) && item.tries + 1 < MAX_ACK_TRIES) {
          item.tries += 1;
          this.queue.unshift(item); // same messageId; the pump waits a second before going on
          this.trimQueue();
          this.changed();
          this.timers.set("pump", () => this.pump(), 1000);
        }
        return;
      }
      case "auth":
      case "ping":
        return;
    }
  }

  private onSubscribed(
    conn: Connection,
    payload: { tenantId: string; position: string | null; recovered: boolean },
    messageId?: string,
  ): void {
    if (messageId !== undefined) conn.requests.delete(messageId);
    const entry = this.tenants.get(payload.tenantId);
    if (!entry) return;
    entry.wire = "subscribed";
    entry.retries = 0;
    if (payload.position !== null) entry.position = payload.position;
    if (payload.position !== null || entry.recovered === null) entry.recovered = payload.recovered;
    this.changed();
    if (!payload.recovered) {
      this.recoveryFailed.add(payload.tenantId);
      this.emit("recoveryFailed", freeze({ tenantId: payload.tenantId, position: payload.position }));
    }
    const info: SubscriptionInfo = freeze({ tenantId: payload.tenantId, position: entry.position, recovered: payload.recovered });
    for (const w of entry.subscribeWaiters.splice(0)) w.resolve(info);
    this.reconcile(entry); // released meanwhile?
  }

  private onSubscribeError(tenantId: string, error: NotificationError): void {
    const entry = this.tenants.get(tenantId);
    if (!entry) return;
    entry.wire = "none";
    for (const w of entry.subscribeWaiters.splice(0)) w.reject(error);
    if (RETRYABLE_ERRORS.has(error.code)) {
      // "retry later" / "slow down": try again after a backoff delay (per tenant), on this connection.
      const delay = backoffDelay(entry.retries, this.backoff, this.random);
      entry.retries += 1;
      this.timers.set(`retry:${tenantId}`, () => this.reconcile(entry), delay);
    } else {
      entry.blocked = error; // forbidden, invalid: not retried until subscribe() is called again
    }
    this.changed();
    this.settleUnwanted(entry);
  }

  private onUnsubscribed(conn: Connection, payload: { tenantId: string; reason?: string }, messageId?: string): void {
    if (messageId !== undefined) conn.requests.delete(messageId);
    const entry = this.tenants.get(payload.tenantId);
    if (!entry) return;
    entry.wire = "none";
    if (payload.reason !== undefined) {
      entry.blocked = this.error("unsubscribed_by_server", `subscription to ${payload.tenantId} ended: ${payload.reason}`, {
        tenantId: payload.tenantId,
      });
    }
    this.changed();
    this.reconcile(entry);
  }

  private onNotification(notification: Notification): void {
    this.advancePosition(notification);
    if (this.seen.has(notification.id)) return; // a duplicate (replay, or a second subscription)
    this.seen.add(notification.id);
    const item: ClientNotification = freeze({ ...notification, read: this.readIds.has(notification.id) });
    this.items.unshift(item);
    if (this.items.length > this.maxNotifications) this.items.length = this.maxNotifications;
    this.itemsDirty = true;
    this.changed();
    this.emit("notification", item);
  }

  /**
   * Remember the position of the stream that delivered the notification. A notification carries its tenant,
   * not its subscription: when both that tenant and `global` are subscribed, the stream is ambiguous and no
   * position moves (resume then replays a little more, and duplicates are dropped by id).
   */
  private advancePosition(n: Notification): void {
    if (n.position === null) return;
    const live = (e: TenantEntry | undefined): e is TenantEntry => e !== undefined && e.wire !== "none";
    const own = this.tenants.get(n.tenantId);
    const global = n.tenantId === "global" ? undefined : this.tenants.get("global");
    const target = live(own) && !live(global) ? own : !live(own) && live(global) ? global : undefined;
    if (target && target.position !== n.position) {
      target.position = n.position;
      this.changed();
    }
  }

  private setRead(notificationId: string): void {
    const wasRead = this.readIds.has(notificationId);
    this.readIds.add(notificationId);
    if (wasRead) return;
    const index = this.items.findIndex((n) => n.id === notificationId);
    const current = index >= 0 ? this.items[index] : undefined;
    if (current && !current.read) {
      this.items[index] = freeze({ ...current, read: true });
      this.itemsDirty = true;
      this.changed();
    }
  }

  // -- subscriptions ---------------------------------------------------------------------------------

  private entry(tenantId: string): TenantEntry {
    let entry = this.tenants.get(tenantId);
    if (!entry) {
      entry = {
        tenantId,
        refs: 0,
        wire: "none",
        position: null,
        recovered: null,
        blocked: null,
        retries: 0,
        subscribeWaiters: [],
        unsubscribeWaiters: [],
      };
      this.tenants.set(tenantId, entry);
    }
    return entry;
  }

  private scheduleReconcile(): void {
    this.reconcileAll = true;
    this.queueMicrotask();
  }

  /** Bring the wire in line with the state of one tenant (at most one request in flight per tenant). */
  private reconcile(entry: TenantEntry): void {
    const conn = this.conn;
    if (entry.refs > 0) for (const w of entry.unsubscribeWaiters.splice(0)) w.resolve(); // held again
    const wanted = entry.refs > 0 && entry.blocked === null;
    if (conn?.authenticated && !this.timers.has(`retry:${entry.tenantId}`)) {
      if (wanted && entry.wire === "none") {
        const messageId = this.nextId("s");
        entry.wire = "subscribing";
        conn.requests.set(messageId, { kind: "subscribe", tenantId: entry.tenantId });
        const payload = entry.position === null ? { tenantId: entry.tenantId } : { tenantId: entry.tenantId, since: entry.position };
        this.send(conn, { type: "subscribe", payload, messageId });
        this.changed();
      } else if (!wanted && entry.refs === 0 && entry.wire === "subscribed") {
        const messageId = this.nextId("u");
        entry.wire = "unsubscribing";
        conn.requests.set(messageId, { kind: "unsubscribe", tenantId: entry.tenantId });
        this.send(conn, { type: "unsubscribe", payload: { tenantId: entry.tenantId }, messageId });
        this.changed();
      }
    }
    this.settleUnwanted(entry);
  }

  /** A tenant nobody holds and that is off the wire: settle its promises and forget it. */
  private settleUnwanted(entry: TenantEntry): void {
    if (entry.refs > 0 || entry.wire !== "none") return;
    for (const w of entry.unsubscribeWaiters.splice(0)) w.resolve();
    const cancelled = new NotificationError("cancelled", `subscription to ${entry.tenantId} released`, {
      tenantId: entry.tenantId,
    });
    for (const w of entry.subscribeWaiters.splice(0)) w.reject(cancelled);
    this.timers.clear(`retry:${entry.tenantId}`);
    if (this.tenants.get(entry.tenantId) === entry) {
      this.tenants.delete(entry.tenantId);
      this.changed();
    }
  }

  // -- outbound --------------------------------------------------------------------------------------

  private send(conn: Connection, message: ClientMessage): void {
    if (message.type !== "acknowledge") this.limiter.consume(this.clock.now());
    try {
      conn.ws.send(JSON.stringify(message));
    } catch (error) {
      // The socket is not open after all: treat it as dead.
      this.error("connection_failed", `send failed: ${asText(error)}`);
      if (this.conn === conn) {
        this.abandon(conn, "send failed");
        this.scheduleReconnect();
      }
    }
  }

  /** Drop policy: the queue holds at most `maxQueuedMessages`; beyond that the OLDEST messages are dropped. */
  private enqueue(item: QueuedAck): void {
    this.queue.push(item);
    this.trimQueue();
    this.changed();
  }

  private trimQueue(): void {
    const excess = this.queue.length - this.maxQueued;
    if (excess <= 0) return;
    const dropped = this.queue.splice(0, excess);
    this.dropped += dropped.length;
    this.error(
      "send_queue_overflow",
      `send queue full (${this.maxQueued}): dropped the oldest ${dropped.length} message(s): ` +
        dropped.map((d) => d.message.payload.notificationId).join(", "),
    );
  }

  /** Send queued messages, paced by the rate limiter, once the connection is authenticated. */
  private pump(): void {
    const conn = this.conn;
    if (!conn?.authenticated || this.timers.has("pump")) return;
    const now = this.clock.now();
    while (this.queue.length > 0) {
      if (!this.limiter.take(now)) {
        this.timers.set("pump", () => this.pump(), this.limiter.msUntilNext(now));
        break;
      }
      const item = this.queue.shift() as QueuedAck;
      conn.requests.set(item.message.messageId, { kind: "ack", item });
      this.send(conn, item.message);
      this.changed();
      if (this.conn !== conn) return;
    }
  }

  // -- store -----------------------------------------------------------------------------------------

  private nextId(prefix: string): string {
    this.idSeq += 1;
    return `${prefix}${this.idSeq}`;
  }

  private setStatus(status: ConnectionStatus): void {
    if (this.status === status) return;
    this.status = status;
    this.changed();
    this.emit("status", status);
  }

  /** Record an error in `lastError` (and tell `error` listeners). Returns it. */
  private error(code: NotificationErrorCode, message: string, details: NotificationErrorDetails = {}, record = true): NotificationError {
    const error = new NotificationError(code, message, details);
    if (record) {
      this.lastError = error;
      this.changed();
      this.emit("error", error);
    }
    return error;
  }

  private emit<K extends keyof NotificationClientEvents>(event: K, ...args: Parameters<NotificationClientEvents[K]>): void {
    for (const handler of [...this.handlers[event]]) {
      try {
        (handler as (...a: Parameters<NotificationClientEvents[K]>) => void)(...args);
      } catch (error) {
        queueMicrotask(() => {
          throw error; // surfaced as an uncaught error, without breaking the client
        });
      }
    }
  }

  /** Mark the snapshot stale; listeners are told once, at the end of the current tick (coalesced). */
  private changed(): void {
    this.dirty = true;
    this.notifyPending = true;
    this.queueMicrotask();
  }

  private queueMicrotask(): void {
    if (this.microtaskQueued) return;
    this.microtaskQueued = true;
    queueMicrotask(() => {
      this.microtaskQueued = false;
      if (this.reconcileAll) {
        this.reconcileAll = false;
        for (const entry of [...this.tenants.values()]) this.reconcile(entry);
      }
      if (this.notifyPending) {
        this.notifyPending = false;
        for (const listener of [...this.listeners]) {
          try {
            listener();
          } catch (error) {
            queueMicrotask(() => {
              throw error;
            });
          }
        }
      }
    });
  }

  private build(): NotificationSnapshot {
    if (this.itemsDirty) {
      this.itemsDirty = false;
      this.itemsCache = freeze(this.items.slice());
      this.unreadCache = this.items.reduce((n, item) => n + (item.read ? 0 : 1), 0);
    }
    const subscriptions: Record<string, SubscriptionState> = {};
    for (const e of this.tenants.values()) {
      if (e.refs === 0) continue;
      subscriptions[e.tenantId] = freeze({
        tenantId: e.tenantId,
        status: e.blocked ? "error" : e.wire === "subscribed" ? "subscribed" : "pending",
        position: e.position,
        recovered: e.recovered,
        error: e.blocked,
      });
    }
    return freeze({
      status: this.status,
      isConnected: this.status === "connected",
      notifications: this.itemsCache,
      unreadCount: this.unreadCache,
      lastError: this.lastError,
      subscriptions: freeze(subscriptions),
      recoveryFailed: freeze([...this.recoveryFailed]),
      userId: this.userId,
      queuedMessages: this.queue.length,
      droppedMessages: this.dropped,
    });
  }
}
