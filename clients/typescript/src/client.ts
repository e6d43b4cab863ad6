/**
 * NotificationClient: one WebSocket connection to the Arda notification service, framework-free.
 *
 * A thin composition of the parts in src/client/: the connection (authenticate first, heartbeats, reconnects
 * with backoff, the page's lifecycle), the subscriptions (reference-counted state, a first backlog, replayed
 * with `since` and their filter on every reconnect), the inbox (history pages and paging), the send queue of
 * acknowledgements (bounded, paced), and the notification list (bounded, deduplicated, read/unread), exposed
 * as a store for `useSyncExternalStore`.
 * See README.md for the behaviour in prose and docs/protocol.md for the wire protocol.
 */
import type { Clock } from "./environment.js";
import { NotificationError, type NotificationErrorDetails } from "./errors.js";
import { typedNotification, type ErrorMessage, type ServerMessage, type WireNotification } from "./messages.js";
import { Connection } from "./client/connection.js";
import { Emitter } from "./client/emitter.js";
import { canonicalFilter, clampBacklog, subscribePayload } from "./client/filter.js";
import type { HistoryOptions } from "./client/history.js";
import { Inbox } from "./client/inbox.js";
import { NotificationList } from "./client/notifications.js";
import { ACK_RETRY_DELAY_MS, MAX_ACK_TRIES, resolveOptions } from "./client/options.js";
import { Outbox, type QueuedAck } from "./client/outbox.js";
import { errorAction } from "./client/policy.js";
import { RateLimiter } from "./client/rate-limiter.js";
import { MessageIds, type Socket } from "./client/socket.js";
import { Store } from "./client/store.js";
import { Subscriptions, type SubscriptionWire } from "./client/subscriptions.js";
import { TimerSet } from "./client/timers.js";
import type {
  HistoryPage,
  Listener,
  NotificationClientEvents,
  NotificationClientOptions,
  NotificationSnapshot,
  Report,
  SubscribeOptions,
  SubscriptionInfo,
  TokenSource,
} from "./client/types.js";

export type { NotificationFilter } from "./client/filter.js";
export type { HistoryOptions } from "./client/history.js";
export type {
  ClientNotification,
  ConnectionStatus,
  HistoryPage,
  HistoryState,
  NotificationClientEvents,
  NotificationClientOptions,
  NotificationSnapshot,
  RecoveryFailedEvent,
  SubscribeOptions,
  SubscriptionInfo,
  SubscriptionState,
  TokenSource,
} from "./client/types.js";

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

  private readonly clock: Clock;
  private readonly timers: TimerSet;
  private readonly limiter: RateLimiter;
  private readonly ids = new MessageIds();
  private readonly events = new Emitter<NotificationClientEvents>();
  private readonly snapshots: Store<NotificationSnapshot>;
  private readonly connection: Connection;
  private readonly subscriptions: Subscriptions;
  private readonly outbox: Outbox;
  private readonly list: NotificationList;
  private lastError: NotificationError | null = null;
  private readonly inbox: Inbox;
  private readonly defaultBacklog: number;

  constructor(options: NotificationClientOptions) {
    const settings = resolveOptions(options);
    const { clock } = settings;
    this.url = settings.url;
    this.defaultBacklog = settings.backlog;
    this.clock = clock;
    this.timers = new TimerSet(clock);
    this.limiter = new RateLimiter(settings.sendRate, clock.now());
    this.list = new NotificationList(settings.maxNotifications);
    this.snapshots = new Store({ build: () => this.build(), atEndOfTick: () => this.subscriptions.flush() });
    this.store = this.snapshots.api;
    this.outbox = new Outbox({
      capacity: settings.maxQueuedMessages,
      maxTries: MAX_ACK_TRIES,
      onDrop: (dropped) =>
        this.report(
          "send_queue_overflow",
          `send queue full (${settings.maxQueuedMessages}): dropped the oldest ${dropped.length} message(s): ` +
            dropped.map((d) => d.message.payload.notificationId).join(", "),
        ),
    });
    this.connection = new Connection({
      settings,
      timers: this.timers,
      limiter: this.limiter,
      ids: this.ids,
      report: this.report,
      hooks: {
        message: (socket, message) => this.dispatch(socket, message),
        ready: () => {
          // Subscriptions first (with `since`, and their filters, which history pages follow), then history
          // requests, then whatever was queued: the server handles them in order.
          this.subscriptions.reconcileAll();
          this.sendHistory();
          this.pump();
        },
        lost: (unanswered) => this.onLost(unanswered),
        stopped: (reason) => this.onStopped(reason),
        status: (status) => {
          this.changed();
          this.events.emit("status", status);
        },
        changed: () => this.changed(),
      },
    });
    this.subscriptions = new Subscriptions({
      wire: this.subscriptionWire(this.connection),
      timers: this.timers,
      backoff: settings.backoff,
      random: settings.random,
      report: this.report,
      changed: () => this.changed(),
      schedule: () => this.snapshots.schedule(),
      onRecoveryFailed: (event) => this.events.emit("recoveryFailed", event),
      onBacklog: (event) => this.inbox.backlog(event),
    });
    this.inbox = new Inbox({
      list: this.list,
      nextId: () => this.ids.next("history"),
      flush: () => this.sendHistory(),
      refusal: (tenantId) =>
        this.connection.isStopped
          ? new NotificationError("client_closed", `the client is ${this.connection.status}`, { tenantId })
          : null,
      changed: () => this.changed(),
    });
    if (options.onNotification) this.events.on("notification", options.onNotification);
    if (options.onRecoveryFailed) this.events.on("recoveryFailed", options.onRecoveryFailed);
    if (options.onError) this.events.on("error", options.onError);
    if (options.onStatus) this.events.on("status", options.onStatus);
  }

  // -- public API ------------------------------------------------------------------------------------

  /** The current state; the same object until something changes. */
  getSnapshot(): NotificationSnapshot {
    return this.snapshots.getSnapshot();
  }

  /** Listen to an event; returns the function that stops listening. */
  on<K extends keyof NotificationClientEvents>(event: K, handler: NotificationClientEvents[K]): () => void {
    return this.events.on(event, handler);
  }

  /** Replace the token (source) used from the next connection attempt or refresh on. Never reconnects. */
  setToken(token: TokenSource): void {
    this.connection.setToken(token);
  }

  /** Start connecting (no-op when already started and not stopped). */
  connect(): void {
    this.connection.connect();
  }

  /**
   * Reconnect now, whatever the state: closes the current connection if any, resets the backoff and the
   * auth-failure count, and opens a new connection at once (also after `close()`, in `unauthorized`, offline).
   */
  reconnect(): void {
    this.connection.reconnect();
  }

  /**
   * Close the connection and stop: no timer, event listener or socket is left. State (notifications,
   * subscriptions, queued acknowledgements) is kept; `reconnect()` starts again. Pending
   * `subscribe`/`unsubscribe` promises reject with `client_closed`.
   */
  close(): void {
    this.connection.close();
  }

  /**
   * Want notifications of `tenantId` (reference-counted: the wire `subscribe` is sent once, for the first
   * holder, and replayed with `since` on every reconnect). Resolves with the server's `subscribed` answer;
   * rejects with the server's `error` (e.g. `forbidden`: the subscription is then not retried until
   * `subscribe` is called again), or `client_closed`. Each call must be matched by one `unsubscribe`.
   *
   * - `backlog`: the first subscribe of the tenant (no position known yet) asks for the newest `backlog`
   *   notifications the user may see (0–500; default: the client's `backlog` option). They fill the list,
   *   with their read state, without `notification` events; resubscribes after a reconnect resume with `since`.
   * - `filter`: only matching notifications (live, replayed, backlog, history). It replaces the tenant's filter
   *   (the latest call wins): a different one while subscribed sends `subscribe` again, and every resubscribe
   *   carries it. Notifications already in the list stay.
   */
  subscribe(tenantId: string, options: SubscribeOptions = {}): Promise<SubscriptionInfo> {
    const hold = {
      filter: canonicalFilter(options.filter),
      backlog: clampBacklog(options.backlog ?? this.defaultBacklog),
    };
    return this.subscriptions.hold(tenantId, hold, () =>
      this.connection.isStopped
        ? new NotificationError("client_closed", `the client is ${this.connection.status}`, { tenantId })
        : null,
    );
  }

  /**
   * Release one hold on `tenantId`. When the last holder releases it, the wire `unsubscribe` is sent (at the
   * end of the current tick, so a release followed by a new hold in the same tick sends nothing) and the
   * promise resolves with the server's `unsubscribed`; otherwise it resolves at once.
   */
  unsubscribe(tenantId: string): Promise<void> {
    return this.subscriptions.release(tenantId);
  }

  /**
   * Mark a notification read, at once (optimistic), and acknowledge it to the server, which tells the
   * user's other connections. Sent now when connected, else queued (see the send queue's drop policy).
   */
  markAsRead(notificationId: string): void {
    if (this.list.isRead(notificationId)) return;
    if (this.list.markRead(notificationId)) this.changed();
    if (this.outbox.has(notificationId)) return;
    this.outbox.push({ type: "acknowledge", payload: { notificationId }, messageId: this.ids.next("acknowledge") });
    this.changed();
    this.pump();
  }

  /** `markAsRead` for every unread notification in the list. */
  markAllAsRead(): void {
    for (const id of this.list.unreadIds()) this.markAsRead(id);
  }

  /**
   * Older notifications of `tenantId` (newest first): at most `limit` (1–100, default 50) before position
   * `before` (default: the newest), as the server's `history` answers, with the tenant's filter when it is
   * subscribed with one. They join the list in their place (deduplicated by id, at most `maxNotifications`;
   * no `notification` events). Waits for the connection (and is sent again after a reconnect when it got no
   * answer); rejects with the server's `error` (`forbidden`, `rate_limited`, `internal_error`…) or
   * `client_closed`. Pass the answer's `before` for the next, older page (or use `loadMore`).
   */
  history(tenantId: string, options: HistoryOptions = {}): Promise<HistoryPage> {
    return this.inbox.history(tenantId, options);
  }

  /**
   * The next older page of `tenantId`, after the backlog (or the pages) the client has: `history` from the
   * tenant's cursor, which the answer moves on. At most as many as the list has room for (`limit`, default
   * 50; 0 loads nothing). One page at a time per tenant (a second call returns the same promise); when the server has nothing
   * older or the list is full, resolves with no notifications. `snapshot.history[tenantId]` says whether there
   * is more and whether a page is on its way.
   */
  loadMore(tenantId: string, options: { readonly limit?: number | undefined } = {}): Promise<HistoryPage> {
    return this.inbox.loadMore(tenantId, options.limit);
  }

  /** Empty the notification list (locally). Ids already seen stay deduplicated. */
  clearNotifications(): void {
    if (this.list.clear()) this.changed();
  }

  /** Forget the `recovered: false` flag of one tenant (or of all), once the app has reloaded its state. */
  clearRecoveryFailed(tenantId?: string): void {
    if (this.subscriptions.clearRecoveryFailed(tenantId)) this.changed();
  }

  // -- inbound ---------------------------------------------------------------------------------------

  private dispatch(socket: Socket, message: ServerMessage): void {
    switch (message.type) {
      case "authenticated":
        socket.take(message.messageId);
        this.connection.authenticated(socket, message.payload);
        return;
      case "subscribed":
        socket.take(message.messageId);
        this.subscriptions.subscribed(message.payload);
        return;
      case "unsubscribed":
        socket.take(message.messageId);
        this.subscriptions.unsubscribed(message.payload);
        return;
      case "notification":
        this.onNotification(message.payload);
        return;
      case "acknowledged":
        socket.take(message.messageId, "ack");
        if (this.list.markRead(message.payload.notificationId)) this.changed();
        return;
      case "history": {
        const request = socket.take(message.messageId, "history");
        if (request?.kind === "history") this.inbox.answered(request.messageId, message.payload);
        return;
      }
      case "pong":
        socket.take(message.messageId);
        return;
      case "error":
        this.onServerError(socket, message);
        return;
    }
  }

  private onNotification(wire: WireNotification): void {
    const notification = typedNotification(wire);
    const arrival = this.subscriptions.delivered(notification);
    if (arrival === "older") this.inbox.backlogItem(notification.stream, notification.position);
    const item = this.list.add(notification, arrival);
    if (!item) return; // a duplicate (replay, or a second subscription)
    this.changed();
    if (arrival === "live") this.events.emit("notification", item); // not for a backlog: what was there before
  }

  /** An `error`: routed by the request it answers and by what its code asks for (see policy.ts). */
  private onServerError(socket: Socket, message: ErrorMessage): void {
    const { code, message: text } = message.payload;
    const messageId = message.messageId ?? undefined;
    const request = socket.take(messageId);
    const tenantId =
      request?.kind === "subscribe" || request?.kind === "unsubscribe" || request?.kind === "history" ? request.tenantId : undefined;
    const details: NotificationErrorDetails = {
      ...(messageId !== undefined ? { messageId } : {}),
      ...(tenantId !== undefined ? { tenantId } : {}),
    };
    const error = this.report(code, text, details);
    const action = errorAction(code);
    if (action === "reauthenticate" && (request === undefined || request.kind === "auth")) {
      this.connection.authRefused(socket, error);
      return;
    }
    switch (request?.kind) {
      case "subscribe":
        this.subscriptions.subscribeRefused(request.tenantId, error, action === "retry");
        return;
      case "unsubscribe":
        this.subscriptions.unsubscribeRefused(request.tenantId, error, action === "retry");
        return;
      case "ack":
        if (action === "retry" && this.outbox.retry(request.item)) {
          this.changed();
          this.timers.set("pump", () => this.pump(), ACK_RETRY_DELAY_MS); // the pump waits before going on
        }
        return;
      case "history":
        this.inbox.refused(request.messageId, error);
        return;
      case "auth":
      case "ping":
      case undefined:
        return;
    }
  }

  // -- outbound --------------------------------------------------------------------------------------

  /** How subscriptions reach the wire: requests on the current socket, once it is authenticated. */
  private subscriptionWire(connection: Connection): SubscriptionWire {
    const ids = this.ids;
    return {
      get ready() {
        return connection.ready !== null;
      },
      subscribe(tenantId, request) {
        const socket = connection.ready;
        if (!socket) return;
        const message = { type: "subscribe", payload: subscribePayload(tenantId, request), messageId: ids.next("subscribe") } as const;
        connection.request(socket, message, { kind: "subscribe", tenantId });
      },
      unsubscribe(tenantId) {
        const socket = connection.ready;
        if (!socket) return;
        const message = { type: "unsubscribe", payload: { tenantId }, messageId: ids.next("unsubscribe") } as const;
        connection.request(socket, message, { kind: "unsubscribe", tenantId });
      },
    };
  }

  /** Send queued messages, paced by the rate limiter, once the connection is authenticated. */
  private pump(): void {
    const socket = this.connection.ready;
    if (!socket || this.timers.has("pump")) return;
    const wait = this.outbox.drain(this.limiter, this.clock.now(), (item) => {
      this.connection.request(socket, item.message, { kind: "ack", item });
      this.changed();
      return this.connection.isCurrent(socket);
    });
    if (wait > 0) this.timers.set("pump", () => this.pump(), wait);
  }

  /** History requests waiting for the connection: sent now when it is ready. */
  private sendHistory(): void {
    const socket = this.connection.ready;
    if (!socket) return;
    this.inbox.sendWaiting((messageId, payload) => {
      const message = { type: "history", payload, messageId } as const;
      this.connection.request(socket, message, { kind: "history", tenantId: payload.tenantId, messageId });
      return this.connection.isCurrent(socket);
    });
  }

  /** The client stopped: pending `subscribe` and `history` promises reject with `reason`. */
  private onStopped(reason: NotificationError): void {
    this.subscriptions.stopped(reason);
    this.inbox.stopped(reason);
  }

  /** The connection is gone: its unanswered acknowledgements go back in front of the queue (same messageIds). */
  private onLost(unanswered: QueuedAck[]): void {
    this.timers.clear("pump");
    this.inbox.disconnected();
    if (unanswered.length > 0) {
      this.outbox.requeue(unanswered);
      this.changed();
    }
    this.subscriptions.disconnected();
  }

  // -- state -----------------------------------------------------------------------------------------

  /** Record an error in `lastError` (and tell `error` listeners). Returns it. */
  private readonly report: Report = (code, message, details = {}) => {
    const error = new NotificationError(code, message, details);
    this.lastError = error;
    this.changed();
    this.events.emit("error", error);
    return error;
  };

  private changed(): void {
    this.snapshots.changed();
  }

  private build(): NotificationSnapshot {
    const status = this.connection.status;
    return Object.freeze({
      status,
      isConnected: status === "connected",
      notifications: this.list.items,
      unreadCount: this.list.unreadCount,
      lastError: this.lastError,
      subscriptions: this.subscriptions.states(),
      recoveryFailed: this.subscriptions.failedRecoveries(),
      history: this.inbox.states(),
      userId: this.connection.userId,
      queuedMessages: this.outbox.size,
      droppedMessages: this.outbox.dropped,
    });
  }
}
