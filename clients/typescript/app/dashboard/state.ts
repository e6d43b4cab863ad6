/** The dashboard's state, one pure step per poll: whether the feed is up, and the samples of the last minutes. */
import { feedStep, INITIAL_FEED, type FeedState, type PollResult } from "./feed.js";
import { addSample, sampleOf, type Sample } from "./samples.js";

export interface DashboardState {
  feed: FeedState;
  /** Oldest first; a failed poll adds none (the charts show the gap). */
  samples: readonly Sample[];
}

export const INITIAL_DASHBOARD: DashboardState = { feed: INITIAL_FEED, samples: [] };

export function dashboardStep(state: DashboardState, result: PollResult): DashboardState {
  const feed = feedStep(state.feed, result);
  const samples = result.ok ? addSample(state.samples, sampleOf(result.at, result.stats)) : state.samples;
  return { feed, samples };
}
