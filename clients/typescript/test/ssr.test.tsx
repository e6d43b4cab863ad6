// @vitest-environment node
import { createElement, StrictMode, type ReactNode } from "react";
import { renderToString } from "react-dom/server";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ClientRegistry, sharedRegistry } from "../src/registry.js";
import { useNotifications } from "../src/useNotifications.js";
import { FakeClock } from "./helpers/fakes.js";

function Center(props: { registry?: ClientRegistry }): ReactNode {
  const { status, notifications, unreadCount, isConnected } = useNotifications({
    url: "ws://arda.test/ws",
    token: async () => "token",
    tenantId: "tenant-001",
    ...(props.registry ? { registry: props.registry } : {}),
  });
  return createElement("p", null, `${status} ${isConnected} ${notifications.length} ${unreadCount}`);
}

afterEach(() => {
  vi.unstubAllGlobals();
});

describe("server-side rendering", () => {
  it("renders the initial state and opens nothing, with no WebSocket in the environment", () => {
    expect(typeof window).toBe("undefined");
    expect((globalThis as { WebSocket?: unknown }).WebSocket).toBeUndefined();
    const html = renderToString(createElement(StrictMode, null, createElement(Center)));
    expect(html).toBe("<p>connecting false 0 0</p>");
    expect(sharedRegistry.size).toBe(0);
  });

  it("never constructs a WebSocket or starts a timer, even when one exists", () => {
    const WebSocket = vi.fn();
    vi.stubGlobal("WebSocket", WebSocket);
    const clock = new FakeClock();
    const setTimeoutSpy = vi.spyOn(globalThis, "setTimeout");
    const registry = new ClientRegistry({ clock });
    const html = renderToString(createElement(Center, { registry }));
    expect(html).toContain("connecting");
    expect(WebSocket).not.toHaveBeenCalled();
    expect(setTimeoutSpy).not.toHaveBeenCalled();
    expect(registry.size).toBe(0);
    expect(clock.pending).toBe(0);
  });
});
