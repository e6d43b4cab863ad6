/**
 * The send queue of acknowledgements: bounded (when full, the OLDEST messages are dropped), each notification
 * queued once, unanswered messages put back in front with their messageId, paced by a rate limiter.
 */
import type { AcknowledgeMessage } from "../messages.js";
import type { RateLimiter } from "./rate-limiter.js";
import type { Outgoing } from "./socket.js";

export interface QueuedAck {
  readonly message: Outgoing<AcknowledgeMessage>;
  /** How many times the server refused it with a retryable error. */
  tries: number;
}

export interface OutboxOptions {
  /** At most this many messages wait; beyond it the oldest are dropped. */
  readonly capacity: number;
  /** A message refused with a retryable error is sent at most this many times in all. */
  readonly maxTries: number;
  /** Told of the messages dropped to make room (oldest first). */
  readonly onDrop: (dropped: readonly QueuedAck[]) => void;
}

export class Outbox {
  private readonly queue: QueuedAck[] = [];
  private droppedCount = 0;

  constructor(private readonly options: OutboxOptions) {}

  /** Messages waiting. */
  get size(): number {
    return this.queue.length;
  }

  /** Messages dropped by the capacity since the outbox was created. */
  get dropped(): number {
    return this.droppedCount;
  }

  /** Whether an acknowledgement of this notification is waiting. */
  has(notificationId: string): boolean {
    return this.queue.some((q) => q.message.payload.notificationId === notificationId);
  }

  /** Queue a new message at the back. */
  push(message: Outgoing<AcknowledgeMessage>): void {
    this.queue.push({ message, tries: 0 });
    this.trim();
  }

  /** Put messages back in front, in order (sent first, with the same messageIds): the unanswered ones of a lost connection. */
  requeue(items: readonly QueuedAck[]): void {
    if (items.length === 0) return;
    this.queue.unshift(...items);
    this.trim();
  }

  /** A message the server refused with a retryable error: back in front, unless it has had its tries. Returns whether it was. */
  retry(item: QueuedAck): boolean {
    if (item.tries + 1 >= this.options.maxTries) return false;
    item.tries += 1;
    this.requeue([item]);
    return true;
  }

  /**
   * Send messages, oldest first, while the limiter allows. `send` returns false when sending must stop (the
   * connection went away). Returns how long until the limiter allows the next one (0: nothing is held back).
   */
  drain(limiter: RateLimiter, now: number, send: (item: QueuedAck) => boolean): number {
    for (let item = this.queue[0]; item !== undefined; item = this.queue[0]) {
      if (!limiter.take(now)) return limiter.msUntilNext(now);
      this.queue.shift();
      if (!send(item)) return 0;
    }
    return 0;
  }

  private trim(): void {
    const excess = this.queue.length - this.options.capacity;
    if (excess <= 0) return;
    const dropped = this.queue.splice(0, excess);
    this.droppedCount += dropped.length;
    this.options.onDrop(dropped);
  }
}
