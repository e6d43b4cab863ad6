/**
 * Subscriptions as state: reference-counted per tenant, one request in flight per tenant, replayed with
 * `since` (the last position) on every connection, retried after a backoff when the server says so, and
 * the promises of `subscribe`/`unsubscribe` settled by the server's answers.
 *
 * A subscription's first `subscribe` (no position known yet) asks for a backlog; every later one resumes with
 * `since`. Each carries the subscription's filter; a new filter while subscribed sends `subscribe` again (the
 * server replaces the filter). The backlog the server announces (`subscribed.backlog`) is counted off the
 * notifications that follow: they are older than the position, so they do not move it.
 */
import { backoffDelay, type BackoffOptions } from "../backoff.js";
import { NotificationError } from "../errors.js";
import type { Notification } from "../messages.js";
import { sameFilter, type CanonicalFilter } from "./filter.js";
import type { Arrival } from "./notifications.js";
import type { TimerName, TimerSet } from "./timers.js";
import type { RecoveryFailedEvent, Report, SubscriptionInfo, SubscriptionState } from "./types.js";

interface Waiter<T> {
  resolve(value: T): void;
  reject(error: NotificationError): void;
}

interface TenantEntry {
  readonly tenantId: string;
  /** Holders: `subscribe` calls not yet matched by `unsubscribe`. */
  refs: number;
  /**
   * Where the subscription stands on the current connection (`refiltering`: subscribed, and a `subscribe`
   * with another filter is on its way).
   */
  wire: "none" | "subscribing" | "subscribed" | "refiltering" | "unsubscribing";
  position: string | null;
  /** The filter wanted (the latest `subscribe` call's), and the backlog a first subscribe asks for. */
  filter: CanonicalFilter;
  backlog: number;
  /** The filter in force on the wire (confirmed by `subscribed`), and the subscribe on its way, if any. */
  wireFilter: CanonicalFilter;
  sending: SubscribeRequest | null;
  /** Backlog notifications still to come on this connection (announced by `subscribed.backlog`). */
  backlogPending: number;
  recovered: boolean | null;
  /** Refused for good (until `subscribe` is called again). */
  blocked: NotificationError | null;
  /** Retryable refusals in a row (the backoff's attempt number). */
  retries: number;
  readonly subscribeWaiters: Waiter<SubscriptionInfo>[];
  readonly unsubscribeWaiters: Waiter<void>[];
}

/** What a holder asks of a subscription: its filter, and the backlog of its first subscribe. */
export interface HoldOptions {
  readonly filter: CanonicalFilter;
  readonly backlog: number;
}

/** One `subscribe` as sent: `since` (a resume) or else `backlog`, and the filter. */
export interface SubscribeRequest {
  readonly since: string | null;
  readonly backlog: number;
  readonly filter: CanonicalFilter;
}

/** A first subscribe (no `since`) was answered: `count` of the `requested` backlog notifications follow. */
export interface BacklogEvent {
  readonly tenantId: string;
  readonly requested: number;
  readonly count: number;
}

/** What subscriptions need of the connection. */
export interface SubscriptionWire {
  /** Whether requests can be sent now (open and authenticated). */
  readonly ready: boolean;
  subscribe(tenantId: string, request: SubscribeRequest): void;
  unsubscribe(tenantId: string): void;
}

export interface SubscriptionsOptions {
  readonly wire: SubscriptionWire;
  readonly timers: TimerSet;
  readonly backoff: BackoffOptions;
  readonly random: () => number;
  readonly report: Report;
  /** Something the snapshot shows changed. */
  readonly changed: () => void;
  /** Asks for an end-of-tick pass, which calls `flush()`. */
  readonly schedule: () => void;
  readonly onRecoveryFailed: (event: RecoveryFailedEvent) => void;
  /** A first subscribe was answered, with how many backlog notifications follow. */
  readonly onBacklog?: (event: BacklogEvent) => void;
}

const retryTimer = (tenantId: string): TimerName => `retry:${tenantId}`;

export class Subscriptions {
  private readonly tenants = new Map<string, TenantEntry>();
  private readonly recoveryFailed = new Set<string>();
  private reconcilePending = false;

  constructor(private readonly options: SubscriptionsOptions) {}

  /**
   * One more holder of `tenantId`, whose filter replaces the subscription's (the latest call wins, as on the
   * server). Resolves with the server's `subscribed` (at once when subscribed with that filter already);
   * rejects with the server's refusal, or with `closed()` when the client is stopped.
   */
  hold(tenantId: string, options: HoldOptions, closed: () => NotificationError | null): Promise<SubscriptionInfo> {
    const entry = this.entry(tenantId);
    entry.refs += 1;
    entry.filter = options.filter;
    entry.backlog = options.backlog;
    if (entry.blocked) {
      entry.blocked = null;
      entry.retries = 0;
    }
    this.options.changed();
    this.scheduleReconcile();
    if (entry.wire === "subscribed" && sameFilter(entry.filter, entry.wireFilter)) {
      return Promise.resolve({ tenantId, position: entry.position, recovered: entry.recovered ?? true });
    }
    const refusal = closed();
    if (refusal) return Promise.reject(refusal);
    return new Promise((resolve, reject) => entry.subscribeWaiters.push({ resolve, reject }));
  }

  /** One holder fewer. The last one's release is sent at the end of the tick and resolves with `unsubscribed`. */
  release(tenantId: string): Promise<void> {
    const entry = this.tenants.get(tenantId);
    if (!entry || entry.refs === 0) return Promise.resolve();
    entry.refs -= 1;
    this.options.changed();
    if (entry.refs > 0) return Promise.resolve();
    this.scheduleReconcile();
    return new Promise((resolve, reject) => entry.unsubscribeWaiters.push({ resolve, reject }));
  }

  /** The end-of-tick pass: the deferred reconcile of every tenant, if one is due. */
  flush(): void {
    if (!this.reconcilePending) return;
    this.reconcilePending = false;
    this.reconcileAll();
  }

  /** Bring the wire in line with every tenant's state (on a new connection: every wanted subscription, with `since`). */
  reconcileAll(): void {
    for (const entry of [...this.tenants.values()]) this.reconcile(entry);
  }

  // -- the server's answers --------------------------------------------------------------------------

  subscribed(payload: {
    readonly tenantId: string;
    readonly position: string | null;
    readonly recovered: boolean;
    readonly backlog?: number;
  }): void {
    const entry = this.tenants.get(payload.tenantId);
    if (!entry) return;
    const sent = entry.sending;
    const refilter = entry.wire === "refiltering";
    entry.sending = null;
    entry.wire = "subscribed";
    entry.retries = 0;
    if (sent) entry.wireFilter = sent.filter;
    entry.backlogPending = payload.backlog ?? 0;
    if (sent && sent.since === null && !refilter) {
      this.options.onBacklog?.({ tenantId: entry.tenantId, requested: sent.backlog, count: entry.backlogPending });
    }
    if (payload.position !== null) entry.position = payload.position;
    if (payload.position !== null || entry.recovered === null) entry.recovered = payload.recovered;
    this.options.changed();
    if (!payload.recovered) {
      this.recoveryFailed.add(payload.tenantId);
      this.options.onRecoveryFailed(Object.freeze({ tenantId: payload.tenantId, position: payload.position }));
    }
    const info: SubscriptionInfo = Object.freeze({ tenantId: payload.tenantId, position: entry.position, recovered: payload.recovered });
    for (const w of entry.subscribeWaiters.splice(0)) w.resolve(info);
    this.reconcile(entry); // released meanwhile?
  }

  /**
   * The server refused a `subscribe`: retried after a backoff when `retry`, else not until `subscribe` is called
   * again. A refused change of filter leaves the subscription as it was on the wire (with the filter before).
   */
  subscribeRefused(tenantId: string, error: NotificationError, retry: boolean): void {
    const entry = this.tenants.get(tenantId);
    if (!entry) return;
    entry.wire = entry.wire === "refiltering" ? "subscribed" : "none";
    entry.sending = null;
    for (const w of entry.subscribeWaiters.splice(0)) w.reject(error);
    if (retry) {
      this.retryLater(entry);
    } else {
      entry.blocked = error; // forbidden, invalid: not retried until subscribe() is called again
    }
    this.options.changed();
    this.settleUnwanted(entry);
  }

  /**
   * The server refused an `unsubscribe`. With `retry` the subscription stays: the promise rejects and the
   * unsubscribe is sent again after a backoff. Otherwise it will not succeed as it is: the connection does
   * not hold the subscription (`not_subscribed`), so it counts as done.
   */
  unsubscribeRefused(tenantId: string, error: NotificationError, retry: boolean): void {
    const entry = this.tenants.get(tenantId);
    if (!entry) return;
    entry.wire = retry ? "subscribed" : "none";
    if (retry) {
      for (const w of entry.unsubscribeWaiters.splice(0)) w.reject(error);
      this.retryLater(entry);
    }
    this.options.changed();
    this.reconcile(entry);
  }

  /** `unsubscribed`: the answer to ours, or (with a `reason`) the server ended the subscription itself. */
  unsubscribed(payload: { readonly tenantId: string; readonly reason?: string | null }): void {
    const entry = this.tenants.get(payload.tenantId);
    if (!entry) return;
    entry.wire = "none";
    if (typeof payload.reason === "string") {
      entry.blocked = this.options.report(
        "unsubscribed_by_server",
        `subscription to ${payload.tenantId} ended: ${payload.reason}`,
        { tenantId: payload.tenantId },
      );
    }
    this.options.changed();
    this.reconcile(entry);
  }

  /**
   * Remember the position of the stream that delivered the notification: `stream` names it (the tenant, or
   * `global` on a monitor's global subscription), so a monitor subscribed to both gets the event once per
   * stream, each with that stream's position. A stream not subscribed on this connection moves no position,
   * nor does a backlog notification (older than the position). Returns how it arrived.
   */
  delivered(n: Pick<Notification, "stream" | "position">): Arrival {
    const entry = this.tenants.get(n.stream);
    if (!entry || entry.wire === "none") return "live";
    if (entry.backlogPending > 0) {
      entry.backlogPending -= 1;
      return "older";
    }
    if (n.position === null || entry.position === n.position) return "live";
    entry.position = n.position;
    this.options.changed();
    return "live";
  }

  // -- the connection's life ---------------------------------------------------------------------------

  /** The connection is gone: nothing is on the wire any more (every wanted subscription is replayed on the next). */
  disconnected(): void {
    for (const entry of [...this.tenants.values()]) {
      this.options.timers.clear(retryTimer(entry.tenantId));
      entry.wireFilter = null;
      entry.sending = null;
      entry.backlogPending = 0;
      if (entry.wire !== "none") {
        entry.wire = "none";
        this.options.changed();
      }
      this.settleUnwanted(entry);
    }
  }

  /** The client stopped: pending `subscribe` promises reject with `reason`. */
  stopped(reason: NotificationError): void {
    for (const entry of [...this.tenants.values()]) {
      for (const w of entry.subscribeWaiters.splice(0)) w.reject(reason);
      this.settleUnwanted(entry);
    }
  }

  // -- the snapshot's parts ----------------------------------------------------------------------------

  /** The subscriptions held (reference count > 0), by tenant. */
  states(): Readonly<Record<string, SubscriptionState>> {
    const states: Record<string, SubscriptionState> = {};
    for (const e of this.tenants.values()) {
      if (e.refs === 0) continue;
      states[e.tenantId] = Object.freeze({
        tenantId: e.tenantId,
        status: e.blocked ? "error" : e.wire === "subscribed" || e.wire === "refiltering" ? "subscribed" : "pending",
        position: e.position,
        recovered: e.recovered,
        error: e.blocked,
      });
    }
    return Object.freeze(states);
  }

  /** Tenants whose resume could not recover the gap, until `clearRecoveryFailed`. */
  failedRecoveries(): readonly string[] {
    return Object.freeze([...this.recoveryFailed]);
  }

  /** Forget the `recovered: false` flag of one tenant (or of all). Returns whether there was one. */
  clearRecoveryFailed(tenantId?: string): boolean {
    const had = tenantId === undefined ? this.recoveryFailed.size > 0 : this.recoveryFailed.has(tenantId);
    if (!had) return false;
    if (tenantId === undefined) this.recoveryFailed.clear();
    else this.recoveryFailed.delete(tenantId);
    return true;
  }

  // -- internals ---------------------------------------------------------------------------------------

  private entry(tenantId: string): TenantEntry {
    let entry = this.tenants.get(tenantId);
    if (!entry) {
      entry = {
        tenantId,
        refs: 0,
        wire: "none",
        position: null,
        filter: null,
        backlog: 0,
        wireFilter: null,
        sending: null,
        backlogPending: 0,
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

  /** "Retry later" / "slow down": reconcile again after a backoff delay (per tenant), on this connection. */
  private retryLater(entry: TenantEntry): void {
    const delay = backoffDelay(entry.retries, this.options.backoff, this.options.random);
    entry.retries += 1;
    this.options.timers.set(retryTimer(entry.tenantId), () => this.reconcile(entry), delay);
  }

  private scheduleReconcile(): void {
    this.reconcilePending = true;
    this.options.schedule();
  }

  /** Bring the wire in line with the state of one tenant (at most one request in flight per tenant). */
  private reconcile(entry: TenantEntry): void {
    const { wire, timers } = this.options;
    if (entry.refs > 0) for (const w of entry.unsubscribeWaiters.splice(0)) w.resolve(); // held again
    const wanted = entry.refs > 0 && entry.blocked === null;
    if (wire.ready && !timers.has(retryTimer(entry.tenantId))) {
      if (wanted && entry.wire === "none") {
        entry.wire = "subscribing";
        this.send(entry);
      } else if (wanted && entry.wire === "subscribed" && !sameFilter(entry.filter, entry.wireFilter)) {
        entry.wire = "refiltering";
        this.send(entry);
      } else if (!wanted && entry.refs === 0 && entry.wire === "subscribed") {
        entry.wire = "unsubscribing";
        wire.unsubscribe(entry.tenantId);
        this.options.changed();
      }
    }
    this.settleUnwanted(entry);
  }

  /** Send the subscribe the entry's state asks for: a resume when its position is known, else a first one. */
  private send(entry: TenantEntry): void {
    const first = entry.position === null;
    const request: SubscribeRequest = { since: entry.position, backlog: first ? entry.backlog : 0, filter: entry.filter };
    entry.sending = request;
    this.options.wire.subscribe(entry.tenantId, request);
    this.options.changed();
  }

  /** A tenant nobody holds and that is off the wire: settle its promises and forget it. */
  private settleUnwanted(entry: TenantEntry): void {
    if (entry.refs > 0 || entry.wire !== "none") return;
    for (const w of entry.unsubscribeWaiters.splice(0)) w.resolve();
    const cancelled = new NotificationError("cancelled", `subscription to ${entry.tenantId} released`, {
      tenantId: entry.tenantId,
    });
    for (const w of entry.subscribeWaiters.splice(0)) w.reject(cancelled);
    this.options.timers.clear(retryTimer(entry.tenantId));
    if (this.tenants.get(entry.tenantId) === entry) {
      this.tenants.delete(entry.tenantId);
      this.options.changed();
    }
  }
}
