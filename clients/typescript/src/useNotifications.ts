/**
 * useNotifications: a thin React hook over the shared NotificationClient of (url, identity).
 *
 * - Rendering reads the client's store through `useSyncExternalStore`; rendering opens nothing (on the
 *   server the hook returns the initial state and touches nothing).
 * - The client is acquired from a registry in effects and released on unmount; the registry closes it after
 *   a grace delay, so StrictMode's double mount keeps one socket and one `subscribe` per tenant.
 * - Callbacks and the token are read through refs: inline options never reconnect or resubscribe (a filter
 *   is compared by value: an inline one re-created on every render sends nothing new).
 * - With `backlog`, the tenant's first subscribe (every page load) fills the list and the unread count with
 *   the newest notifications and their read state; `loadMore()` pages older ones in with `history`.
 */
import { useCallback, useEffect, useMemo, useRef, useSyncExternalStore } from "react";
import {
  NotificationClient,
  type ClientNotification,
  type ConnectionStatus,
  type HistoryPage,
  type HistoryState,
  type NotificationClientOptions,
  type NotificationFilter,
  type NotificationSnapshot,
  type RecoveryFailedEvent,
  type SubscribeOptions,
  type SubscriptionInfo,
  type SubscriptionState,
  type TokenSource,
} from "./client.js";
import { DEFAULT_HISTORY_LIMIT, filterKey } from "./client/filter.js";
import { NotificationError } from "./errors.js";
import { clientKey, identityFromToken, sharedRegistry, type ClientLease, type ClientRegistry } from "./registry.js";

/** Options of the client that only matter when the shared client is created (the first hook wins). */
export type SharedClientOptions = Omit<
  NotificationClientOptions,
  "url" | "token" | "maxNotifications" | "onNotification" | "onRecoveryFailed" | "onError" | "onStatus"
>;

export interface UseNotificationsOptions {
  /** The service's WebSocket endpoint, e.g. `ws://localhost:3001/ws`. */
  url: string;
  /** A token, or a (possibly async) function called for a fresh one on every connection attempt. */
  token: TokenSource;
  /** Subscribed automatically while the component is mounted (and while it is this value). */
  tenantId?: string | null | undefined;
  /**
   * How many of the newest notifications the tenant's first subscribe asks for (0–500): the list and the
   * unread count start from them, with their read state, on every page load. Also the default of this hook's
   * `subscribe(tenantId)`. Default: the client's `backlog` (0: live only).
   */
  backlog?: number | undefined;
  /** Only notifications that match (`tenantId`'s subscription); compared by value. Default: none. */
  filter?: NotificationFilter | null | undefined;
  /**
   * Who the connection is for: hooks with the same url and identity share one connection. Default: the
   * JWT's `sub` for a string token; for a token function, pass it when the user can change (else the url
   * alone keys the connection).
   */
  identity?: string | undefined;
  /** The bound of the notification list. Default 100 (the shared client keeps the first hook's value; a smaller one here trims this hook's view). */
  maxNotifications?: number | undefined;
  /** A resume could not recover missed notifications (`recovered: false`): reload the tenant's state. */
  onRecoveryFailed?: ((event: RecoveryFailedEvent) => void) | undefined;
  /** Every new (deduplicated) notification, live or replayed by a resume (not the backlog, not history pages). */
  onNotification?: ((notification: ClientNotification) => void) | undefined;
  /** Every error, as also stored in `lastError`. */
  onError?: ((error: NotificationError) => void) | undefined;
  /** `false`: acquire nothing, connect nothing (status `closed`). Default true. */
  enabled?: boolean | undefined;
  /** Where shared clients live. Default the module-wide `sharedRegistry`. */
  registry?: ClientRegistry | undefined;
  /** Passed to the client when the shared client is created (WebSocket, clock, backoff, timeouts…). */
  clientOptions?: SharedClientOptions | undefined;
}

export interface UseNotificationsResult {
  /** Newest first, deduplicated, bounded by `maxNotifications`. */
  notifications: readonly ClientNotification[];
  /** `status === "connected"`. */
  isConnected: boolean;
  status: ConnectionStatus;
  /** The unread among `notifications`. */
  unreadCount: number;
  lastError: NotificationError | null;
  /** Tenants whose resume lost notifications (`recovered: false`) until `clearRecoveryFailed`. */
  recoveryFailed: readonly string[];
  subscriptions: Readonly<Record<string, SubscriptionState>>;
  /**
   * Subscribe this component to a tenant (released on unmount); settles with the server's answer. `backlog`
   * defaults to the hook's.
   */
  subscribe: (tenantId: string, options?: SubscribeOptions) => Promise<SubscriptionInfo>;
  /** Release this component's subscription; settles with the server's answer (or at once if others hold it). */
  unsubscribe: (tenantId: string) => Promise<void>;
  /** Optimistic: marks read now and acknowledges to the server (other tabs of the user follow). */
  markAsRead: (notificationId: string) => void;
  markAllAsRead: () => void;
  clearNotifications: () => void;
  clearRecoveryFailed: (tenantId?: string) => void;
  /** Reconnect now, whatever the state (also after `unauthorized` or a "stop" close code). */
  reconnect: () => void;
  /**
   * Load the next older page of `tenantId` (default: the hook's) with `history`, into the list (at most what
   * `maxNotifications` leaves room for). One page at a time: a call while one is on its way returns it.
   */
  loadMore: (tenantId?: string) => Promise<HistoryPage>;
  /** The hook's tenant has older notifications to load, and the list has room for them. */
  hasMore: boolean;
  /** A `loadMore` page of the hook's tenant is on its way. */
  loadingMore: boolean;
  /** Paging per tenant (`hasMore`, `loading`), for tenants subscribed with `subscribe`. */
  history: Readonly<Record<string, HistoryState>>;
}

const EMPTY: readonly ClientNotification[] = Object.freeze([]);
const NO_SUBSCRIPTIONS: Readonly<Record<string, SubscriptionState>> = Object.freeze({});
const NONE: readonly string[] = Object.freeze([]);
const NO_HISTORY: NotificationSnapshot["history"] = Object.freeze({});

function initialSnapshot(status: ConnectionStatus): NotificationSnapshot {
  return Object.freeze({
    status,
    isConnected: false,
    notifications: EMPTY,
    unreadCount: 0,
    lastError: null,
    subscriptions: NO_SUBSCRIPTIONS,
    recoveryFailed: NONE,
    history: NO_HISTORY,
    userId: null,
    queuedMessages: 0,
    droppedMessages: 0,
  });
}

/** What the server renders (and hydration starts from): nothing connected yet. */
export const INITIAL_SNAPSHOT: NotificationSnapshot = initialSnapshot("connecting");
const DISABLED_SNAPSHOT: NotificationSnapshot = initialSnapshot("closed");

const ignore = (): void => undefined;

function resolveToken(token: TokenSource): string | Promise<string> {
  return typeof token === "function" ? token() : token;
}

export function useNotifications(options: UseNotificationsOptions): UseNotificationsResult {
  const { url, tenantId } = options;
  const enabled = options.enabled ?? true;
  const registry = options.registry ?? sharedRegistry;
  const identity = options.identity ?? (typeof options.token === "string" ? identityFromToken(options.token) : "");
  const key = clientKey(url, identity);

  // The latest options, for callbacks and the token: never a reason to reconnect or resubscribe.
  const latest = useRef(options);
  latest.current = options;

  /** Get (or create and connect) the shared client; every call must be matched by `release()`. */
  const acquire = useCallback(
    (): ClientLease =>
      registry.acquire(key, () => {
        const o = latest.current;
        return new NotificationClient({
          ...o.clientOptions,
          url,
          token: () => resolveToken(latest.current.token),
          ...(o.maxNotifications !== undefined ? { maxNotifications: o.maxNotifications } : {}),
        });
      }),
    [registry, key, url],
  );

  const store = useMemo(() => {
    const fallback = enabled ? INITIAL_SNAPSHOT : DISABLED_SNAPSHOT;
    return {
      subscribe(listener: () => void): () => void {
        if (!enabled) return ignore;
        const lease = acquire();
        const off = lease.client.store.subscribe(listener);
        return () => {
          off();
          lease.release();
        };
      },
      getSnapshot: (): NotificationSnapshot => (enabled ? registry.peek(key)?.getSnapshot() : undefined) ?? fallback,
      getServerSnapshot: (): NotificationSnapshot => fallback,
    };
  }, [registry, key, enabled, acquire]);

  const snapshot = useSyncExternalStore(store.subscribe, store.getSnapshot, store.getServerSnapshot);

  // Callbacks (through refs) and the token source of the most recently mounted hook.
  useEffect(() => {
    if (!enabled) return undefined;
    const lease = acquire();
    const client = lease.client;
    client.setToken(() => resolveToken(latest.current.token));
    const offs = [
      client.on("notification", (n) => latest.current.onNotification?.(n)),
      client.on("recoveryFailed", (e) => latest.current.onRecoveryFailed?.(e)),
      client.on("error", (e) => latest.current.onError?.(e)),
    ];
    return () => {
      for (const off of offs) off();
      lease.release();
    };
  }, [enabled, acquire]);

  // The automatic subscription to `tenantId`, with the filter (by value) and the backlog of the latest render.
  const filterId = filterKey(options.filter);
  useEffect(() => {
    if (!enabled || !tenantId) return undefined;
    const lease = acquire();
    const { backlog, filter } = latest.current;
    lease.client.subscribe(tenantId, { backlog, filter }).catch(ignore); // failures are in lastError / subscriptions
    return () => {
      lease.client.unsubscribe(tenantId).catch(ignore);
      lease.release();
    };
  }, [enabled, acquire, tenantId, filterId]);

  // Subscriptions made with `subscribe(tenantId)`, each holding the client until released or unmounted.
  const held = useRef(new Map<string, ClientLease>());
  useEffect(() => {
    const holds = held.current;
    return () => {
      for (const [tenant, lease] of holds) {
        lease.client.unsubscribe(tenant).catch(ignore);
        lease.release();
      }
      holds.clear();
    };
  }, [acquire]);

  const actions = useMemo(() => {
    const client = (): NotificationClient | undefined => (enabled ? registry.peek(key) : undefined);
    return {
      subscribe(tenant: string, subscribeOptions: SubscribeOptions = {}): Promise<SubscriptionInfo> {
        if (!enabled) return Promise.reject(new NotificationError("client_closed", "useNotifications is disabled"));
        const previous = held.current.get(tenant);
        const lease = acquire();
        held.current.set(tenant, lease);
        const result = lease.client.subscribe(tenant, { backlog: latest.current.backlog, ...subscribeOptions });
        if (previous) {
          // Already held by this component: hold again (retries a refused subscription), release the old hold.
          previous.client.unsubscribe(tenant).catch(ignore);
          previous.release();
        }
        return result;
      },
      unsubscribe(tenant: string): Promise<void> {
        const lease = held.current.get(tenant);
        if (!lease) return Promise.resolve();
        held.current.delete(tenant);
        const result = lease.client.unsubscribe(tenant);
        lease.release();
        return result;
      },
      markAsRead: (id: string) => client()?.markAsRead(id),
      markAllAsRead: () => client()?.markAllAsRead(),
      clearNotifications: () => client()?.clearNotifications(),
      clearRecoveryFailed: (tenant?: string) => client()?.clearRecoveryFailed(tenant),
      reconnect: () => client()?.reconnect(),
      loadMore(tenant: string | undefined = latest.current.tenantId ?? undefined): Promise<HistoryPage> {
        const current = client();
        if (!current) return Promise.reject(new NotificationError("client_closed", "useNotifications is disabled"));
        if (!tenant) return Promise.reject(new TypeError("loadMore: no tenant (the hook has no tenantId: pass one)"));
        // The hook's own bound, when smaller than the shared client's, leaves less room.
        const max = latest.current.maxNotifications;
        const room = max === undefined ? DEFAULT_HISTORY_LIMIT : max - current.getSnapshot().notifications.length;
        return current.loadMore(tenant, { limit: Math.max(0, Math.min(DEFAULT_HISTORY_LIMIT, room)) });
      },
    };
  }, [registry, key, enabled, acquire]);

  // The hook's bound, when smaller than the shared client's: this hook's view is trimmed, and counted.
  const max = options.maxNotifications;
  const view = useMemo(() => {
    const all = snapshot.notifications;
    if (max === undefined || all.length <= max) return { notifications: all, unreadCount: snapshot.unreadCount };
    const kept = all.slice(0, max);
    return { notifications: kept, unreadCount: kept.reduce((n, item) => n + (item.read ? 0 : 1), 0) };
  }, [snapshot.notifications, snapshot.unreadCount, max]);
  const paging = tenantId ? snapshot.history[tenantId] : undefined;

  return {
    notifications: view.notifications,
    isConnected: snapshot.isConnected,
    status: snapshot.status,
    unreadCount: view.unreadCount,
    lastError: snapshot.lastError,
    recoveryFailed: snapshot.recoveryFailed,
    subscriptions: snapshot.subscriptions,
    hasMore: (paging?.hasMore ?? false) && (max === undefined || view.notifications.length < max),
    loadingMore: paging?.loading ?? false,
    history: snapshot.history,
    ...actions,
  };
}
