/**
 * Subscriptions as state: reference-counted per tenant, one request in flight per tenant, replayed with
 * `since` (the last position) on every connection, retried after a backoff when the server says so, and
 * the promises of `subscribe`/`unsubscribe` settled by the server's answers.
 */
import { backoffDelay, type BackoffOptions } from "../backoff.js";
import { NotificationError } from "../errors.js";
import type { Notification } from "../messages.js";
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
  /** Where the subscription stands on the current connection. */
  wire: "none" | "subscribing" | "subscribed" | "unsubscribing";
  position: string | null;
  recovered: boolean | null;
  /** Refused for good (until `subscribe` is called again). */
  blocked: NotificationError | null;
  /** Retryable refusals in a row (the backoff's attempt number). */
  retries: number;
  readonly subscribeWaiters: Waiter<SubscriptionInfo>[];
  readonly unsubscribeWaiters: Waiter<void>[];
}

/** What subscriptions need of the connection. */
export interface SubscriptionWire {
  /** Whether requests can be sent now (open and authenticated). */
  readonly ready: boolean;
  subscribe(tenantId: string, since: string | null): void;
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
}

const retryTimer = (tenantId: string): TimerName => `retry:${tenantId}`;

export class Subscriptions {
  private readonly tenants = new Map<string, TenantEntry>();
  private readonly recoveryFailed = new Set<string>();
  private reconcilePending = false;

  constructor(private readonly options: SubscriptionsOptions) {}

  /**
   * One more holder of `tenantId`. Resolves with the server's `subscribed` (at once when already subscribed);
   * rejects with the server's refusal, or with `closed()` when the client is stopped.
   */
  hold(tenantId: string, closed: () => NotificationError | null): Promise<SubscriptionInfo> {
    const entry = this.entry(tenantId);
    entry.refs += 1;
    if (entry.blocked) {
      entry.blocked = null;
      entry.retries = 0;
    }
    this.options.changed();
    this.scheduleReconcile();
    if (entry.wire === "subscribed") {
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

  subscribed(payload: { readonly tenantId: string; readonly position: string | null; readonly recovered: boolean }): void {
    const entry = this.tenants.get(payload.tenantId);
    if (!entry) return;
    entry.wire = "subscribed";
    entry.retries = 0;
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

  /** The server refused a `subscribe`: retried after a backoff when `retry`, else not until `subscribe` is called again. */
  subscribeRefused(tenantId: string, error: NotificationError, retry: boolean): void {
    const entry = this.tenants.get(tenantId);
    if (!entry) return;
    entry.wire = "none";
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
   * stream, each with that stream's position. A stream not subscribed on this connection moves no position.
   */
  delivered(n: Pick<Notification, "stream" | "position">): void {
    if (n.position === null) return;
    const entry = this.tenants.get(n.stream);
    if (!entry || entry.wire === "none" || entry.position === n.position) return;
    entry.position = n.position;
    this.options.changed();
  }

  // -- the connection's life ---------------------------------------------------------------------------

  /** The connection is gone: nothing is on the wire any more (every wanted subscription is replayed on the next). */
  disconnected(): void {
    for (const entry of [...this.tenants.values()]) {
      this.options.timers.clear(retryTimer(entry.tenantId));
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
        status: e.blocked ? "error" : e.wire === "subscribed" ? "subscribed" : "pending",
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
        wire.subscribe(entry.tenantId, entry.position);
        this.options.changed();
      } else if (!wanted && entry.refs === 0 && entry.wire === "subscribed") {
        entry.wire = "unsubscribing";
        wire.unsubscribe(entry.tenantId);
        this.options.changed();
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
    this.options.timers.clear(retryTimer(entry.tenantId));
    if (this.tenants.get(entry.tenantId) === entry) {
      this.tenants.delete(entry.tenantId);
      this.options.changed();
    }
  }
}
