import { describe, expect, it } from "vitest";
import { NotificationClient } from "../src/client.js";
import { ClientRegistry, clientKey, identityFromToken } from "../src/registry.js";
import { FakeClock, FakeSockets, settle } from "./helpers/fakes.js";

function make() {
  const clock = new FakeClock();
  const sockets = new FakeSockets();
  const registry = new ClientRegistry({ clock, graceMs: 1500 });
  let created = 0;
  const create = () => {
    created += 1;
    return new NotificationClient({ url: "ws://x/ws", token: "t", WebSocket: sockets.WebSocket, clock, window: null, document: null });
  };
  return { clock, sockets, registry, create, created: () => created };
}

describe("ClientRegistry", () => {
  it("shares one connected client per key and reference-counts it", () => {
    const r = make();
    const a = r.registry.acquire("k", r.create);
    const b = r.registry.acquire("k", r.create);
    expect(a.client).toBe(b.client);
    expect(r.created()).toBe(1);
    expect(r.sockets.all).toHaveLength(1);
    const other = r.registry.acquire("other", r.create);
    expect(other.client).not.toBe(a.client);
    expect(r.registry.size).toBe(2);
  });

  it("closes the client only after the grace delay following the last release", async () => {
    const r = make();
    const a = r.registry.acquire("k", r.create);
    const b = r.registry.acquire("k", r.create);
    a.release();
    a.release(); // idempotent
    await r.clock.advance(5000);
    expect(r.sockets.open).toBe(1);
    b.release();
    await r.clock.advance(1499);
    expect(r.sockets.open).toBe(1);
    await r.clock.advance(1);
    expect(r.sockets.open).toBe(0);
    expect(r.registry.size).toBe(0);
    expect(a.client.getSnapshot().status).toBe("closed");
    expect(r.clock.pending).toBe(0);
  });

  it("a new holder within the grace delay keeps the same client and socket", async () => {
    const r = make();
    const a = r.registry.acquire("k", r.create);
    a.release();
    await r.clock.advance(1000);
    const b = r.registry.acquire("k", r.create);
    expect(b.client).toBe(a.client);
    await r.clock.advance(10_000);
    expect(r.sockets.all).toHaveLength(1);
    expect(r.sockets.open).toBe(1);
    b.release();
    await r.clock.advance(1500);
    // a later acquire gets a fresh client
    const c = r.registry.acquire("k", r.create);
    expect(c.client).not.toBe(a.client);
    expect(r.created()).toBe(2);
    r.registry.closeAll();
    await settle();
    expect(r.sockets.open).toBe(0);
    expect(r.clock.pending).toBe(0);
  });

  it("keys by url and identity; a JWT's identity is its sub", () => {
    const jwt = (claims: object) => `h.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.s`;
    expect(identityFromToken(jwt({ sub: "u-1", exp: 1 }))).toBe(identityFromToken(jwt({ sub: "u-1", exp: 2 })));
    expect(identityFromToken(jwt({ sub: "u-1" }))).not.toBe(identityFromToken(jwt({ sub: "u-2" })));
    expect(identityFromToken("opaque")).toBe("token:opaque");
    expect(clientKey("ws://a", "u")).not.toBe(clientKey("ws://b", "u"));
  });
});
