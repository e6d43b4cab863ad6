// @vitest-environment happy-dom
import { act, cleanup, render, screen } from "@testing-library/react";
import { StrictMode, useEffect, type ReactNode } from "react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ClientRegistry } from "../src/registry.js";
import { useNotifications, type UseNotificationsOptions, type UseNotificationsResult } from "../src/useNotifications.js";
import { FakeClock, FakeDocument, FakeSockets, FakeWindow, settle, type FakeWebSocket } from "./helpers/fakes.js";
import { notification } from "./helpers/harness.js";

const URL = "ws://arda.test/ws";

function world() {
  const clock = new FakeClock();
  const sockets = new FakeSockets();
  const window = new FakeWindow();
  const document = new FakeDocument();
  const registry = new ClientRegistry({ clock, graceMs: 1500 });
  const base: UseNotificationsOptions = {
    url: URL,
    token: "token-u1",
    identity: "u-1",
    registry,
    clientOptions: { WebSocket: sockets.WebSocket, clock, window, document, random: () => 0.5 },
  };
  /** Run server-side actions inside act, letting microtasks and renders settle. */
  const server = async (fn: () => void = () => undefined): Promise<void> => {
    await act(async () => {
      fn();
      await settle();
    });
  };
  const authenticate = async (ws: FakeWebSocket): Promise<void> => {
    await server(() => ws.open());
    await server(() =>
      ws.reply("authenticate", "authenticated", {
        userId: "u-1",
        tenants: ["tenant-001", "tenant-002"],
        expiresAt: new Date(clock.now() + 3_600_000).toISOString(),
      }),
    );
  };
  const confirmAll = async (ws: FakeWebSocket, position = "100-0", recovered = true): Promise<void> => {
    await server(() => {
      for (const m of ws.ofType("subscribe")) {
        ws.push({ type: "subscribed", payload: { tenantId: m.payload?.["tenantId"], position, recovered }, messageId: m.messageId });
      }
    });
  };
  return { clock, sockets, window, document, registry, base, server, authenticate, confirmAll };
}

type World = ReturnType<typeof world>;

/** Renders the hook and exposes its latest result. */
function Probe(props: { options: UseNotificationsOptions; onResult?: (r: UseNotificationsResult) => void; id?: string }): ReactNode {
  const result = useNotifications(props.options);
  props.onResult?.(result);
  return (
    <div data-testid={props.id ?? "probe"}>
      {result.status}|{result.notifications.length}|{result.unreadCount}
    </div>
  );
}

afterEach(() => {
  cleanup();
});

async function teardownAndCheck(w: World, unmount: () => void): Promise<void> {
  unmount();
  await w.server();
  await act(async () => {
    await w.clock.advance(1500);
  });
  expect(w.registry.size).toBe(0);
  expect(w.sockets.open).toBe(0);
  expect(w.clock.pending).toBe(0);
  expect(w.window.listenerCount + w.document.listenerCount).toBe(0);
}

describe("useNotifications", () => {
  it("StrictMode's double mount opens one socket and sends one subscribe per tenant", async () => {
    const w = world();
    function App(): ReactNode {
      const { subscribe, status } = useNotifications({ ...w.base, tenantId: "tenant-001" });
      useEffect(() => {
        void subscribe("tenant-002").catch(() => undefined);
      }, [subscribe]);
      return <span>{status}</span>;
    }
    const { unmount } = render(
      <StrictMode>
        <App />
      </StrictMode>,
    );
    await w.server();
    expect(w.sockets.all).toHaveLength(1);
    const ws = w.sockets.last;
    await w.authenticate(ws);
    expect(ws.ofType("subscribe").map((m) => m.payload)).toEqual([{ tenantId: "tenant-001" }, { tenantId: "tenant-002" }]);
    expect(ws.ofType("unsubscribe")).toHaveLength(0);
    await w.confirmAll(ws);
    expect(screen.getByText("connected")).toBeTruthy();
    await teardownAndCheck(w, unmount);
  });

  it("StrictMode mount while already connected: still one subscribe, no unsubscribe", async () => {
    const w = world();
    const first = render(<Probe id="a" options={{ ...w.base, tenantId: "tenant-001" }} />);
    await w.server();
    const ws = w.sockets.last;
    await w.authenticate(ws);
    await w.confirmAll(ws);
    const second = render(
      <StrictMode>
        <Probe id="b" options={{ ...w.base, tenantId: "tenant-002" }} />
      </StrictMode>,
    );
    await w.server();
    expect(w.sockets.all).toHaveLength(1);
    expect(ws.ofType("subscribe").map((m) => m.payload?.["tenantId"])).toEqual(["tenant-001", "tenant-002"]);
    expect(ws.ofType("unsubscribe")).toHaveLength(0);
    second.unmount();
    await teardownAndCheck(w, first.unmount);
  });

  it("two components on one tenant share the connection and send one subscribe", async () => {
    const w = world();
    const { unmount } = render(
      <>
        <Probe id="a" options={{ ...w.base, tenantId: "tenant-001" }} />
        <Probe id="b" options={{ ...w.base, tenantId: "tenant-001" }} />
      </>,
    );
    await w.server();
    const ws = w.sockets.last;
    await w.authenticate(ws);
    await w.confirmAll(ws);
    expect(w.sockets.all).toHaveLength(1);
    expect(ws.ofType("subscribe")).toHaveLength(1);
    await w.server(() => ws.push({ type: "notification", payload: notification() }));
    expect(screen.getByTestId("a").textContent).toBe("connected|1|1");
    expect(screen.getByTestId("b").textContent).toBe("connected|1|1");
    await teardownAndCheck(w, unmount);
  });

  it("inline options and callbacks never reconnect or resubscribe; the latest callback is called", async () => {
    const w = world();
    const calls: string[] = [];
    const options = (label: string): UseNotificationsOptions => ({
      ...w.base,
      token: () => `token-${label}`,
      identity: "u-1",
      tenantId: "tenant-001",
      onNotification: () => void calls.push(label),
    });
    const { rerender, unmount } = render(<Probe options={options("first")} />);
    await w.server();
    const ws = w.sockets.last;
    await w.authenticate(ws);
    await w.confirmAll(ws);
    for (const label of ["second", "third"]) rerender(<Probe options={options(label)} />);
    await w.server(() => ws.push({ type: "notification", payload: notification() }));
    expect(calls).toEqual(["third"]);
    expect(w.sockets.all).toHaveLength(1);
    expect(ws.ofType("subscribe")).toHaveLength(1);
    expect(ws.ofType("unsubscribe")).toHaveLength(0);
    // the next connection attempt uses the latest token function
    await w.server(() => ws.serverClose(1001));
    await act(async () => {
      await w.clock.advance(1000);
    });
    await w.server(() => w.sockets.last.open());
    expect(w.sockets.last.lastOfType("authenticate").payload).toEqual({ token: "token-third" });
    await teardownAndCheck(w, unmount);
  });

  it("subscribe and unsubscribe return promises settled by the server's reply", async () => {
    const w = world();
    let api: UseNotificationsResult | undefined;
    const { unmount } = render(<Probe options={w.base} onResult={(r) => (api = r)} />);
    await w.server();
    const ws = w.sockets.last;
    await w.authenticate(ws);
    let result: unknown;
    let rejected: unknown;
    await w.server(() => {
      void api?.subscribe("tenant-002").then((r) => (result = r));
      void api?.subscribe("tenant-009").catch((e: unknown) => (rejected = e));
    });
    expect(result).toBeUndefined();
    await w.server(() => {
      const [ok, refused] = ws.ofType("subscribe");
      ws.push({ type: "subscribed", payload: { tenantId: "tenant-002", position: "7-0", recovered: true }, messageId: ok?.messageId });
      ws.push({ type: "error", payload: { code: "forbidden", message: "not allowed for tenant tenant-009" }, messageId: refused?.messageId });
    });
    expect(result).toEqual({ tenantId: "tenant-002", position: "7-0", recovered: true });
    expect(rejected).toMatchObject({ code: "forbidden" });
    expect(api?.subscriptions["tenant-002"]?.status).toBe("subscribed");

    let done = false;
    await w.server(() => void api?.unsubscribe("tenant-002").then(() => (done = true)));
    expect(ws.lastOfType("unsubscribe").payload).toEqual({ tenantId: "tenant-002" });
    expect(done).toBe(false);
    await w.server(() => ws.reply("unsubscribe", "unsubscribed", { tenantId: "tenant-002" }));
    expect(done).toBe(true);
    await teardownAndCheck(w, unmount);
  });

  it("changing tenantId moves the subscription", async () => {
    const w = world();
    const { rerender, unmount } = render(<Probe options={{ ...w.base, tenantId: "tenant-001" }} />);
    await w.server();
    const ws = w.sockets.last;
    await w.authenticate(ws);
    await w.confirmAll(ws);
    rerender(<Probe options={{ ...w.base, tenantId: "tenant-002" }} />);
    await w.server();
    expect(ws.messages().map((m) => [m.type, m.payload?.["tenantId"]]).slice(1)).toEqual([
      ["subscribe", "tenant-001"],
      ["unsubscribe", "tenant-001"],
      ["subscribe", "tenant-002"],
    ]);
    await teardownAndCheck(w, unmount);
  });

  it("markAsRead is optimistic; acknowledgements from another tab update unreadCount", async () => {
    const w = world();
    let api: UseNotificationsResult | undefined;
    const { unmount } = render(<Probe options={{ ...w.base, tenantId: "tenant-001" }} onResult={(r) => (api = r)} />);
    await w.server();
    const ws = w.sockets.last;
    await w.authenticate(ws);
    await w.confirmAll(ws);
    const a = notification();
    const b = notification();
    await w.server(() => {
      ws.push({ type: "notification", payload: a });
      ws.push({ type: "notification", payload: b });
    });
    expect(api?.unreadCount).toBe(2);
    await w.server(() => api?.markAsRead(a["id"] as string));
    expect(api?.unreadCount).toBe(1);
    expect(ws.lastOfType("acknowledge").payload).toEqual({ notificationId: a["id"] });
    await w.server(() => ws.push({ type: "acknowledged", payload: { notificationId: b["id"] } }));
    expect(api?.unreadCount).toBe(0);
    expect(api?.notifications.every((n) => n.read)).toBe(true);
    await w.server(() => api?.clearNotifications());
    expect(api?.notifications).toEqual([]);
    await teardownAndCheck(w, unmount);
  });

  it("a burst of 100 notifications in one tick all render", async () => {
    const w = world();
    const renders = vi.fn();
    const { unmount } = render(
      <Probe options={{ ...w.base, tenantId: "tenant-001", maxNotifications: 200 }} onResult={renders} />,
    );
    await w.server();
    const ws = w.sockets.last;
    await w.authenticate(ws);
    await w.confirmAll(ws);
    renders.mockClear();
    await w.server(() => {
      for (let i = 0; i < 100; i++) ws.push({ type: "notification", payload: notification() });
    });
    expect(screen.getByTestId("probe").textContent).toBe("connected|100|100");
    expect(renders.mock.calls.length).toBeLessThan(5); // coalesced
    await teardownAndCheck(w, unmount);
  });

  it("maxNotifications bounds the list, newest first", async () => {
    const w = world();
    let api: UseNotificationsResult | undefined;
    const { unmount } = render(<Probe options={{ ...w.base, tenantId: "tenant-001", maxNotifications: 2 }} onResult={(r) => (api = r)} />);
    await w.server();
    const ws = w.sockets.last;
    await w.authenticate(ws);
    await w.confirmAll(ws);
    const sent = [notification(), notification(), notification()];
    await w.server(() => sent.forEach((n) => ws.push({ type: "notification", payload: n })));
    expect(api?.notifications.map((n) => n.id)).toEqual([sent[2]?.["id"], sent[1]?.["id"]]);
    await teardownAndCheck(w, unmount);
  });

  it("recovered: false calls onRecoveryFailed and flags the tenant", async () => {
    const w = world();
    const onRecoveryFailed = vi.fn();
    let api: UseNotificationsResult | undefined;
    const { unmount } = render(<Probe options={{ ...w.base, tenantId: "tenant-001", onRecoveryFailed }} onResult={(r) => (api = r)} />);
    await w.server();
    let ws = w.sockets.last;
    await w.authenticate(ws);
    await w.confirmAll(ws, "5-0");
    await w.server(() => ws.serverClose(4006));
    await act(async () => {
      await w.clock.advance(1000);
    });
    ws = w.sockets.last;
    await w.authenticate(ws);
    expect(ws.lastOfType("subscribe").payload).toEqual({ tenantId: "tenant-001", since: "5-0" });
    await w.confirmAll(ws, "99-0", false);
    expect(onRecoveryFailed).toHaveBeenCalledExactlyOnceWith({ tenantId: "tenant-001", position: "99-0" });
    expect(api?.recoveryFailed).toEqual(["tenant-001"]);
    await w.server(() => api?.clearRecoveryFailed());
    expect(api?.recoveryFailed).toEqual([]);
    await teardownAndCheck(w, unmount);
  });

  it("exposes status, lastError and reconnect()", async () => {
    const w = world();
    let api: UseNotificationsResult | undefined;
    const { unmount } = render(<Probe options={{ ...w.base, tenantId: "tenant-001" }} onResult={(r) => (api = r)} />);
    expect(api?.status).toBe("connecting");
    expect(api?.isConnected).toBe(false);
    await w.server();
    const ws = w.sockets.last;
    await w.authenticate(ws);
    expect(api?.isConnected).toBe(true);
    await w.server(() => ws.serverClose(4001));
    expect(api?.status).toBe("unauthorized");
    expect(api?.lastError).toMatchObject({ closeCode: 4001 });
    await w.server(() => api?.reconnect());
    expect(w.sockets.all).toHaveLength(2);
    await w.authenticate(w.sockets.last);
    expect(api?.status).toBe("connected");
    await teardownAndCheck(w, unmount);
  });

  it("enabled: false opens nothing", async () => {
    const w = world();
    let api: UseNotificationsResult | undefined;
    const { unmount } = render(<Probe options={{ ...w.base, tenantId: "tenant-001", enabled: false }} onResult={(r) => (api = r)} />);
    await w.server();
    expect(w.sockets.all).toHaveLength(0);
    expect(api?.status).toBe("closed");
    await teardownAndCheck(w, unmount);
  });

  it("leaves no timers, listeners or sockets after the last unmount and the grace delay", async () => {
    const w = world();
    const { unmount } = render(
      <StrictMode>
        <Probe id="a" options={{ ...w.base, tenantId: "tenant-001" }} />
        <Probe id="b" options={{ ...w.base, tenantId: "tenant-002" }} />
      </StrictMode>,
    );
    await w.server();
    const ws = w.sockets.last;
    await w.authenticate(ws);
    await w.confirmAll(ws);
    await act(async () => {
      await w.clock.advance(25_000); // heartbeat and reauth timers armed, a ping outstanding
    });
    expect(w.clock.pending).toBeGreaterThan(0);
    unmount();
    await w.server();
    // within the grace delay the connection stays
    await act(async () => {
      await w.clock.advance(1000);
    });
    expect(w.sockets.open).toBe(1);
    await act(async () => {
      await w.clock.advance(500);
    });
    expect(ws.closedByClient).not.toBeNull();
    expect(w.sockets.open).toBe(0);
    expect(w.clock.pending).toBe(0);
    expect(w.window.listenerCount + w.document.listenerCount).toBe(0);
    expect(w.registry.size).toBe(0);
  });

  describe("the inbox", () => {
    /** Oldest first, as a backlog comes: notifications of tenant-001 at positions `<ms>-0`. */
    const olderThanLive = (positions: number[], read: number[] = []) =>
      positions.map((p) => notification({ position: `${p}-0`, timestamp: new Date(p).toISOString(), read: read.includes(p) }));

    /** Confirm the last subscribe with `backlog` notifications following it. */
    const confirmWithBacklog = async (w: World, ws: FakeWebSocket, backlog: Record<string, unknown>[]): Promise<void> => {
      await w.server(() => {
        const m = ws.lastOfType("subscribe");
        ws.push({ type: "subscribed", payload: { tenantId: m.payload?.["tenantId"], position: "900-0", recovered: true, backlog: backlog.length }, messageId: m.messageId });
        for (const n of backlog) ws.push({ type: "notification", payload: n });
      });
    };

    it("backlog fills the list and unreadCount on every load, with the read state, without onNotification", async () => {
      const w = world();
      const onNotification = vi.fn();
      let api: UseNotificationsResult | undefined;
      const options = { ...w.base, tenantId: "tenant-001", backlog: 50, onNotification };
      const first = render(
        <StrictMode>
          <Probe options={options} onResult={(r) => (api = r)} />
        </StrictMode>,
      );
      await w.server();
      let ws = w.sockets.last;
      await w.authenticate(ws);
      expect(ws.ofType("subscribe").map((m) => m.payload)).toEqual([{ tenantId: "tenant-001", backlog: 50 }]);
      const backlog = olderThanLive([100, 200, 300], [200]);
      await confirmWithBacklog(w, ws, backlog);
      expect(api?.notifications.map((n) => n.id)).toEqual([backlog[2]?.["id"], backlog[1]?.["id"], backlog[0]?.["id"]]);
      expect(api?.unreadCount).toBe(2);
      expect(api?.hasMore).toBe(false); // 3 of 50: nothing older
      expect(onNotification).not.toHaveBeenCalled();

      // the next load (the shared client closed after the grace delay, a new one created) starts the same way
      await teardownAndCheck(w, first.unmount);
      const second = render(<Probe options={options} onResult={(r) => (api = r)} />);
      await w.server();
      ws = w.sockets.last;
      await w.authenticate(ws);
      expect(ws.lastOfType("subscribe").payload).toEqual({ tenantId: "tenant-001", backlog: 50 });
      await confirmWithBacklog(w, ws, backlog);
      expect(api?.notifications).toHaveLength(3);
      expect(api?.unreadCount).toBe(2);
      await teardownAndCheck(w, second.unmount);
    });

    it("loadMore pages older notifications in with history, says when it is loading and when there is no more", async () => {
      const w = world();
      let api: UseNotificationsResult | undefined;
      const { unmount } = render(<Probe options={{ ...w.base, tenantId: "tenant-001", backlog: 2 }} onResult={(r) => (api = r)} />);
      await w.server();
      const ws = w.sockets.last;
      await w.authenticate(ws);
      await confirmWithBacklog(w, ws, olderThanLive([300, 400]));
      expect(api?.hasMore).toBe(true);
      expect(api?.loadingMore).toBe(false);

      let page: unknown;
      await w.server(() => void api?.loadMore().then((p) => (page = p)));
      expect(ws.lastOfType("history").payload).toEqual({ tenantId: "tenant-001", before: "300-0", limit: 50 });
      expect(api?.loadingMore).toBe(true);
      const older = olderThanLive([200, 100], [100]).reverse(); // a page is newest first
      await w.server(() =>
        ws.reply("history", "history", { tenantId: "tenant-001", notifications: older, hasMore: false, before: null }),
      );
      expect(page).toMatchObject({ hasMore: false, notifications: [{ id: older[0]?.["id"] }, { id: older[1]?.["id"] }] });
      expect(api?.notifications.map((n) => n.position)).toEqual(["400-0", "300-0", "200-0", "100-0"]);
      expect(api?.unreadCount).toBe(3);
      expect(api?.loadingMore).toBe(false);
      expect(api?.hasMore).toBe(false);
      expect(screen.getByTestId("probe").textContent).toBe("connected|4|3");
      await teardownAndCheck(w, unmount);
    });

    it("a smaller maxNotifications bounds this hook's list, its unread count, its pages and hasMore", async () => {
      const w = world();
      let small: UseNotificationsResult | undefined;
      const { unmount } = render(
        <>
          <Probe id="big" options={{ ...w.base, tenantId: "tenant-001", backlog: 3, maxNotifications: 100 }} />
          <Probe id="small" options={{ ...w.base, tenantId: "tenant-001", maxNotifications: 4 }} onResult={(r) => (small = r)} />
        </>,
      );
      await w.server();
      const ws = w.sockets.last;
      await w.authenticate(ws);
      await confirmWithBacklog(w, ws, olderThanLive([100, 200, 300]));
      await w.server(() => {
        ws.push({ type: "notification", payload: notification({ position: "901-0", read: false }) });
        ws.push({ type: "notification", payload: notification({ position: "902-0" }) });
      });
      expect(screen.getByTestId("big").textContent).toBe("connected|5|5");
      expect(screen.getByTestId("small").textContent).toBe("connected|4|4");
      expect(small?.hasMore).toBe(false); // its view is full
      await w.server(() => small?.markAsRead(small.notifications[0]?.id ?? ""));
      expect(small?.unreadCount).toBe(3);
      await w.server(() => void small?.loadMore());
      expect(ws.ofType("history")).toHaveLength(0); // no room left in its view
      await teardownAndCheck(w, unmount);
    });

    it("a filter is compared by value: an inline one sends nothing new on re-render; a changed one subscribes again with it", async () => {
      const w = world();
      const options = (severity: ("warning" | "error")[]): UseNotificationsOptions => ({
        ...w.base,
        tenantId: "tenant-001",
        filter: { types: ["order.*"], severity },
      });
      const { rerender, unmount } = render(<Probe options={options(["warning", "error"])} />);
      await w.server();
      const ws = w.sockets.last;
      await w.authenticate(ws);
      await w.confirmAll(ws, "10-0");
      rerender(<Probe options={options(["error", "warning"])} />);
      rerender(<Probe options={options(["warning", "error"])} />);
      await w.server();
      expect(ws.ofType("subscribe")).toHaveLength(1);
      expect(ws.lastOfType("subscribe").payload).toEqual({ tenantId: "tenant-001", filter: { types: ["order.*"], severity: ["error", "warning"] } });
      rerender(<Probe options={options(["error"])} />);
      await w.server();
      expect(ws.ofType("subscribe").map((m) => m.payload)).toEqual([
        { tenantId: "tenant-001", filter: { types: ["order.*"], severity: ["error", "warning"] } },
        { tenantId: "tenant-001", since: "10-0", filter: { types: ["order.*"], severity: ["error"] } },
      ]);
      expect(ws.ofType("unsubscribe")).toHaveLength(0);
      await teardownAndCheck(w, unmount);
    });

    it("loadMore without a tenant rejects; disabled rejects as subscribe does", async () => {
      const w = world();
      let api: UseNotificationsResult | undefined;
      const { unmount } = render(<Probe options={w.base} onResult={(r) => (api = r)} />);
      await w.server();
      await expect(api?.loadMore()).rejects.toBeInstanceOf(TypeError);
      expect(api?.hasMore).toBe(false);
      await teardownAndCheck(w, unmount);
      let off: UseNotificationsResult | undefined;
      const disabled = render(<Probe options={{ ...w.base, tenantId: "tenant-001", enabled: false }} onResult={(r) => (off = r)} />);
      await expect(off?.loadMore()).rejects.toMatchObject({ code: "client_closed" });
      disabled.unmount();
    });
  });
});
