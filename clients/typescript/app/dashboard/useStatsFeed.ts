/** The React side of the feed: polls `GET /v1/stats` with `key` every second while mounted (and a key is known). */
import { useEffect, useReducer } from "react";
import { fetchStats, Poller, type FetchLike } from "./poll.js";
import { dashboardStep, INITIAL_DASHBOARD, type DashboardState } from "./state.js";

const browserFetch: FetchLike = (url, init) => fetch(url, init);

export function useStatsFeed(key: string | null, fetchFn: FetchLike = browserFetch): DashboardState {
  const [state, dispatch] = useReducer(dashboardStep, INITIAL_DASHBOARD);
  useEffect(() => {
    if (key === null) return undefined;
    const poller = new Poller({ poll: () => fetchStats(fetchFn, key), onResult: dispatch });
    poller.start();
    return () => poller.stop();
  }, [key, fetchFn]);
  return state;
}
