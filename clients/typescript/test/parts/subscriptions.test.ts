import { describe, expect, it } from "vitest";
import { DEFAULT_BACKOFF } from "../../src/backoff.js";
import { NotificationError } from "../../src/errors.js";
import { canonicalFilter } from "../../src/client/filter.js";
import { Subscriptions, type BacklogEvent, type HoldOptions, type SubscribeRequest } from "../../src/client/subscriptions.js";
import { TimerSet } from "../../src/client/timers.js";
import type { RecoveryFailedEvent } from "../../src/client/types.js";
import { FakeClock } from "../helpers/fakes.js";

/** Subscriptions over a fake wire; `flush()` stands for the end of the tick. */
function subscriptions() {
  const clock = new FakeClock();
  const sent: string[] = [];
  const recoveries: RecoveryFailedEvent[] = [];
  const backlogs: BacklogEvent[] = [];
  const wire = {
    ready: true,
    subscribe: (tenantId: string, { since, backlog, filter }: SubscribeRequest) =>
      sent.push(
        `subscribe ${tenantId} since ${since}` + (backlog > 0 ? ` backlog ${backlog}` : "") + (filter ? ` filter ${JSON.stringify(filter)}` : ""),
      ),
    unsubscribe: (tenantId: string) => sent.push(`unsubscribe ${tenantId}`),
  };
  const subs = new Subscriptions({
    wire,
    timers: new TimerSet(clock),
    backoff: DEFAULT_BACKOFF,
    random: () => 0.5,
    report: (code, message, details) => new NotificationError(code, message, details),
    changed: () => undefined,
    schedule: () => undefined,
    onRecoveryFailed: (event) => recoveries.push(event),
    onBacklog: (event) => backlogs.push(event),
  });
  return { subs, wire, sent, clock, recoveries, backlogs };
}

/** No filter, no backlog. */
const NONE: HoldOptions = { filter: null, backlog: 0 };

describe("Subscriptions", () => {
  it("two holders send one subscribe; the last release sends one unsubscribe", async () => {
    const { subs, sent } = subscriptions();
    const first = subs.hold("t1", NONE, () => null);
    const second = subs.hold("t1", NONE, () => null);
    subs.flush();
    expect(sent).toEqual(["subscribe t1 since null"]);
    subs.subscribed({ tenantId: "t1", position: "10-0", recovered: true });
    await expect(Promise.all([first, second])).resolves.toEqual([
      { tenantId: "t1", position: "10-0", recovered: true },
      { tenantId: "t1", position: "10-0", recovered: true },
    ]);
    void subs.release("t1");
    subs.flush();
    expect(sent).toHaveLength(1); // still held once
    const last = subs.release("t1");
    subs.flush();
    expect(sent).toEqual(["subscribe t1 since null", "unsubscribe t1"]);
    subs.unsubscribed({ tenantId: "t1" });
    await expect(last).resolves.toBeUndefined();
    expect(subs.states()).toEqual({});
  });

  it("advances the position of the notification's stream only, and replays each with its own `since`", () => {
    const { subs, sent } = subscriptions();
    void subs.hold("t1", NONE, () => null);
    void subs.hold("global", NONE, () => null);
    subs.flush();
    subs.subscribed({ tenantId: "t1", position: "10-0", recovered: true });
    subs.subscribed({ tenantId: "global", position: "500-0", recovered: true });
    subs.delivered({ stream: "t1", position: "11-0" });
    subs.delivered({ stream: "global", position: "501-0" });
    subs.delivered({ stream: "t2", position: "999-0" }); // not subscribed: nothing moves
    subs.delivered({ stream: "t1", position: null });
    expect(subs.states()["t1"]?.position).toBe("11-0");
    expect(subs.states()["global"]?.position).toBe("501-0");
    subs.disconnected();
    sent.length = 0;
    subs.reconcileAll();
    expect(sent).toEqual(["subscribe t1 since 11-0", "subscribe global since 501-0"]);
  });

  it("a stream off the wire (the connection lost) moves no position", () => {
    const { subs, wire } = subscriptions();
    void subs.hold("t1", NONE, () => null);
    subs.flush();
    subs.subscribed({ tenantId: "t1", position: "10-0", recovered: true });
    subs.disconnected();
    wire.ready = false;
    subs.delivered({ stream: "t1", position: "11-0" });
    expect(subs.states()["t1"]?.position).toBe("10-0");
  });

  it("a retryable refusal is retried after a backoff; a final one blocks until held again", async () => {
    const { subs, sent, clock } = subscriptions();
    const p = subs.hold("t1", NONE, () => null).catch((e: unknown) => e);
    subs.flush();
    subs.subscribeRefused("t1", new NotificationError("internal_error", "later"), true);
    expect(await p).toMatchObject({ code: "internal_error" });
    await clock.advance(1000);
    expect(sent).toEqual(["subscribe t1 since null", "subscribe t1 since null"]);
    subs.subscribeRefused("t1", new NotificationError("forbidden", "no"), false);
    await clock.advance(60_000);
    expect(sent).toHaveLength(2);
    expect(subs.states()["t1"]).toMatchObject({ status: "error", error: { code: "forbidden" } });
  });

  it("recovered: false is reported and flagged until cleared", () => {
    const { subs, recoveries } = subscriptions();
    void subs.hold("t1", NONE, () => null);
    subs.flush();
    subs.subscribed({ tenantId: "t1", position: "900-0", recovered: false });
    expect(recoveries).toEqual([{ tenantId: "t1", position: "900-0" }]);
    expect(subs.failedRecoveries()).toEqual(["t1"]);
    expect(subs.clearRecoveryFailed("t1")).toBe(true);
    expect(subs.clearRecoveryFailed("t1")).toBe(false);
    expect(subs.failedRecoveries()).toEqual([]);
  });

  it("a stopped client refuses new holds, and pending ones reject with the reason", async () => {
    const { subs, wire } = subscriptions();
    wire.ready = false;
    const pending = subs.hold("t1", NONE, () => null);
    subs.stopped(new NotificationError("client_closed", "closed"));
    await expect(pending).rejects.toMatchObject({ code: "client_closed" });
    await expect(subs.hold("t2", NONE, () => new NotificationError("client_closed", "the client is closed"))).rejects.toMatchObject({
      code: "client_closed",
    });
  });
});

describe("Subscriptions: backlog and filter", () => {
  const orders = canonicalFilter({ types: ["order.*"] });
  const errors = canonicalFilter({ severity: ["error"] });

  it("the first subscribe asks for the backlog; resubscribes resume with since and keep the filter", () => {
    const { subs, sent, backlogs } = subscriptions();
    void subs.hold("t1", { filter: orders, backlog: 50 }, () => null);
    subs.flush();
    expect(sent).toEqual(['subscribe t1 since null backlog 50 filter {"types":["order.*"]}']);
    subs.subscribed({ tenantId: "t1", position: "10-0", recovered: true, backlog: 2 });
    expect(backlogs).toEqual([{ tenantId: "t1", requested: 50, count: 2 }]);
    subs.disconnected();
    subs.reconcileAll();
    expect(sent[1]).toBe('subscribe t1 since 10-0 filter {"types":["order.*"]}');
  });

  it("a connection lost before the first answer asks for the backlog again (no position yet)", () => {
    const { subs, sent } = subscriptions();
    void subs.hold("t1", { filter: null, backlog: 20 }, () => null);
    subs.flush();
    subs.disconnected();
    subs.reconcileAll();
    expect(sent).toEqual(["subscribe t1 since null backlog 20", "subscribe t1 since null backlog 20"]);
  });

  it("backlog notifications (counted by subscribed.backlog) are older: they move no position", () => {
    const { subs } = subscriptions();
    void subs.hold("t1", { filter: null, backlog: 50 }, () => null);
    subs.flush();
    subs.subscribed({ tenantId: "t1", position: "10-0", recovered: true, backlog: 2 });
    const arrivals = [
      subs.delivered({ stream: "t1", position: "3-0" }),
      subs.delivered({ stream: "t2", position: "4-0" }), // another stream: not counted
      subs.delivered({ stream: "t1", position: "5-0" }),
      subs.delivered({ stream: "t1", position: "11-0" }),
    ];
    expect(arrivals).toEqual(["older", "live", "older", "live"]);
    expect(subs.states()["t1"]?.position).toBe("11-0");
  });

  it("a new filter while subscribed sends subscribe again and resolves with its answer; the same filter sends nothing", async () => {
    const { subs, sent } = subscriptions();
    void subs.hold("t1", { filter: orders, backlog: 0 }, () => null);
    subs.flush();
    subs.subscribed({ tenantId: "t1", position: "10-0", recovered: true, backlog: 0 });
    await expect(subs.hold("t1", { filter: canonicalFilter({ types: ["order.*", "order.*"] }), backlog: 0 }, () => null)).resolves.toMatchObject({
      position: "10-0",
    });
    subs.flush();
    expect(sent).toHaveLength(1);

    let settled = false;
    const changed = subs.hold("t1", { filter: errors, backlog: 0 }, () => null).then(() => (settled = true));
    subs.flush();
    expect(sent[1]).toBe('subscribe t1 since 10-0 filter {"severity":["error"]}');
    expect(subs.states()["t1"]?.status).toBe("subscribed"); // still subscribed meanwhile
    await Promise.resolve();
    expect(settled).toBe(false);
    subs.subscribed({ tenantId: "t1", position: null, recovered: true, backlog: 0 });
    await changed;
    expect(subs.states()["t1"]?.position).toBe("10-0");
    // dropping the filter is a change too
    void subs.hold("t1", NONE, () => null);
    subs.flush();
    expect(sent[2]).toBe("subscribe t1 since 10-0");
  });

  it("a filter changed while the first subscribe is on its way follows its answer", () => {
    const { subs, sent } = subscriptions();
    void subs.hold("t1", { filter: orders, backlog: 5 }, () => null);
    subs.flush();
    void subs.hold("t1", { filter: errors, backlog: 5 }, () => null);
    subs.flush();
    expect(sent).toHaveLength(1); // one request in flight per tenant
    subs.subscribed({ tenantId: "t1", position: "10-0", recovered: true, backlog: 0 });
    expect(sent[1]).toBe('subscribe t1 since 10-0 filter {"severity":["error"]}');
  });

  it("a refused change of filter keeps the subscription on the wire (and releasing it unsubscribes)", async () => {
    const { subs, sent } = subscriptions();
    void subs.hold("t1", { filter: orders, backlog: 0 }, () => null);
    subs.flush();
    subs.subscribed({ tenantId: "t1", position: "10-0", recovered: true, backlog: 0 });
    const refused = subs.hold("t1", { filter: errors, backlog: 0 }, () => null).catch((e: unknown) => e);
    subs.flush();
    subs.subscribeRefused("t1", new NotificationError("invalid_message", "bad filter"), false);
    expect(await refused).toMatchObject({ code: "invalid_message" });
    expect(subs.states()["t1"]).toMatchObject({ status: "error", position: "10-0" });
    void subs.release("t1");
    void subs.release("t1");
    subs.flush();
    expect(sent[sent.length - 1]).toBe("unsubscribe t1");
  });

  it("a refilter refused with a retryable error is sent again after a backoff", async () => {
    const { subs, sent, clock } = subscriptions();
    void subs.hold("t1", { filter: null, backlog: 0 }, () => null);
    subs.flush();
    subs.subscribed({ tenantId: "t1", position: "10-0", recovered: true, backlog: 0 });
    void subs.hold("t1", { filter: errors, backlog: 0 }, () => null).catch(() => undefined);
    subs.flush();
    subs.subscribeRefused("t1", new NotificationError("rate_limited", "slow down"), true);
    await clock.advance(1000);
    expect(sent.filter((line) => line.includes("severity"))).toHaveLength(2);
  });
});
