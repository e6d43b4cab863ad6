import { describe, expect, it } from "vitest";
import { DEFAULT_BACKOFF } from "../../src/backoff.js";
import { NotificationError } from "../../src/errors.js";
import { Subscriptions } from "../../src/client/subscriptions.js";
import { TimerSet } from "../../src/client/timers.js";
import type { RecoveryFailedEvent } from "../../src/client/types.js";
import { FakeClock } from "../helpers/fakes.js";

/** Subscriptions over a fake wire; `flush()` stands for the end of the tick. */
function subscriptions() {
  const clock = new FakeClock();
  const sent: string[] = [];
  const recoveries: RecoveryFailedEvent[] = [];
  const wire = {
    ready: true,
    subscribe: (tenantId: string, since: string | null) => sent.push(`subscribe ${tenantId} since ${since}`),
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
  });
  return { subs, wire, sent, clock, recoveries };
}

describe("Subscriptions", () => {
  it("two holders send one subscribe; the last release sends one unsubscribe", async () => {
    const { subs, sent } = subscriptions();
    const first = subs.hold("t1", () => null);
    const second = subs.hold("t1", () => null);
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
    void subs.hold("t1", () => null);
    void subs.hold("global", () => null);
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
    void subs.hold("t1", () => null);
    subs.flush();
    subs.subscribed({ tenantId: "t1", position: "10-0", recovered: true });
    subs.disconnected();
    wire.ready = false;
    subs.delivered({ stream: "t1", position: "11-0" });
    expect(subs.states()["t1"]?.position).toBe("10-0");
  });

  it("a retryable refusal is retried after a backoff; a final one blocks until held again", async () => {
    const { subs, sent, clock } = subscriptions();
    const p = subs.hold("t1", () => null).catch((e: unknown) => e);
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
    void subs.hold("t1", () => null);
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
    const pending = subs.hold("t1", () => null);
    subs.stopped(new NotificationError("client_closed", "closed"));
    await expect(pending).rejects.toMatchObject({ code: "client_closed" });
    await expect(subs.hold("t2", () => new NotificationError("client_closed", "the client is closed"))).rejects.toMatchObject({
      code: "client_closed",
    });
  });
});
