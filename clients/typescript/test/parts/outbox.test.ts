import { describe, expect, it } from "vitest";
import type { AcknowledgeMessage } from "../../src/messages.js";
import { Outbox, type QueuedAck } from "../../src/client/outbox.js";
import { RateLimiter } from "../../src/client/rate-limiter.js";
import type { Outgoing } from "../../src/client/socket.js";

const ack = (id: string): Outgoing<AcknowledgeMessage> => ({ type: "acknowledge", payload: { notificationId: id }, messageId: `k-${id}` });
const ids = (items: readonly QueuedAck[]): string[] => items.map((i) => i.message.payload.notificationId);

function outbox(capacity = 3, maxTries = 3): { box: Outbox; drops: string[][] } {
  const drops: string[][] = [];
  const box = new Outbox({ capacity, maxTries, onDrop: (dropped) => drops.push(ids(dropped)) });
  return { box, drops };
}

/** Everything the outbox sends with an unlimited rate. */
function drainAll(box: Outbox): string[] {
  const sent: QueuedAck[] = [];
  box.drain(new RateLimiter({ perSecond: 1000, burst: 1000 }, 0), 0, (item) => sent.push(item) > 0);
  return ids(sent);
}

describe("Outbox", () => {
  it("drops the oldest messages beyond its capacity, counts and reports them", () => {
    const { box, drops } = outbox(3);
    for (const id of ["a", "b", "c", "d", "e"]) box.push(ack(id));
    expect(box.size).toBe(3);
    expect(box.dropped).toBe(2);
    expect(drops).toEqual([["a"], ["b"]]);
    expect(box.has("a")).toBe(false);
    expect(box.has("e")).toBe(true);
    expect(drainAll(box)).toEqual(["c", "d", "e"]);
  });

  it("puts unanswered messages back in front, in order, with their messageIds", () => {
    const { box } = outbox(10);
    box.push(ack("c"));
    const unanswered: QueuedAck[] = [
      { message: ack("a"), tries: 0 },
      { message: ack("b"), tries: 0 },
    ];
    box.requeue(unanswered);
    const sent: QueuedAck[] = [];
    box.drain(new RateLimiter({ perSecond: 1, burst: 10 }, 0), 0, (item) => sent.push(item) > 0);
    expect(sent.map((i) => i.message.messageId)).toEqual(["k-a", "k-b", "k-c"]);
  });

  it("retries a refused message in front until it has had maxTries sends", () => {
    const { box } = outbox(10, 3);
    box.push(ack("later"));
    const item: QueuedAck = { message: ack("a"), tries: 0 };
    expect(box.retry(item)).toBe(true); // 2nd send
    expect(drainAll(box)).toEqual(["a", "later"]);
    expect(box.retry(item)).toBe(true); // 3rd send
    expect(box.retry(item)).toBe(false); // no 4th
    expect(drainAll(box)).toEqual(["a"]);
    expect(item.tries).toBe(2);
  });

  it("drain sends what the limiter allows and says how long until the next", () => {
    const { box } = outbox(10);
    for (const id of ["a", "b", "c", "d"]) box.push(ack(id));
    const limiter = new RateLimiter({ perSecond: 10, burst: 2 }, 0);
    const sent: string[] = [];
    const wait = box.drain(limiter, 0, (item) => sent.push(item.message.payload.notificationId) > 0);
    expect(sent).toEqual(["a", "b"]);
    expect(wait).toBe(100); // one token per 100 ms at 10/s
    expect(box.size).toBe(2);
    expect(box.drain(limiter, 100, (item) => sent.push(item.message.payload.notificationId) > 0)).toBe(100);
    expect(sent).toEqual(["a", "b", "c"]);
  });

  it("drain stops when send says the connection went away", () => {
    const { box } = outbox(10);
    for (const id of ["a", "b", "c"]) box.push(ack(id));
    const sent: string[] = [];
    const wait = box.drain(new RateLimiter({ perSecond: 10, burst: 10 }, 0), 0, (item) => {
      sent.push(item.message.payload.notificationId);
      return false;
    });
    expect(wait).toBe(0);
    expect(sent).toEqual(["a"]);
    expect(box.size).toBe(2);
  });
});

describe("RateLimiter", () => {
  it("allows a burst, then refills at its rate, never above the burst", () => {
    const limiter = new RateLimiter({ perSecond: 10, burst: 3 }, 0);
    expect([limiter.take(0), limiter.take(0), limiter.take(0), limiter.take(0)]).toEqual([true, true, true, false]);
    expect(limiter.msUntilNext(0)).toBe(100);
    expect(limiter.take(100)).toBe(true);
    expect(limiter.take(100)).toBe(false);
    // a long pause refills to the burst only
    expect([1, 2, 3, 4].map(() => limiter.take(60_000))).toEqual([true, true, true, false]);
  });

  it("control messages consume without waiting, and delay the queued ones", () => {
    const limiter = new RateLimiter({ perSecond: 10, burst: 2 }, 0);
    limiter.consume(0);
    limiter.consume(0);
    limiter.consume(0); // never below zero
    expect(limiter.take(0)).toBe(false);
    expect(limiter.msUntilNext(0)).toBe(100);
  });
});
