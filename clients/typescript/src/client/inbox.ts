/**
 * The inbox beyond the live feed: `history()` and `loadMore()`, their requests and each tenant's paging, and
 * the older notifications they bring into the list (in their place, bounded; never as `notification` events).
 */
import type { NotificationError } from "../errors.js";
import type { HistoryReplyPayload, HistoryRequestPayload } from "../generated/messages.js";
import { typedNotification } from "../messages.js";
import { clampHistoryLimit, DEFAULT_HISTORY_LIMIT } from "./filter.js";
import { HistoryPaging, HistoryRequests, type HistoryOptions, type PendingRequest } from "./history.js";
import type { NotificationList } from "./notifications.js";
import type { BacklogEvent } from "./subscriptions.js";
import type { ClientNotification, HistoryPage, HistoryState } from "./types.js";

export interface InboxOptions {
  readonly list: NotificationList;
  /** A new `history` messageId. */
  readonly nextId: () => string;
  /** Send waiting requests now, if the connection is ready (it calls `sendWaiting`). */
  readonly flush: () => void;
  /** Why no request can be made now (the client is stopped), or null. */
  readonly refusal: (tenantId: string) => NotificationError | null;
  /** Something the snapshot shows changed. */
  readonly changed: () => void;
}

export class Inbox {
  private readonly requests = new HistoryRequests();
  private readonly paging = new HistoryPaging();
  /** The `loadMore` page on its way, per tenant. */
  private readonly loading = new Map<string, Promise<HistoryPage>>();

  constructor(private readonly options: InboxOptions) {}

  /** `history(tenantId, { before, limit })`: one page, merged into the list. */
  history(tenantId: string, options: HistoryOptions = {}): Promise<HistoryPage> {
    return this.request(tenantId, options, false);
  }

  /** The next older page of `tenantId` from its paging, at most what the list has room for; one at a time. */
  loadMore(tenantId: string, limit: number = DEFAULT_HISTORY_LIMIT): Promise<HistoryPage> {
    const inFlight = this.loading.get(tenantId);
    if (inFlight) return inFlight;
    const paging = this.paging.state(tenantId);
    const size = limit < 1 ? 0 : Math.min(clampHistoryLimit(limit), this.options.list.room); // 0: nothing to load
    if (paging?.hasMore === false || size < 1) {
      const before = paging?.before ?? null;
      return Promise.resolve(Object.freeze({ tenantId, notifications: Object.freeze([]), hasMore: paging?.hasMore ?? true, before }));
    }
    const page = this.request(tenantId, { before: paging?.before ?? null, limit: size }, true);
    this.loading.set(tenantId, page);
    this.options.changed();
    return page;
  }

  // -- what the connection and the subscriptions tell ---------------------------------------------------

  /** Send every request waiting for the connection (`send` returns false when it went away meanwhile). */
  sendWaiting(send: (messageId: string, payload: HistoryRequestPayload) => boolean): void {
    this.requests.sendWaiting(send);
  }

  /** A first subscribe was answered: paging starts below its backlog. */
  backlog(event: BacklogEvent): void {
    this.paging.backlog(event);
    this.options.changed();
  }

  /** A backlog notification arrived (oldest first): the first one is where paging starts. */
  backlogItem(stream: string, position: string | null): void {
    if (this.paging.backlogItem(stream, position)) this.options.changed();
  }

  /** The server's `history` reply to `messageId`: merged into the list; a `loadMore` page moves the paging on. */
  answered(messageId: string, reply: HistoryReplyPayload): void {
    const request = this.requests.take(messageId);
    if (!request) return;
    const { list } = this.options;
    for (const n of reply.notifications) list.add(typedNotification(n), "older");
    if (request.paging) {
      this.paging.page(request.payload.tenantId, reply);
      this.loading.delete(request.payload.tenantId);
    }
    this.options.changed();
    request.resolve(reply);
  }

  /** The server refused `messageId`. */
  refused(messageId: string, error: NotificationError): void {
    const request = this.requests.take(messageId);
    if (request) this.reject(request, error);
  }

  /** The connection is gone: requests on it wait for the next one. */
  disconnected(): void {
    this.requests.disconnected();
  }

  /** The client stopped: every request rejects with `reason`. */
  stopped(reason: NotificationError): void {
    for (const request of this.requests.takeAll()) this.reject(request, reason);
  }

  /** Paging per tenant, as the snapshot shows it: more can be loaded when the server has more and the list has room. */
  states(): Readonly<Record<string, HistoryState>> {
    const states: Record<string, HistoryState> = {};
    const room = this.options.list.room > 0;
    for (const [tenantId, paging] of this.paging.entries()) {
      states[tenantId] = Object.freeze({ hasMore: paging.hasMore && room, loading: this.loading.has(tenantId) });
    }
    for (const tenantId of this.loading.keys()) states[tenantId] ??= Object.freeze({ hasMore: room, loading: true });
    return Object.freeze(states);
  }

  // -- internals ---------------------------------------------------------------------------------------

  private request(tenantId: string, options: HistoryOptions, paging: boolean): Promise<HistoryPage> {
    const refusal = this.options.refusal(tenantId);
    if (refusal) return Promise.reject(refusal);
    const payload: HistoryRequestPayload = { tenantId, limit: clampHistoryLimit(options.limit ?? DEFAULT_HISTORY_LIMIT) };
    if (options.before !== undefined && options.before !== null) payload.before = options.before;
    const reply = this.requests.start(this.options.nextId(), payload, paging);
    this.options.flush();
    return reply.then((r) => this.pageOf(r));
  }

  private reject(request: PendingRequest, error: NotificationError): void {
    if (request.paging && this.loading.delete(request.payload.tenantId)) this.options.changed();
    request.reject(error);
  }

  /** A reply as `history()` and `loadMore()` resolve it: with the read state the list knows. */
  private pageOf(reply: HistoryReplyPayload): HistoryPage {
    const { list } = this.options;
    return Object.freeze({
      tenantId: reply.tenantId,
      notifications: Object.freeze(
        reply.notifications.map(
          (n): ClientNotification => Object.freeze({ ...typedNotification(n), read: n.read || list.isRead(n.id) }),
        ),
      ),
      hasMore: reply.hasMore,
      before: reply.before,
    });
  }
}
