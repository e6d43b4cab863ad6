// @vitest-environment happy-dom
import { act, cleanup, render, screen } from "@testing-library/react";
import type { ReactNode } from "react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Dashboard } from "../../app/dashboard/Dashboard.js";
import type { FetchLike } from "../../app/dashboard/poll.js";
import { useStatsFeed } from "../../app/dashboard/useStatsFeed.js";
import { feedDoc, instanceDoc } from "./fixtures.js";

/** The page without its bootstrap: the feed polled with `fetchFn`, the dashboard rendered from it. */
function Page({ fetchFn }: { fetchFn: FetchLike }): ReactNode {
  const state = useStatsFeed("k", fetchFn);
  return <Dashboard state={state} now={Date.now()} onChangeKey={() => undefined} />;
}

const json = (status: number, body: unknown): Response => new Response(JSON.stringify(body), { status });

describe("the dashboard rendered from a fake feed", () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date"] });
  });
  afterEach(() => {
    cleanup();
    vi.useRealTimers();
  });

  it("shows the figures, each instance and the total; a 401 shows the banner and it keeps retrying until the feed is back", async () => {
    let answer: () => Response = () => json(200, feedDoc([instanceDoc("a:1", { connections: 4 }), instanceDoc("b:2", { connections: 1 })]));
    const calls: string[] = [];
    const fetchFn: FetchLike = async (_url, init) => {
      calls.push(init.headers["Authorization"] ?? "");
      return answer();
    };
    render(<Page fetchFn={fetchFn} />);
    await act(() => vi.advanceTimersByTimeAsync(0));
    expect(screen.getByTestId("value-connections").textContent).toBe("5");
    expect(screen.getByTestId("feed-status").dataset["phase"]).toBe("up");
    expect(screen.getAllByTestId("instance-row").map((r) => r.dataset["instance"])).toEqual(["a:1", "b:2"]);
    expect(screen.getByTestId("instance-total").querySelector('[data-col="connections"]')?.textContent).toBe("5");
    expect(screen.getByTestId("instance-count").textContent).toBe("2 instances");
    expect(screen.queryByTestId("feed-down")).toBeNull();
    expect(screen.getAllByTestId("disconnect-row").map((r) => r.textContent)).toEqual(["1000 normal60", "4004 slow_consumer20"]);
    expect(screen.getAllByTestId("tenant-row").map((r) => r.dataset["tenant"])).toEqual(["tenant-001"]);

    answer = () => json(401, { error: "missing or wrong API key" });
    await act(() => vi.advanceTimersByTimeAsync(1000));
    const banner = screen.getByTestId("feed-down");
    expect(banner.getAttribute("role")).toBe("alert");
    expect(banner.dataset["problem"]).toBe("unauthorized");
    expect(screen.getByTestId("feed-down-title").textContent).toBe("The stats feed is down: the API key was refused (401)");
    expect(screen.getByTestId("feed-status").dataset["phase"]).toBe("down");
    expect(screen.getByTestId("value-connections").textContent).toBe("5"); // the last figures stay

    await act(() => vi.advanceTimersByTimeAsync(3000));
    expect(calls).toHaveLength(5); // every second
    expect(banner.textContent).toContain("4 failed attempts");

    answer = () => json(200, feedDoc([instanceDoc("a:1", { connections: 7 })]));
    await act(() => vi.advanceTimersByTimeAsync(1000));
    expect(screen.queryByTestId("feed-down")).toBeNull();
    expect(screen.getByTestId("value-connections").textContent).toBe("7");
    expect(new Set(calls)).toEqual(new Set(["Bearer k"]));
  });

  it("an unreachable service shows the banner too", async () => {
    const fetchFn: FetchLike = async () => {
      throw new TypeError("Failed to fetch");
    };
    render(<Page fetchFn={fetchFn} />);
    await act(() => vi.advanceTimersByTimeAsync(0));
    expect(screen.getByTestId("feed-down").dataset["problem"]).toBe("unreachable");
    expect(screen.getByTestId("feed-down-title").textContent).toBe("The stats feed is down: the service cannot be reached");
    expect(screen.getByTestId("value-connections").textContent).toBe("—");
  });
});
