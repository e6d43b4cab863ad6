import { describe, expect, it } from "vitest";
import { Store } from "../../src/client/store.js";
import { TimerSet } from "../../src/client/timers.js";
import { FakeClock, settle } from "../helpers/fakes.js";

describe("Store", () => {
  it("rebuilds the snapshot only after a change, and tells listeners once per tick", async () => {
    let value = 0;
    let builds = 0;
    const store = new Store({ build: () => ({ value, build: ++builds }) });
    const first = store.getSnapshot();
    expect(store.getSnapshot()).toBe(first);
    let calls = 0;
    const off = store.api.subscribe(() => (calls += 1));
    for (let i = 0; i < 100; i++) {
      value += 1;
      store.changed();
    }
    expect(calls).toBe(0); // at the end of the tick
    await settle();
    expect(calls).toBe(1);
    expect(store.api.getSnapshot()).toMatchObject({ value: 100, build: 2 });
    off();
    store.changed();
    await settle();
    expect(calls).toBe(1);
  });

  it("runs the end-of-tick task before the listeners, also when only scheduled", async () => {
    const order: string[] = [];
    const store = new Store({ build: () => ({}), atEndOfTick: () => order.push("task") });
    store.api.subscribe(() => order.push("listener"));
    store.schedule();
    await settle();
    expect(order).toEqual(["task"]); // nothing changed: no listener call
    store.changed();
    await settle();
    expect(order).toEqual(["task", "task", "listener"]);
  });

  it("a throwing listener does not stop the others", async () => {
    const store = new Store({ build: () => ({}) });
    const errors: unknown[] = [];
    const onError = (e: unknown): number => errors.push(e);
    let called = false;
    process.on("uncaughtException", onError);
    try {
      store.api.subscribe(() => {
        throw new Error("boom");
      });
      store.api.subscribe(() => (called = true));
      store.changed();
      await settle();
      await new Promise((r) => setTimeout(r, 0));
    } finally {
      process.off("uncaughtException", onError);
    }
    expect(called).toBe(true);
    expect(errors).toHaveLength(1);
  });
});

describe("TimerSet", () => {
  it("keeps one timer per name and clears all of them", async () => {
    const clock = new FakeClock();
    const timers = new TimerSet(clock);
    const fired: string[] = [];
    timers.set("pump", () => fired.push("pump-1"), 100);
    timers.set("pump", () => fired.push("pump-2"), 200); // replaces the first
    timers.set("retry:t1", () => fired.push("retry"), 50);
    expect(clock.pending).toBe(2);
    await clock.advance(150);
    expect(fired).toEqual(["retry"]);
    expect(timers.has("retry:t1")).toBe(false);
    expect(timers.has("pump")).toBe(true);
    timers.clearAll();
    expect(clock.pending).toBe(0);
    await clock.advance(1000);
    expect(fired).toEqual(["retry"]);
  });
});
