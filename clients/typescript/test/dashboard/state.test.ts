import { describe, expect, it } from "vitest";
import type { PollResult } from "../../app/dashboard/feed.js";
import { dashboardStep, INITIAL_DASHBOARD } from "../../app/dashboard/state.js";
import { feedOf } from "./fixtures.js";

describe("the dashboard's state", () => {
  it("a good answer adds a sample; a failure adds none and keeps the samples", () => {
    const results: PollResult[] = [
      { ok: true, at: 1000, stats: feedOf() },
      { ok: true, at: 2000, stats: feedOf() },
      { ok: false, at: 3000, problem: { kind: "unauthorized", detail: "" } },
    ];
    const states = [INITIAL_DASHBOARD];
    for (const result of results) states.push(dashboardStep(states[states.length - 1] ?? INITIAL_DASHBOARD, result));
    states.shift();
    expect(states.map((s) => s.samples.length)).toEqual([1, 2, 2]);
    expect(states.map((s) => s.feed.phase)).toEqual(["up", "up", "down"]);
    expect(states[2]?.samples).toBe(states[1]?.samples);
  });
});
