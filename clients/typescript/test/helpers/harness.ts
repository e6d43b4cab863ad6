/** Builds a NotificationClient wired to the fakes, plus helpers that play the server's side. */
import { NotificationClient, type NotificationClientOptions } from "../../src/client.js";
import { FakeClock, FakeDocument, FakeSockets, FakeWebSocket, FakeWindow, settle } from "./fakes.js";

export interface Harness {
  client: NotificationClient;
  clock: FakeClock;
  sockets: FakeSockets;
  window: FakeWindow;
  document: FakeDocument;
  /** How many times the token function was called. */
  tokenCalls(): number;
}

export function setup(overrides: Partial<NotificationClientOptions> = {}): Harness {
  const clock = new FakeClock();
  const sockets = new FakeSockets();
  const window = new FakeWindow();
  const document = new FakeDocument();
  let calls = 0;
  const client = new NotificationClient({
    url: "ws://arda.test/ws",
    token: () => {
      calls += 1;
      return `token-${calls}`;
    },
    WebSocket: sockets.WebSocket,
    clock,
    random: () => 0.5,
    window,
    document,
    ...overrides,
  });
  return { client, clock, sockets, window, document, tokenCalls: () => calls };
}

/** Open the socket and answer its `authenticate` (token valid for `expiresInMs`). */
export async function authenticate(
  ws: FakeWebSocket,
  clock: FakeClock,
  { userId = "u-1", expiresInMs = 3_600_000 }: { userId?: string; expiresInMs?: number } = {},
): Promise<void> {
  if (ws.readyState === 0) ws.open();
  await settle();
  ws.reply("authenticate", "authenticated", {
    userId,
    tenants: ["tenant-001", "tenant-002"],
    expiresAt: new Date(clock.now() + expiresInMs).toISOString(),
  });
  await settle();
}

/** Answer the client's last `subscribe` (position and recovered as given). */
export async function confirmSubscribe(
  ws: FakeWebSocket,
  {
    position = "100-0",
    recovered = true,
    backlog = 0,
  }: { position?: string | null; recovered?: boolean; backlog?: number } = {},
): Promise<void> {
  const request = ws.lastOfType("subscribe");
  ws.push({
    type: "subscribed",
    payload: { tenantId: (request.payload as { tenantId: string }).tenantId, position, recovered, backlog },
    messageId: request.messageId,
  });
  await settle();
}

/** A client connected, authenticated and subscribed to `tenant-001`. */
export async function connected(overrides: Partial<NotificationClientOptions> = {}): Promise<Harness & { ws: FakeWebSocket }> {
  const h = setup(overrides);
  h.client.connect();
  const ws = h.sockets.last;
  await authenticate(ws, h.clock);
  void h.client.subscribe("tenant-001");
  await settle();
  await confirmSubscribe(ws);
  return { ...h, ws };
}

let seq = 0;
/** A notification frame's payload (its `stream` is its tenant's unless given). */
export function notification(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  seq += 1;
  const eventId = `evt-${seq}`;
  return {
    stream: overrides["tenantId"] ?? "tenant-001",
    id: `tenant-001:${eventId}`,
    eventId,
    eventType: "order.created",
    tenantId: "tenant-001",
    title: `Order ${seq} created`,
    message: `PO-${seq} for Acme`,
    severity: "success",
    category: "orders",
    timestamp: "2026-11-27T08:45:13.755Z",
    position: `${1000 + seq}-0`,
    data: { orderId: `o-${seq}` },
    read: false,
    ...overrides,
  };
}

export function pushNotification(ws: FakeWebSocket, payload: Record<string, unknown>): void {
  ws.push({ type: "notification", payload });
}

/** Let time pass until the client opens its next socket (fails after `limitMs`); returns the new socket. */
export async function nextSocket(h: Pick<Harness, "clock" | "sockets">, limitMs = 60_000): Promise<FakeWebSocket> {
  const count = h.sockets.all.length;
  let waited = 0;
  await settle();
  while (h.sockets.all.length === count) {
    const delay = await h.clock.next();
    if (delay === null) throw new Error("no timer left: the client will not open another socket");
    waited += delay;
    if (waited > limitMs) throw new Error(`no new socket within ${limitMs} ms`);
  }
  return h.sockets.last;
}
