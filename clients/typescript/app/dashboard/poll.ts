/**
 * The feed's I/O: one `GET /v1/stats` with the key (every failure turned into a FeedProblem, never thrown),
 * and a poller that asks once a second — the next request a second after the previous one started, never two
 * at once. The fetch function and the timers are injected (the unit tests pass fakes).
 */
import type { PollResult } from "./feed.js";
import { parseStats } from "./stats.js";

export const STATS_PATH = "/v1/stats";
export const POLL_INTERVAL_MS = 1000;
export const POLL_TIMEOUT_MS = 3000;

export type FetchLike = (url: string, init: { headers: Record<string, string>; cache: "no-store"; signal: AbortSignal }) => Promise<Response>;

export interface Timers {
  setTimeout: (fn: () => void, ms: number) => unknown;
  clearTimeout: (handle: unknown) => void;
}

const defaultTimers: Timers = {
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof globalThis.setTimeout>),
};

export interface FetchStatsOptions {
  url?: string;
  timeoutMs?: number;
  now?: () => number;
  timers?: Timers;
}

const message = (error: unknown): string => (error instanceof Error ? error.message : String(error)) || "failed";

/** The `error` field of a problem body, if any. */
async function problemDetail(response: Response): Promise<string> {
  try {
    const body: unknown = await response.json();
    if (typeof body === "object" && body !== null && "error" in body && typeof body.error === "string") return body.error;
  } catch {
    // no JSON body
  }
  return response.statusText;
}

export async function fetchStats(fetchFn: FetchLike, key: string, options: FetchStatsOptions = {}): Promise<PollResult> {
  const { url = STATS_PATH, timeoutMs = POLL_TIMEOUT_MS, now = Date.now, timers = defaultTimers } = options;
  const controller = new AbortController();
  const timer = timers.setTimeout(() => controller.abort(new Error(`no answer within ${timeoutMs / 1000} s`)), timeoutMs);
  try {
    let response: Response;
    try {
      response = await fetchFn(url, {
        headers: { Authorization: `Bearer ${key}`, Accept: "application/json" },
        cache: "no-store",
        signal: controller.signal,
      });
    } catch (error) {
      const reason: unknown = controller.signal.aborted ? controller.signal.reason : error;
      return { ok: false, at: now(), problem: { kind: "unreachable", detail: message(reason) } };
    }
    if (response.status === 401) return { ok: false, at: now(), problem: { kind: "unauthorized", detail: await problemDetail(response) } };
    if (!response.ok) {
      return { ok: false, at: now(), problem: { kind: "http", status: response.status, detail: await problemDetail(response) } };
    }
    let body: unknown;
    try {
      body = await response.json();
    } catch (error) {
      if (controller.signal.aborted) return { ok: false, at: now(), problem: { kind: "unreachable", detail: message(controller.signal.reason) } };
      return { ok: false, at: now(), problem: { kind: "invalid", detail: `not JSON: ${message(error)}` } };
    }
    try {
      return { ok: true, at: now(), stats: parseStats(body) };
    } catch (error) {
      return { ok: false, at: now(), problem: { kind: "invalid", detail: message(error) } };
    }
  } finally {
    timers.clearTimeout(timer);
  }
}

export interface PollerOptions {
  poll: () => Promise<PollResult>;
  onResult: (result: PollResult) => void;
  intervalMs?: number;
  now?: () => number;
  timers?: Timers;
}

/** Polls from `start()` (at once, then every `intervalMs`) until `stop()`; a result after `stop()` is dropped. */
export class Poller {
  private timer: unknown = null;
  private running = false;
  private readonly intervalMs: number;
  private readonly now: () => number;
  private readonly timers: Timers;

  constructor(private readonly options: PollerOptions) {
    this.intervalMs = options.intervalMs ?? POLL_INTERVAL_MS;
    this.now = options.now ?? Date.now;
    this.timers = options.timers ?? defaultTimers;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    void this.tick();
  }

  stop(): void {
    this.running = false;
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    this.timer = null;
  }

  get active(): boolean {
    return this.running;
  }

  private async tick(): Promise<void> {
    this.timer = null;
    const started = this.now();
    let result: PollResult;
    try {
      result = await this.options.poll();
    } catch (error) {
      result = { ok: false, at: this.now(), problem: { kind: "unreachable", detail: message(error) } };
    }
    if (!this.running) return;
    this.options.onResult(result);
    if (!this.running) return; // onResult may stop it
    const wait = Math.max(0, this.intervalMs - (this.now() - started));
    this.timer = this.timers.setTimeout(() => void this.tick(), wait);
  }
}
