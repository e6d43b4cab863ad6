import { describe, expect, it } from "vitest";
import { Heartbeat } from "../../src/client/heartbeat.js";
import { TimerSet } from "../../src/client/timers.js";
import { FakeClock } from "../helpers/fakes.js";

function heartbeat(): { hb: Heartbeat; clock: FakeClock; log: string[] } {
  const clock = new FakeClock();
  const log: string[] = [];
  let n = 0;
  const hb = new Heartbeat({
    clock,
    timers: new TimerSet(clock),
    intervalMs: 25_000,
    timeoutMs: 10_000,
    ping: () => {
      n += 1;
      log.push(`ping p${n}`);
      return `p${n}`;
    },
    answered: (id) => log.push(`answered ${id}`),
    dead: () => log.push("dead"),
  });
  return { hb, clock, log };
}

describe("Heartbeat", () => {
  it("pings after the interval of silence, and is dead without a frame within the timeout", async () => {
    const { hb, clock, log } = heartbeat();
    hb.start();
    await clock.advance(24_999);
    expect(log).toEqual([]);
    await clock.advance(1);
    expect(log).toEqual(["ping p1"]);
    await clock.advance(10_000);
    expect(log).toEqual(["ping p1", "dead"]);
  });

  it("any frame answers the ping and restarts the interval; frames delay the next ping", async () => {
    const { hb, clock, log } = heartbeat();
    hb.start();
    await clock.advance(20_000);
    hb.seen(); // silence counts from here
    await clock.advance(20_000);
    expect(log).toEqual([]);
    await clock.advance(5_000);
    expect(log).toEqual(["ping p1"]);
    hb.seen();
    expect(log).toEqual(["ping p1", "answered p1"]);
    await clock.advance(20_000);
    expect(log).toEqual(["ping p1", "answered p1"]);
  });

  it("a probe pings at once, and finds an overdue ping dead by the wall clock", () => {
    const { hb, clock, log } = heartbeat();
    hb.start();
    expect(hb.probe()).toBe(true);
    expect(log).toEqual(["ping p1"]);
    expect(hb.probe()).toBe(false); // outstanding, not yet overdue
    clock.jump(10_000); // a sleeping laptop: no timer fired
    expect(hb.probe()).toBe(false);
    expect(log).toEqual(["ping p1", "dead"]);
  });

  it("stop leaves no timer", async () => {
    const { hb, clock, log } = heartbeat();
    hb.start();
    hb.stop();
    expect(clock.pending).toBe(0);
    await clock.advance(60_000);
    expect(log).toEqual([]);
  });
});
