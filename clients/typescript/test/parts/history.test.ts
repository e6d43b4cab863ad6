import { describe, expect, it } from "vitest";
import { NotificationError } from "../../src/errors.js";
import { HistoryPaging, HistoryRequests } from "../../src/client/history.js";

describe("HistoryPaging", () => {
  it("starts below a full backlog, at its oldest notification", () => {
    const paging = new HistoryPaging();
    expect(paging.state("t")).toBeNull();
    paging.backlog({ tenantId: "t", requested: 2, count: 2 });
    expect(paging.state("t")).toEqual({ hasMore: true, before: null });
    expect(paging.backlogItem("t", "10-0")).toBe(true);
    expect(paging.backlogItem("t", "20-0")).toBe(false); // only the first (oldest) one
    expect(paging.state("t")).toEqual({ hasMore: true, before: "10-0" });
  });

  it("a short backlog: nothing older; none asked: from the newest", () => {
    const paging = new HistoryPaging();
    paging.backlog({ tenantId: "a", requested: 50, count: 3 });
    paging.backlog({ tenantId: "b", requested: 0, count: 0 });
    expect(paging.state("a")?.hasMore).toBe(false);
    expect(paging.state("b")).toEqual({ hasMore: true, before: null });
    expect([...paging.entries()].map(([t]) => t)).toEqual(["a", "b"]);
  });

  it("each page moves it on; hasMore without a `before` is taken as no more", () => {
    const paging = new HistoryPaging();
    paging.page("t", { hasMore: true, before: "5-0" });
    expect(paging.state("t")).toEqual({ hasMore: true, before: "5-0" });
    paging.page("t", { hasMore: true, before: null });
    expect(paging.state("t")?.hasMore).toBe(false);
  });
});

describe("HistoryRequests", () => {
  it("sends what waits, once per connection, and again after a lost one", async () => {
    const requests = new HistoryRequests();
    const page = requests.start("h1", { tenantId: "t", limit: 5 }, false);
    const sent: string[] = [];
    requests.sendWaiting((id) => sent.push(id) > 0);
    requests.sendWaiting((id) => sent.push(id) > 0);
    expect(sent).toEqual(["h1"]);
    requests.disconnected();
    requests.sendWaiting((id) => sent.push(id) > 0);
    expect(sent).toEqual(["h1", "h1"]);
    const request = requests.take("h1");
    request?.resolve({ tenantId: "t", notifications: [], hasMore: false, before: null });
    await expect(page).resolves.toMatchObject({ hasMore: false });
    expect(requests.take("h1")).toBeUndefined();
  });

  it("a send that fails stops the round and leaves the request waiting", () => {
    const requests = new HistoryRequests();
    void requests.start("h1", { tenantId: "t" }, false);
    void requests.start("h2", { tenantId: "t" }, false);
    const tried: string[] = [];
    requests.sendWaiting((id) => (tried.push(id), false));
    expect(tried).toEqual(["h1"]);
    requests.sendWaiting((id) => tried.push(id) > 0);
    expect(tried).toEqual(["h1", "h1", "h2"]);
  });

  it("takeAll empties it (the client rejects them)", async () => {
    const requests = new HistoryRequests();
    const page = requests.start("h1", { tenantId: "t" }, true);
    const all = requests.takeAll();
    expect(all.map((r) => [r.messageId, r.paging])).toEqual([["h1", true]]);
    all[0]?.reject(new NotificationError("client_closed", "closed"));
    await expect(page).rejects.toMatchObject({ code: "client_closed" });
    expect(requests.size).toBe(0);
  });
});
