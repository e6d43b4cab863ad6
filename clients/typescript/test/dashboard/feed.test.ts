import { describe, expect, it } from "vitest";
import { bannerOf, feedStep, INITIAL_FEED, type FeedProblem, type FeedState, type PollResult } from "../../app/dashboard/feed.js";
import { feedOf } from "./fixtures.js";

const ok = (at: number): PollResult => ({ ok: true, at, stats: feedOf() });
const fail = (at: number, problem: FeedProblem): PollResult => ({ ok: false, at, problem });
const run = (results: PollResult[]): FeedState => results.reduce(feedStep, INITIAL_FEED);

describe("the feed's state", () => {
  it("starts as starting, with no banner", () => {
    expect(INITIAL_FEED.phase).toBe("starting");
    expect(bannerOf(INITIAL_FEED)).toBeNull();
  });

  it("is up after a good answer", () => {
    expect(run([ok(1000)])).toEqual({ phase: "up", problem: null, lastOkAt: 1000, downSince: null, failures: 0 });
  });

  it("is down after a failure, since the first of a run of failures, keeping the last good answer's time", () => {
    const state = run([ok(1000), fail(2000, { kind: "unreachable", detail: "Failed to fetch" }), fail(3000, { kind: "unauthorized", detail: "" })]);
    expect(state).toEqual({ phase: "down", problem: { kind: "unauthorized", detail: "" }, lastOkAt: 1000, downSince: 2000, failures: 2 });
    expect(run([fail(500, { kind: "unauthorized", detail: "" })])).toMatchObject({ phase: "down", lastOkAt: null, downSince: 500, failures: 1 });
  });

  it("is up again after the next good answer", () => {
    expect(run([ok(1000), fail(2000, { kind: "unreachable", detail: "x" }), ok(3000)])).toEqual({
      phase: "up",
      problem: null,
      lastOkAt: 3000,
      downSince: null,
      failures: 0,
    });
  });
});

describe("the banner while the feed is down", () => {
  const bannerFor = (problem: FeedProblem) => bannerOf(run([fail(0, problem)]));

  it("a refused key (401) says so and asks for the key", () => {
    const banner = bannerFor({ kind: "unauthorized", detail: "missing or wrong API key" });
    expect(banner?.title).toBe("The stats feed is down: the API key was refused (401)");
    expect(banner?.detail).toContain("Enter it again");
    expect(banner?.detail).toContain("Retrying every second");
  });

  it("an unreachable service, another status, an unexpected body", () => {
    expect(bannerFor({ kind: "unreachable", detail: "Failed to fetch" })).toEqual({
      title: "The stats feed is down: the service cannot be reached",
      detail: "GET /v1/stats failed (Failed to fetch). Retrying every second.",
    });
    expect(bannerFor({ kind: "http", status: 404, detail: "Not Found" })).toEqual({
      title: "The stats feed is down: GET /v1/stats answered 404",
      detail: "Not Found. Retrying every second.",
    });
    expect(bannerFor({ kind: "http", status: 503, detail: "" })?.detail).toBe("Retrying every second.");
    expect(bannerFor({ kind: "invalid", detail: "no instance id" })?.title).toBe("The stats feed is down: unexpected answer");
  });

  it("no banner while up", () => {
    expect(bannerOf(run([fail(0, { kind: "unreachable", detail: "x" }), ok(1)]))).toBeNull();
  });
});
