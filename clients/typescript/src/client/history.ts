/**
 * `history` requests and paging.
 *
 * - `HistoryRequests`: each request waits until the connection is ready, is sent with its own messageId, and
 *   is settled by the server's answer (the `history` reply, or an `error`). A request unanswered when the
 *   connection drops is sent again on the next one (reading history changes nothing); `close()` rejects it.
 * - `HistoryPaging`: where each tenant's next older page starts (`before`) and whether there is one. A first
 *   subscribe's backlog starts it: the oldest backlog notification is the cursor, and a backlog shorter than
 *   asked for means there is nothing older. Each page moves it on.
 */
import type { NotificationError } from "../errors.js";
import type { HistoryReplyPayload, HistoryRequestPayload } from "../generated/messages.js";
import type { BacklogEvent } from "./subscriptions.js";

export interface HistoryOptions {
  /** Older than this position (a `before` from an earlier page, or a notification's `position`). Default: the newest. */
  readonly before?: string | null | undefined;
  /** At most this many (1–100). Default 50. */
  readonly limit?: number | undefined;
}

export interface PendingRequest {
  readonly messageId: string;
  readonly payload: HistoryRequestPayload;
  /** A page of `loadMore`: its answer moves the tenant's paging on. */
  readonly paging: boolean;
  /** On the wire of the current connection (else waiting for one). */
  sent: boolean;
  readonly resolve: (reply: HistoryReplyPayload) => void;
  readonly reject: (error: NotificationError) => void;
}

export class HistoryRequests {
  private readonly pending = new Map<string, PendingRequest>();

  /** A new request, waiting to be sent (`sendWaiting`) and answered (`take`, then its `resolve`/`reject`). */
  start(messageId: string, payload: HistoryRequestPayload, paging: boolean): Promise<HistoryReplyPayload> {
    return new Promise((resolve, reject) => {
      this.pending.set(messageId, { messageId, payload, paging, sent: false, resolve, reject });
    });
  }

  /** Send every request not on the wire yet, oldest first (`send` returns false when the connection went away). */
  sendWaiting(send: (messageId: string, payload: HistoryRequestPayload) => boolean): void {
    for (const request of [...this.pending.values()]) {
      if (request.sent) continue;
      request.sent = true;
      if (!send(request.messageId, request.payload)) {
        request.sent = false;
        return;
      }
    }
  }

  /** The request `messageId` answers, forgotten from now on (undefined: none waits for it). */
  take(messageId: string): PendingRequest | undefined {
    const request = this.pending.get(messageId);
    if (request) this.pending.delete(messageId);
    return request;
  }

  /** The connection is gone: what was on it waits for the next one. */
  disconnected(): void {
    for (const request of this.pending.values()) request.sent = false;
  }

  /** The client stopped: every request is taken; the caller rejects them. */
  takeAll(): PendingRequest[] {
    const all = [...this.pending.values()];
    this.pending.clear();
    return all;
  }

  get size(): number {
    return this.pending.size;
  }
}

/** Where a tenant's paging stands. */
interface Cursor {
  /** The next page is older than this position (null: start from the newest). */
  before: string | null;
  /** Whether the server has older notifications (as far as the client knows). */
  hasMore: boolean;
  /** The backlog announced notifications: the first of them (the oldest) is the cursor. */
  awaitingOldest: boolean;
}

export interface PagingState {
  readonly hasMore: boolean;
  readonly before: string | null;
}

export class HistoryPaging {
  private readonly cursors = new Map<string, Cursor>();

  /** A first subscribe was answered: paging starts below its backlog (from the newest when none was asked). */
  backlog({ tenantId, requested, count }: BacklogEvent): void {
    this.cursors.set(tenantId, { before: null, hasMore: requested === 0 || count >= requested, awaitingOldest: count > 0 });
  }

  /** A backlog notification of `stream` arrived (the backlog comes oldest first). Returns whether the cursor moved. */
  backlogItem(stream: string, position: string | null): boolean {
    const cursor = this.cursors.get(stream);
    if (!cursor?.awaitingOldest) return false;
    cursor.awaitingOldest = false;
    if (position === null) return false;
    cursor.before = position;
    return true;
  }

  /** A page of `tenantId` that started at the cursor: the next one starts at its `before`. */
  page(tenantId: string, reply: Pick<HistoryReplyPayload, "hasMore" | "before">): void {
    this.cursors.set(tenantId, { before: reply.before, hasMore: reply.hasMore && reply.before !== null, awaitingOldest: false });
  }

  /** Where the next page of `tenantId` starts; null until paging started (a subscribe answered, or a page). */
  state(tenantId: string): PagingState | null {
    const cursor = this.cursors.get(tenantId);
    return cursor ? { hasMore: cursor.hasMore, before: cursor.before } : null;
  }

  /** Every tenant's paging. */
  entries(): IterableIterator<[string, PagingState]> {
    return (function* (cursors: Map<string, Cursor>): IterableIterator<[string, PagingState]> {
      for (const [tenantId, c] of cursors) yield [tenantId, { hasMore: c.hasMore, before: c.before }];
    })(this.cursors);
  }
}
