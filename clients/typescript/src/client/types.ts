/**
 * The public types of NotificationClient: its options, its events and the snapshot of its store.
 * (Re-exported by src/client.ts; the modules of src/client/ share them.)
 */
import type { BackoffOptions } from "../backoff.js";
import type { Clock, DocumentLike, WebSocketConstructor, WindowLike } from "../environment.js";
import type { NotificationError, NotificationErrorCode, NotificationErrorDetails } from "../errors.js";
import type { Notification } from "../messages.js";
import type { NotificationFilter } from "./filter.js";


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

/**
 * A notification as the client keeps it (frozen): `read` is whether its user read it (the server's read
 * state, or marked read here or on another connection). Narrowing on `eventType` types `data`.
 */
export type ClientNotification = Notification;

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

/** Options of `subscribe(tenantId, options)`. */
export interface SubscribeOptions {
  /** How many of the newest notifications the first subscribe asks for (0–500). Default: the client's `backlog`. */
  readonly backlog?: number | undefined;
  /** Only notifications that match; replaces the tenant's filter. Default: none (every notification). */
  readonly filter?: NotificationFilter | null | undefined;
}

export interface SubscriptionInfo {
  readonly tenantId: string;
  readonly position: string | null;
  readonly recovered: boolean;
}

/** One page of `history()` / `loadMore()`: newest first; `before` is where the next, older page starts. */
export interface HistoryPage {
  readonly tenantId: string;
  readonly notifications: readonly ClientNotification[];
  /** Whether the server has older notifications (then `before` is not null). */
  readonly hasMore: boolean;
  readonly before: string | null;
}

/** A tenant's paging (`loadMore`), in the snapshot. */
export interface HistoryState {
  /** Older notifications can be loaded: the server has more, and the list has room for them. */
  readonly hasMore: boolean;
  /** A `loadMore` page is on its way. */
  readonly loading: boolean;
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
  /**
   * Paging per tenant (`loadMore`), once it started: a first subscribe's answer starts it (a backlog shorter
   * than asked for: nothing older), and every page moves it on.
   */
  readonly history: Readonly<Record<string, HistoryState>>;
  /** The authenticated user (from `authenticated.payload.userId`), once known. */
  readonly userId: string | null;
  /** Messages (acknowledgements) waiting to be sent. */
  readonly queuedMessages: number;
  /** Messages dropped by the send queue's drop policy since the client was created. */
  readonly droppedMessages: number;
}

export interface NotificationClientEvents {
  /**
   * A new notification (not a duplicate) arrived: live, or replayed by a resume (missed while disconnected).
   * Not for a backlog or a history page: those are what was there before.
   */
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
  /**
   * How many of the newest notifications a tenant's first subscribe asks for (0–500), unless `subscribe` says
   * otherwise. Default 0 (live only).
   */
  backlog?: number;
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

/** A store listener (`useSyncExternalStore`'s callback). */
export type Listener = () => void;

/** Records an error in `lastError` and tells the `error` listeners (internal: the modules' way to report). */
export type Report = (code: NotificationErrorCode, message: string, details?: NotificationErrorDetails) => NotificationError;
