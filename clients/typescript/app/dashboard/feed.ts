/**
 * Whether the stats feed is up, as the page shows it: a pure step from one poll's result to the next state,
 * and the banner's words for a feed that is down (`GET /v1/stats` failing, unreachable, or refusing the key).
 */
import type { StatsFeed } from "./stats.js";

export type FeedProblem =
  /** 401: no key or the wrong one. */
  | { kind: "unauthorized"; detail: string }
  /** The request failed (the service is down or unreachable) or timed out. */
  | { kind: "unreachable"; detail: string }
  /** Another HTTP status (404: a service without `/v1/stats`; 5xx). */
  | { kind: "http"; status: number; detail: string }
  /** A 200 whose body is not the feed's JSON. */
  | { kind: "invalid"; detail: string };

export type PollResult = { ok: true; at: number; stats: StatsFeed } | { ok: false; at: number; problem: FeedProblem };

export interface FeedState {
  /** `starting` until the first answer, then `up` or `down` after each. */
  phase: "starting" | "up" | "down";
  problem: FeedProblem | null;
  /** When the last good answer arrived (ms), if any. */
  lastOkAt: number | null;
  /** When the feed went down (the first failure of this run of failures). */
  downSince: number | null;
  /** Failures in a row. */
  failures: number;
}

export const INITIAL_FEED: FeedState = { phase: "starting", problem: null, lastOkAt: null, downSince: null, failures: 0 };

export function feedStep(state: FeedState, result: PollResult): FeedState {
  if (result.ok) return { phase: "up", problem: null, lastOkAt: result.at, downSince: null, failures: 0 };
  return {
    phase: "down",
    problem: result.problem,
    lastOkAt: state.lastOkAt,
    downSince: state.phase === "down" && state.downSince !== null ? state.downSince : result.at,
    failures: state.failures + 1,
  };
}

export interface Banner {
  title: string;
  detail: string;
}

/** What the banner says while the feed is down (null while it is up or starting). */
export function bannerOf(state: FeedState): Banner | null {
  const { problem } = state;
  if (state.phase !== "down" || problem === null) return null;
  const retry = "Retrying every second.";
  switch (problem.kind) {
    case "unauthorized":
      return {
        title: "The stats feed is down: the API key was refused (401)",
        detail: `GET /v1/stats needs the service's API key (ARDA_API_KEY). Enter it again. ${retry}`,
      };
    case "unreachable":
      return {
        title: "The stats feed is down: the service cannot be reached",
        detail: `GET /v1/stats failed (${problem.detail}). ${retry}`,
      };
    case "http":
      return {
        title: `The stats feed is down: GET /v1/stats answered ${problem.status}`,
        detail: `${problem.detail ? `${problem.detail}. ` : ""}${retry}`,
      };
    case "invalid":
      return {
        title: "The stats feed is down: unexpected answer",
        detail: `GET /v1/stats did not answer with the feed's JSON (${problem.detail}). ${retry}`,
      };
  }
}
