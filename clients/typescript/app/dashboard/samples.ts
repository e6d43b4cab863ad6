/**
 * The samples the dashboard keeps: one per answer of the feed, with the time (the page's clock, ms) it
 * arrived, for the last WINDOW_MS (5 minutes), at most MAX_SAMPLES. Immutable: adding returns a new array.
 */
import { overviewOf, type Overview } from "./overview.js";
import type { StatsFeed } from "./stats.js";

export const WINDOW_MS = 5 * 60_000;
/** A bound whatever the clock does (one sample a second fills the window with 300). */
export const MAX_SAMPLES = 600;

export interface Sample {
  /** When the answer arrived (ms since the epoch, the page's clock). */
  at: number;
  feed: StatsFeed;
  overview: Overview;
}

export function sampleOf(at: number, feed: StatsFeed): Sample {
  return { at, feed, overview: overviewOf(feed) };
}

/**
 * `samples` with `sample` added last, without those older than `windowMs` before it. A sample not later than
 * the last one (the page's clock went back) replaces every sample from its time on.
 */
export function addSample(samples: readonly Sample[], sample: Sample, windowMs = WINDOW_MS, max = MAX_SAMPLES): Sample[] {
  const since = sample.at - windowMs;
  const kept = samples.filter((s) => s.at >= since && s.at < sample.at);
  kept.push(sample);
  return kept.length > max ? kept.slice(kept.length - max) : kept;
}

export const latestSample = (samples: readonly Sample[]): Sample | null => samples[samples.length - 1] ?? null;
