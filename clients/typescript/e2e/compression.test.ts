/**
 * permessage-deflate (RFC 7692) in Chromium against the real service: Chromium offers it by itself, the service
 * accepts it (ARDA_COMPRESSION=on, the default) and sends messages of 1024 bytes or more compressed; Chromium
 * compresses what it sends. The handshake is read through the Chrome DevTools Protocol; the bytes on the wire
 * through a proxy that reads the frames (e2e/wiretap.ts), since DevTools only shows inflated payloads. With
 * `--compression off` the same page works uncompressed.
 */
import type { Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import {
  API_KEY,
  notificationId,
  orderCreated,
  startStack,
  useCleanup,
  waitUntil,
  type ArdaService,
} from "../integration/harness.js";
import { itemsOf, newContext, openCenter, useBrowser, waitForItems, waitForText, type NotificationCenterPage } from "./browser.js";
import { WireTap, type WireMessage } from "./wiretap.js";

useCleanup();

const T1 = "tenant-001";
const USER = "u-1";
const NEGOTIATED = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";
const chrome = useBrowser(); // Chromium and a snapshot of the built pages, for the whole file

/** An `order.created` with 60 lines: its notification (the lines are in `data`) is several KiB of JSON. */
function largeOrder(orderNumber: string): object {
  const lines = Array.from({ length: 60 }, (_, i) => ({
    partId: `P-${String(10_000 + i * 7)}`,
    quantity: 5 + ((i * 13) % 40),
    partName: `Hex bolt M${6 + (i % 5) * 2} x ${20 + (i % 9) * 5} mm, DIN 933, ${i % 2 === 0 ? "zinc plated" : "stainless A2"}`,
  }));
  return orderCreated(T1, orderNumber, { supplierName: "Acme Fasteners", lines });
}

/** What the page's WebSocket handshake was, as DevTools saw it (header names in lower case). */
interface Handshake {
  url: string;
  status: number;
  requestHeaders: Record<string, string>;
  responseHeaders: Record<string, string>;
}

const lowerKeys = (headers: Record<string, string>): Record<string, string> =>
  Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));

interface Run {
  service: ArdaService;
  tap: WireTap;
  center: NotificationCenterPage;
  handshakes: Handshake[];
}

/**
 * The service (`--compression on|off`) and the notification center, whose WebSocket goes through a wire tap
 * (`/dev/session`'s `wsUrl` is rewritten to the tap's port); the handshake recorded through CDP.
 */
async function openThroughTap(compression: "on" | "off"): Promise<Run> {
  const { service } = await startStack({ extraArgs: ["--webapp-dir", chrome.webappDir, "--compression", compression] });
  const tap = await WireTap.start(service.wsPort);
  const handshakes = new Map<string, Handshake>();
  const beforeLoad = async (page: Page): Promise<void> => {
    await page.route(
      (url) => url.pathname === "/dev/session",
      async (route) => {
        const response = await route.fetch();
        const session = (await response.json()) as Record<string, unknown>;
        await route.fulfill({ response, json: { ...session, wsUrl: tap.wsUrl() } });
      },
    );
    const cdp = await page.context().newCDPSession(page);
    const handshake = (requestId: string): Handshake => {
      let entry = handshakes.get(requestId);
      if (!entry) {
        entry = { url: "", status: 0, requestHeaders: {}, responseHeaders: {} };
        handshakes.set(requestId, entry);
      }
      return entry;
    };
    cdp.on("Network.webSocketCreated", ({ requestId, url }) => void (handshake(requestId).url = url));
    cdp.on("Network.webSocketWillSendHandshakeRequest", ({ requestId, request }) => {
      handshake(requestId).requestHeaders = lowerKeys(request.headers as Record<string, string>);
    });
    cdp.on("Network.webSocketHandshakeResponseReceived", ({ requestId, response }) => {
      const entry = handshake(requestId);
      entry.status = response.status;
      entry.responseHeaders = lowerKeys(response.headers as Record<string, string>);
    });
    await cdp.send("Network.enable");
  };
  const context = await newContext(chrome.browser);
  const center = await openCenter(context, service, { user: USER, tenant: T1, wsPort: tap.port, beforeLoad });
  await waitUntil(() => [...handshakes.values()].some((h) => h.status !== 0), "the handshake's response in DevTools");
  return { service, tap, center, handshakes: [...handshakes.values()] };
}

/** `GET /v1/connections?tenantId=&userId=` (API key): this instance's connections of that tenant and user. */
async function connectionsOf(service: ArdaService, tenantId: string, userId: string): Promise<Record<string, unknown>[]> {
  const query = new URLSearchParams({ tenantId, userId });
  const response = await fetch(`${service.httpUrl}/v1/connections?${query}`, {
    headers: { Authorization: `Bearer ${API_KEY}` },
    signal: AbortSignal.timeout(5_000),
  });
  expect(response.status).toBe(200);
  return ((await response.json()) as { connections: Record<string, unknown>[] }).connections;
}

/** The one data message on the wire, in `direction`, that parses to a message of `type` matching `match`. */
function onWire(
  tap: WireTap,
  direction: "toServer" | "toClient",
  type: string,
  match: (payload: Record<string, unknown>) => boolean = () => true,
): WireMessage & { parsed: Record<string, unknown> } {
  const found = tap.messages.flatMap((m) => {
    if (m.direction !== direction) return [];
    const parsed = JSON.parse(m.text) as { type?: string; payload?: Record<string, unknown> };
    return parsed.type === type && match(parsed.payload ?? {}) ? [{ ...m, parsed: parsed as Record<string, unknown> }] : [];
  });
  expect(found, `one ${type} ${direction} on the wire`).toHaveLength(1);
  return found[0] as WireMessage & { parsed: Record<string, unknown> };
}

/**
 * The page's round trip (subscribe, a large and a small notification, mark the large one read), with what it
 * cost on the wire; asserts what holds with compression on and off alike.
 */
async function roundTrip(run: Run) {
  const { service, tap, center } = run;
  const { page } = center;
  const socket = center.sockets[0];
  expect(center.sockets).toHaveLength(1);
  expect(run.handshakes).toHaveLength(1);

  const [large, small] = await service.publish([largeOrder("PO-9001"), orderCreated(T1, "PO-9002")]);
  const largeId = notificationId(T1, large?.id ?? "");
  const smallId = notificationId(T1, small?.id ?? "");
  const items = await waitForItems(page, 2);
  expect(items.map((i) => i.id)).toEqual([smallId, largeId]); // newest first
  expect(items.map((i) => i.title)).toEqual(["Order PO-9002 created", "Order PO-9001 created"]);
  // the count of lines comes only from the large one's data
  expect(items[1]?.text).toContain("PO-9001 for Acme Fasteners, 60 lines");
  expect(items[0]?.text).not.toContain("lines");
  await waitForText(page, "unread-count", "2");

  // what the browser decoded is what the service sent: the tap's reading of the wire (inflated when compressed)
  const largeWire = onWire(tap, "toClient", "notification", (p) => p["id"] === largeId);
  const smallWire = onWire(tap, "toClient", "notification", (p) => p["id"] === smallId);
  const seen = socket?.received.find((m) => m.type === "notification" && m.payload?.["id"] === largeId);
  expect(seen).toEqual(largeWire.parsed);
  const data = seen?.payload?.["data"] as { lines?: unknown[] } | undefined;
  expect(data?.lines).toHaveLength(60);
  const largeJson = Buffer.byteLength(largeWire.text);
  expect(largeJson).toBeGreaterThan(4 * 1024);
  expect(Buffer.byteLength(smallWire.text)).toBeLessThan(1024); // under ARDA_COMPRESSION_MIN_BYTES
  expect(smallWire.compressed).toBe(false);

  // the browser's own messages, as they went on the wire, are what the page sent; the service understood them
  const authenticate = onWire(tap, "toServer", "authenticate");
  const subscribe = onWire(tap, "toServer", "subscribe");
  expect(subscribe.parsed["payload"]).toEqual({ tenantId: T1, backlog: 50 });
  expect(socket?.sent.filter((m) => m.type === "authenticate" || m.type === "subscribe")).toEqual([
    authenticate.parsed,
    subscribe.parsed,
  ]);
  expect(socket?.received.some((m) => m.type === "authenticated" && m.payload?.["userId"] === USER)).toBe(true);
  expect(socket?.received.some((m) => m.type === "subscribed" && m.payload?.["tenantId"] === T1)).toBe(true);

  // mark the large one read: the acknowledgement is answered, and the page counts one unread
  await page.locator(`[data-testid="notification"][data-id="${largeId}"]`).getByTestId("mark-read").click();
  await waitUntil(
    () => socket?.received.some((m) => m.type === "acknowledged" && m.payload?.["notificationId"] === largeId && m.messageId),
    "the acknowledgement's reply",
  );
  await waitForText(page, "unread-count", "1");
  expect((await itemsOf(page)).map((i) => i.read)).toEqual(["false", "true"]);
  const acknowledge = onWire(tap, "toServer", "acknowledge", (p) => p["notificationId"] === largeId);
  expect(onWire(tap, "toClient", "acknowledged", (p) => p["notificationId"] === largeId).parsed["messageId"]).toBe(
    acknowledge.parsed["messageId"],
  );

  expect(tap.errors).toEqual([]);
  expect(center.pageErrors).toEqual([]);
  expect(socket?.closed).toBe(false);
  // the TCP bytes the service sent this connection after its 101 response, and the JSON they carried
  expect(tap.connections).toHaveLength(1);
  const tcpToClient = (tap.connections[0]?.toClient.bytes ?? 0) - Buffer.byteLength(tap.connections[0]?.toClient.head ?? "") - 4;
  const jsonToClient = tap.messages.filter((m) => m.direction === "toClient").reduce((sum, m) => sum + Buffer.byteLength(m.text), 0);
  return { largeWire, largeJson, tcpToClient, jsonToClient, clientMessages: [authenticate, subscribe, acknowledge] };
}

describe("permessage-deflate in Chromium", () => {
  it("negotiated by default: the large notification arrives compressed, and what Chromium sends compressed is understood", async () => {
    const run = await openThroughTap("on");
    const [handshake] = run.handshakes;
    expect(handshake?.url).toBe(run.tap.wsUrl());
    expect(handshake?.requestHeaders["sec-websocket-extensions"]).toContain("permessage-deflate"); // Chromium's own offer
    expect(handshake?.status).toBe(101);
    expect(handshake?.responseHeaders["sec-websocket-extensions"]).toBe(NEGOTIATED);
    const rows = await connectionsOf(run.service, T1, USER);
    expect(rows.map((r) => r["compression"])).toEqual(["permessage-deflate"]);

    const { largeWire, largeJson, tcpToClient, jsonToClient, clientMessages } = await roundTrip(run);
    // compressed on the wire: a fraction of its JSON, frame header included
    expect(largeWire.compressed).toBe(true);
    expect(largeWire.wireBytes).toBeLessThan(largeJson / 4);
    expect(tcpToClient).toBeLessThan(jsonToClient / 2); // the whole connection: the large one dominates
    // Chromium compressed every message it sent (RSV1), and the service inflated them
    expect(clientMessages.map((m) => m.compressed)).toEqual([true, true, true]);
    console.info(
      `[compression] the large notification: ${largeJson} bytes of JSON, ${largeWire.wireBytes} on the wire; ` +
        `the connection: ${jsonToClient} bytes of JSON to the browser in ${tcpToClient} TCP bytes`,
    );
  });

  it("--compression off: the same page works uncompressed (no extension in the handshake, compression null)", async () => {
    const run = await openThroughTap("off");
    const [handshake] = run.handshakes;
    expect(handshake?.requestHeaders["sec-websocket-extensions"]).toContain("permessage-deflate"); // still offered
    expect(handshake?.status).toBe(101);
    expect(handshake?.responseHeaders).not.toHaveProperty("sec-websocket-extensions");
    const rows = await connectionsOf(run.service, T1, USER);
    expect(rows.map((r) => r["compression"])).toEqual([null]);

    const { largeWire, largeJson, tcpToClient, jsonToClient, clientMessages } = await roundTrip(run);
    expect(largeWire.compressed).toBe(false);
    expect(largeWire.payloadBytes).toBe(largeJson);
    expect(largeWire.wireBytes).toBeGreaterThan(largeJson);
    expect(tcpToClient).toBeGreaterThan(jsonToClient); // every message as it is, plus frame headers
    expect(clientMessages.map((m) => m.compressed)).toEqual([false, false, false]);
  });
});
