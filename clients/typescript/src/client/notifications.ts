/**
 * The notification list: newest first, at most `capacity`, each id once (replays and a second subscription
 * deliver the same event again), with the read state and the unread count.
 *
 * Live notifications go in front. Older ones (a backlog, a `history` page) go in their place (order.ts); one
 * older than everything in a full list is not kept. A notification is read when the server says so (`read`)
 * or when it was marked read here or by another connection; once read it stays read.
 */
import type { Notification } from "../messages.js";
import { placeOf } from "./order.js";
import type { ClientNotification } from "./types.js";

/** How a notification arrived: `live` (or replayed on a resume: newer than the list) or `older` (backlog, history). */
export type Arrival = "live" | "older";

/** Ids seen and read are remembered for at least this many notifications… */
const MIN_REMEMBERED_IDS = 1000;
/** …and for this many times the list's capacity, so a replay longer than the list is still deduplicated. */
const REMEMBERED_PER_KEPT = 10;

/** A set that forgets its oldest members beyond `limit`. */
export class BoundedSet {
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

  get size(): number {
    return this.items.size;
  }
}

export class NotificationList {
  private list: ClientNotification[] = [];
  private readonly seen: BoundedSet;
  private readonly readIds: BoundedSet;
  /** The frozen list and its unread count, until the list changes. */
  private view: { readonly items: readonly ClientNotification[]; readonly unread: number } | null = null;

  constructor(readonly capacity: number) {
    const remembered = Math.max(MIN_REMEMBERED_IDS, capacity * REMEMBERED_PER_KEPT);
    this.seen = new BoundedSet(remembered);
    this.readIds = new BoundedSet(remembered);
  }

  /**
   * Add a notification: in front when `live`, in its place when `older`; the oldest beyond `capacity` go.
   * Returns it, or null for an id seen before (whose `read: true`, if it says so, still marks it read).
   */
  add(notification: Notification, arrival: Arrival = "live"): ClientNotification | null {
    if (notification.read) this.markRead(notification.id);
    if (this.seen.has(notification.id)) return null;
    this.seen.add(notification.id);
    const item: ClientNotification = Object.freeze({ ...notification, read: this.readIds.has(notification.id) });
    const at = arrival === "live" ? 0 : placeOf(this.list, item);
    this.list.splice(at, 0, item);
    if (this.list.length > this.capacity) this.list.length = this.capacity;
    this.view = null;
    return item;
  }

  /** How many more notifications the list holds before it starts dropping the oldest. */
  get room(): number {
    return this.capacity - this.list.length;
  }

  /** Whether the notification was marked read (here, or by an acknowledgement from another connection). */
  isRead(notificationId: string): boolean {
    return this.readIds.has(notificationId);
  }

  /** Mark read, also before the notification arrives. Returns whether the list changed. */
  markRead(notificationId: string): boolean {
    if (this.readIds.has(notificationId)) return false;
    this.readIds.add(notificationId);
    const index = this.list.findIndex((n) => n.id === notificationId);
    const current = index >= 0 ? this.list[index] : undefined;
    if (!current || current.read) return false;
    this.list[index] = Object.freeze({ ...current, read: true });
    this.view = null;
    return true;
  }

  /** Empty the list; the ids seen stay deduplicated. Returns whether the list changed. */
  clear(): boolean {
    if (this.list.length === 0) return false;
    this.list = [];
    this.view = null;
    return true;
  }

  /** The ids of the unread notifications in the list, newest first. */
  unreadIds(): string[] {
    return this.list.filter((n) => !n.read).map((n) => n.id);
  }

  /** The list, newest first: frozen, and the same array until it changes. */
  get items(): readonly ClientNotification[] {
    return this.current().items;
  }

  get unreadCount(): number {
    return this.current().unread;
  }

  private current(): { readonly items: readonly ClientNotification[]; readonly unread: number } {
    this.view ??= Object.freeze({
      items: Object.freeze(this.list.slice()),
      unread: this.list.reduce((n, item) => n + (item.read ? 0 : 1), 0),
    });
    return this.view;
  }
}
