import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { PollResult } from "../../app/dashboard/feed.js";
import { fetchStats, Poller, POLL_INTERVAL_MS, STATS_PATH, type FetchLike } from "../../app/dashboard/poll.js";
import { feedDoc } from "./fixtures.js";

type Init = Parameters<FetchLike>[1];

/** A fake fetch answering with `answer(call)`; records each call's URL and init. */
function fakeFetch(answer: (call: number, init: Init) => Response | Promise<Response>) {
  const calls: { url: string; init: Init }[] = [];
  const fn: FetchLike = async (url, init) => {
    calls.push({ url, init });
    return answer(calls.length, init);
  };
  return { fn, calls };
}

const json = (status: number, body: unknown): Response =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

describe("fetchStats: one GET /v1/stats", () => {
  const now = () => 1234;

  it("sends the key as a bearer token, no caching, and parses the feed", async () => {
    const fetch = fakeFetch(() => json(200, feedDoc()));
    const result = await fetchStats(fetch.fn, "the-key", { now });
    expect(fetch.calls).toHaveLength(1);
    expect(fetch.calls[0]?.url).toBe(STATS_PATH);
    expect(fetch.calls[0]?.init.headers["Authorization"]).toBe("Bearer the-key");
    expect(fetch.calls[0]?.init.cache).toBe("no-store");
    expect(result.ok && result.stats.instance).toBe("host:1");
    expect(result.at).toBe(1234);
  });

  it("401: unauthorized, with the service's error", async () => {
    const result = await fetchStats(fakeFetch(() => json(401, { error: "missing or wrong API key" })).fn, "bad", { now });
    expect(result).toEqual({ ok: false, at: 1234, problem: { kind: "unauthorized", detail: "missing or wrong API key" } });
  });

  it("another status: http, with its status", async () => {
    const result = await fetchStats(fakeFetch(() => new Response("nope", { status: 503, statusText: "Service Unavailable" })).fn, "k", { now });
    expect(result).toEqual({ ok: false, at: 1234, problem: { kind: "http", status: 503, detail: "Service Unavailable" } });
  });

  it("a failed request (the service is down): unreachable", async () => {
    const result = await fetchStats(
      async () => {
        throw new TypeError("Failed to fetch");
      },
      "k",
      { now },
    );
    expect(result).toEqual({ ok: false, at: 1234, problem: { kind: "unreachable", detail: "Failed to fetch" } });
  });

  it("a body that is not the feed: invalid", async () => {
    const notJson = await fetchStats(fakeFetch(() => new Response("<html>", { status: 200 })).fn, "k", { now });
    expect(notJson.ok === false && notJson.problem.kind).toBe("invalid");
    const wrong = await fetchStats(fakeFetch(() => json(200, { hello: 1 })).fn, "k", { now });
    expect(wrong).toMatchObject({ ok: false, problem: { kind: "invalid", detail: expect.stringContaining("instance id") } });
  });

  describe("with fake timers", () => {
    beforeEach(() => {
      vi.useFakeTimers();
    });
    afterEach(() => {
      vi.useRealTimers();
    });

    it("no answer within the timeout: aborted, unreachable", async () => {
      const hanging: FetchLike = (_url, init) =>
        new Promise((_resolve, reject) => init.signal.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError"))));
      const pending = fetchStats(hanging, "k", { timeoutMs: 3000, now });
      await vi.advanceTimersByTimeAsync(3000);
      expect(await pending).toEqual({ ok: false, at: 1234, problem: { kind: "unreachable", detail: "no answer within 3 s" } });
      expect(vi.getTimerCount()).toBe(0);
    });
  });
});

describe("Poller: once a second, never two at once", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  const result = (): PollResult => ({ ok: false, at: Date.now(), problem: { kind: "unreachable", detail: "x" } });

  it("polls at once, then a second after each poll started, and keeps retrying after failures", async () => {
    const polls: number[] = [];
    const results: PollResult[] = [];
    const poller = new Poller({
      poll: async () => {
        polls.push(Date.now());
        return result();
      },
      onResult: (r) => results.push(r),
    });
    const t0 = Date.now();
    poller.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(polls).toEqual([t0]);
    await vi.advanceTimersByTimeAsync(POLL_INTERVAL_MS * 5);
    expect(polls.map((t) => t - t0)).toEqual([0, 1000, 2000, 3000, 4000, 5000]);
    expect(results).toHaveLength(6);
    poller.stop();
    await vi.advanceTimersByTimeAsync(5000);
    expect(polls).toHaveLength(6);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("a slow answer delays the next poll (no overlap); past the interval the next one starts at once", async () => {
    const starts: number[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const delays = [300, 2500, 100];
    const poller = new Poller({
      poll: async () => {
        starts.push(Date.now());
        inFlight += 1;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await new Promise((resolve) => setTimeout(resolve, delays[starts.length - 1] ?? 0));
        inFlight -= 1;
        return result();
      },
      onResult: () => undefined,
    });
    const t0 = Date.now();
    poller.start();
    await vi.advanceTimersByTimeAsync(4600);
    poller.stop();
    // 300 ms: the next a second after the first began; 2500 ms: the next at once (a 0 ms timer fires after 1 ms)
    expect(starts.map((t) => t - t0)).toEqual([0, 1000, 3501, 4501]);
    expect(maxInFlight).toBe(1);
  });

  it("a result arriving after stop() is dropped", async () => {
    const results: PollResult[] = [];
    const poller = new Poller({
      poll: () => new Promise((resolve) => setTimeout(() => resolve(result()), 500)),
      onResult: (r) => results.push(r),
    });
    poller.start();
    await vi.advanceTimersByTimeAsync(100);
    poller.stop();
    await vi.advanceTimersByTimeAsync(2000);
    expect(results).toEqual([]);
    expect(poller.active).toBe(false);
  });

  it("a poll that throws counts as unreachable", async () => {
    const results: PollResult[] = [];
    const poller = new Poller({
      poll: async () => {
        throw new Error("boom");
      },
      onResult: (r) => results.push(r),
    });
    poller.start();
    await vi.advanceTimersByTimeAsync(0);
    poller.stop();
    expect(results[0]).toMatchObject({ ok: false, problem: { kind: "unreachable", detail: "boom" } });
  });
});
