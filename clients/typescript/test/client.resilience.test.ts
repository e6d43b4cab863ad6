import { describe, expect, it } from "vitest";
import { backoffDelay, DEFAULT_BACKOFF } from "../src/backoff.js";
import { CLOSE_CODES } from "../src/generated/protocol.js";
import { settle } from "./helpers/fakes.js";
import { authenticate, confirmSubscribe, connected, nextSocket, notification, pushNotification, setup } from "./helpers/harness.js";

/** A deterministic PRNG (mulberry32) for the statistical tests. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe("backoff", () => {
  it("is full jitter: uniform in [floor, min(cap, base·2^n)]", () => {
    const o = DEFAULT_BACKOFF;
    expect(backoffDelay(0, o, () => 0)).toBe(250);
    expect(backoffDelay(0, o, () => 1)).toBe(1000);
    expect(backoffDelay(3, o, () => 1)).toBe(8000);
    expect(backoffDelay(3, o, () => 0.5)).toBe(4125);
    expect(backoffDelay(20, o, () => 1)).toBe(30_000); // the cap
    expect(backoffDelay(1000, o, () => 0.999)).toBeLessThanOrEqual(30_000);
  });

  it("grows between failed attempts and is capped", async () => {
    const h = setup({ random: () => 1 });
    h.client.connect();
    const delays: number[] = [];
    for (let i = 0; i < 8; i++) {
      h.sockets.last.fail();
      await settle();
      delays.push(h.clock.delays()[0] ?? -1);
      await nextSocket(h);
    }
    expect(delays).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
    expect(h.client.getSnapshot().status).toBe("connecting"); // never connected yet
  });

  it("resets only after a connection stable for stableMs", async () => {
    const h = setup({ random: () => 1 });
    h.client.connect();
    for (let i = 0; i < 3; i++) {
      h.sockets.last.fail();
      await nextSocket(h);
    }
    // connected, but closed after 4 s: not stable, the backoff keeps growing
    await authenticate(h.sockets.last, h.clock);
    await h.clock.advance(4000);
    h.sockets.last.serverClose(1001);
    await settle();
    expect(h.clock.delays()[0]).toBe(8000);
    const ws = await nextSocket(h);
    // stable for 5 s: the next loss starts over
    await authenticate(ws, h.clock);
    await h.clock.advance(5000);
    ws.serverClose(1001);
    await settle();
    expect(h.clock.delays()[0]).toBe(1000);
    expect(h.client.getSnapshot().status).toBe("reconnecting");
  });

  it("no hot loop against a server that accepts, authenticates and closes at once", async () => {
    const attemptsIn5Minutes = async (random: () => number): Promise<{ attempts: number; shortest: number }> => {
      const h = setup({ random });
      h.client.connect();
      const start = h.clock.now();
      let shortest = Infinity;
      while (h.clock.now() - start < 5 * 60_000) {
        const ws = h.sockets.last;
        await authenticate(ws, h.clock);
        const closedAt = h.clock.now();
        ws.serverClose(1011);
        await nextSocket(h, 10 * 60_000);
        shortest = Math.min(shortest, h.clock.now() - closedAt);
      }
      h.client.close();
      return { attempts: h.sockets.all.length, shortest };
    };
    // the attempt count does not reset (never stable), so waits climb to the 30 s cap: ~25 attempts
    const typical = await attemptsIn5Minutes(seeded(42));
    expect(typical.attempts).toBeLessThan(40);
    // even a degenerate random() = 0 waits the 250 ms floor every time, never 0
    const worst = await attemptsIn5Minutes(() => 0);
    expect(worst.shortest).toBeGreaterThanOrEqual(250);
    expect(worst.attempts).toBeLessThanOrEqual(1201);
  });
});

describe("online, offline, visibility, bfcache", () => {
  it("offline closes the socket and pauses attempts; online reconnects at once", async () => {
    const h = await connected();
    h.window.goOffline();
    await settle();
    expect(h.ws.closedByClient).not.toBeNull();
    expect(h.client.getSnapshot().status).toBe("offline");
    await h.clock.advance(10 * 60_000);
    expect(h.sockets.all).toHaveLength(1);
    h.window.goOnline();
    expect(h.sockets.all).toHaveLength(2); // at once, no timer
    await authenticate(h.sockets.last, h.clock);
    expect(h.sockets.last.lastOfType("subscribe").payload).toEqual({ tenantId: "tenant-001", since: "100-0" });
  });

  it("starting offline opens nothing until online", async () => {
    const h = setup();
    h.window.navigator.onLine = false;
    h.client.connect();
    expect(h.client.getSnapshot().status).toBe("offline");
    await h.clock.advance(60_000);
    expect(h.sockets.all).toHaveLength(0);
    h.window.goOnline();
    expect(h.sockets.all).toHaveLength(1);
  });

  it("a hidden page suspends attempts; becoming visible tries at once", async () => {
    const h = await connected();
    h.document.hide();
    h.ws.serverClose(1001);
    await settle();
    expect(h.clock.delays()).toEqual([]); // no reconnect timer while hidden
    await h.clock.advance(10 * 60_000);
    expect(h.sockets.all).toHaveLength(1);
    expect(h.client.getSnapshot().status).toBe("reconnecting");
    h.document.show();
    expect(h.sockets.all).toHaveLength(2);
  });

  it("hiding cancels a pending reconnect timer", async () => {
    const h = await connected();
    h.ws.serverClose(1001);
    await settle();
    expect(h.clock.pending).toBe(1);
    h.document.hide();
    expect(h.clock.pending).toBe(0);
    h.document.show();
    expect(h.sockets.all).toHaveLength(2);
  });

  it("becoming visible probes an open connection with a ping", async () => {
    const h = await connected();
    expect(h.ws.ofType("ping")).toHaveLength(0);
    h.document.hide();
    h.document.show();
    expect(h.ws.ofType("ping")).toHaveLength(1);
  });

  it("pagehide closes the socket (bfcache) and pageshow reconnects", async () => {
    const h = await connected();
    h.window.dispatch("pagehide", { persisted: true });
    expect(h.ws.closedByClient).not.toBeNull();
    await h.clock.advance(60_000);
    expect(h.sockets.all).toHaveLength(1);
    h.window.dispatch("pageshow", { persisted: true });
    expect(h.sockets.all).toHaveLength(2);
  });
});

describe("reconnect() works in any state", () => {
  const states = {
    connecting: async () => {
      const h = setup();
      h.client.connect();
      return h;
    },
    connected: async () => connected(),
    reconnecting: async () => {
      const h = await connected();
      h.ws.serverClose(1001);
      await settle();
      return h;
    },
    "reconnecting after many failures": async () => {
      const h = setup();
      h.client.connect();
      for (let i = 0; i < 12; i++) {
        h.sockets.last.fail();
        await nextSocket(h);
      }
      h.sockets.last.fail();
      await settle();
      return h;
    },
    offline: async () => {
      const h = await connected();
      h.window.goOffline();
      return h;
    },
    unauthorized: async () => {
      const h = await connected();
      h.ws.serverClose(4001, "token refused");
      await settle();
      return h;
    },
    "closed by the server": async () => {
      const h = await connected();
      h.ws.serverClose(1000);
      await settle();
      return h;
    },
    "closed by close()": async () => {
      const h = await connected();
      h.client.close();
      return h;
    },
  };
  for (const [name, make] of Object.entries(states)) {
    it(`from ${name}`, async () => {
      const h = await make();
      const count = h.sockets.all.length;
      h.client.reconnect();
      expect(h.sockets.all).toHaveLength(count + 1); // at once
      expect(h.sockets.all.slice(0, -1).every((ws) => ws.readyState === 3)).toBe(true);
      await authenticate(h.sockets.last, h.clock);
      expect(h.client.getSnapshot().status).toBe("connected");
      expect(h.window.listenerCount).toBe(4);
      expect(h.document.listenerCount).toBe(1);
    });
  }
});

describe("dead connections", () => {
  it("pings after pingIntervalMs of silence; no answer within pongTimeoutMs abandons the socket and reconnects at once", async () => {
    const h = await connected();
    await h.clock.advance(24_999);
    expect(h.ws.ofType("ping")).toHaveLength(0);
    await h.clock.advance(1);
    expect(h.ws.ofType("ping")).toHaveLength(1);
    await h.clock.advance(9_999);
    expect(h.sockets.all).toHaveLength(1);
    const lateMessage = h.ws.onmessage;
    const lateClose = h.ws.onclose;
    await h.clock.advance(1);
    expect(h.ws.closedByClient).not.toBeNull(); // without waiting for a close event
    expect(h.sockets.all).toHaveLength(2); // at once
    expect(h.client.getSnapshot()).toMatchObject({ status: "reconnecting", lastError: { code: "heartbeat_timeout" } });

    // late events from the abandoned socket change nothing (even through its original handlers)
    const before = h.client.getSnapshot();
    lateMessage?.({ data: JSON.stringify({ type: "notification", payload: notification() }) });
    lateMessage?.({ data: JSON.stringify({ type: "pong" }) });
    lateClose?.({ code: 4001, reason: "late" });
    h.ws.push({ type: "notification", payload: notification() });
    await settle();
    expect(h.client.getSnapshot()).toBe(before);
    await authenticate(h.sockets.last, h.clock);
    expect(h.client.getSnapshot().status).toBe("connected");
  });

  it("a pong (or any frame) in time keeps the connection", async () => {
    const h = await connected();
    await h.clock.advance(25_000);
    await h.clock.advance(5_000);
    h.ws.reply("ping", "pong");
    await h.clock.advance(20_000);
    expect(h.sockets.all).toHaveLength(1);
    expect(h.ws.ofType("ping")).toHaveLength(1);
    pushNotification(h.ws, notification());
    await h.clock.advance(20_000);
    expect(h.ws.ofType("ping")).toHaveLength(1); // the notification proved it alive
    expect(h.client.getSnapshot().status).toBe("connected");
  });

  it("uses the wall clock: after a sleep or throttled timers, becoming visible finds the overdue ping at once", async () => {
    const h = await connected();
    await h.clock.advance(25_000);
    expect(h.ws.ofType("ping")).toHaveLength(1);
    h.document.hide();
    h.clock.jump(60_000); // the timers did not run (throttled / asleep)
    h.document.show();
    expect(h.ws.closedByClient).not.toBeNull();
    expect(h.sockets.all).toHaveLength(2);
  });

  it("an attempt that never opens is abandoned after connectTimeoutMs", async () => {
    const h = setup();
    h.client.connect();
    await h.clock.advance(15_000);
    expect(h.sockets.all[0]?.closedByClient).not.toBeNull();
    expect(h.client.getSnapshot().lastError).toMatchObject({ code: "connect_timeout" });
    await nextSocket(h);
  });
});

describe("close codes", () => {
  const reconnectCodes = Object.entries(CLOSE_CODES)
    .filter(([, c]) => c.action === "reconnect")
    .map(([code]) => Number(code));
  const stopCodes = Object.entries(CLOSE_CODES)
    .filter(([code, c]) => c.action === "stop" && code !== "4001" && code !== "4009")
    .map(([code]) => Number(code));

  for (const code of [...reconnectCodes, 1005, 1006]) {
    it(`${code} reconnects with backoff and resumes`, async () => {
      const h = await connected();
      h.ws.serverClose(code);
      await settle();
      expect(h.client.getSnapshot()).toMatchObject({ status: "reconnecting", lastError: { code: "connection_closed", closeCode: code } });
      expect(h.sockets.all).toHaveLength(1);
      const ws = await nextSocket(h);
      await authenticate(ws, h.clock);
      expect(ws.lastOfType("subscribe").payload).toEqual({ tenantId: "tenant-001", since: "100-0" });
    });
  }

  it("1013 and 4005 back off longer", async () => {
    const h = await connected({ random: () => 1 });
    h.ws.serverClose(4005);
    await settle();
    expect(h.clock.delays()[0]).toBe(8000);
  });

  for (const code of stopCodes) {
    it(`${code} stops in closed, with nothing left running`, async () => {
      const h = await connected();
      h.ws.serverClose(code);
      await settle();
      expect(h.client.getSnapshot()).toMatchObject({ status: "closed", lastError: { closeCode: code } });
      expect(h.clock.pending).toBe(0);
      expect(h.window.listenerCount + h.document.listenerCount).toBe(0);
      await h.clock.advance(10 * 60_000);
      expect(h.sockets.all).toHaveLength(1);
    });
  }

  it("4009 (revoked) stops in unauthorized and reports revoked", async () => {
    const h = await connected();
    h.ws.serverClose(4009, "access revoked");
    await settle();
    expect(h.client.getSnapshot()).toMatchObject({ status: "unauthorized", lastError: { code: "revoked", closeCode: 4009 } });
    expect(h.clock.pending).toBe(0);
    await h.clock.advance(10 * 60_000);
    expect(h.sockets.all).toHaveLength(1);
  });

  it("4001 stops in unauthorized", async () => {
    const h = await connected();
    h.ws.serverClose(4001, "token for another user");
    await settle();
    expect(h.client.getSnapshot().status).toBe("unauthorized");
    expect(h.clock.pending).toBe(0);
  });
});

describe("authentication failures never loop", () => {
  for (const code of ["unauthorized", "token_expired"]) {
    it(`${code} on authenticate: one fresh token, then unauthorized`, async () => {
      const h = setup();
      h.client.connect();
      let ws = h.sockets.last;
      ws.open();
      await settle();
      ws.reply("authenticate", "error", { code, message: "bad token" });
      await settle();
      expect(h.tokenCalls()).toBe(2);
      expect(ws.closedByClient).not.toBeNull();
      ws.serverClose(code === "unauthorized" ? 4001 : 4002); // the server's close of the old socket: ignored
      ws = h.sockets.last;
      expect(h.sockets.all).toHaveLength(2);
      ws.open();
      await settle();
      expect(ws.lastOfType("authenticate").payload).toEqual({ token: "token-2" });
      ws.reply("authenticate", "error", { code, message: "bad token again" });
      await settle();
      expect(h.client.getSnapshot()).toMatchObject({ status: "unauthorized", lastError: { code } });
      await h.clock.advance(60 * 60_000);
      expect(h.sockets.all).toHaveLength(2);
      expect(h.tokenCalls()).toBe(2);
      expect(h.clock.pending).toBe(0);
    });
  }

  it("4002 after a failed refresh stops instead of reconnecting again", async () => {
    const h = await connected({ token: "fixed" });
    h.ws.push({ type: "error", payload: { code: "token_expired", message: "token expired" } });
    await settle();
    expect(h.ws.ofType("authenticate")).toHaveLength(2); // one refresh on the open connection
    h.ws.serverClose(4002);
    await settle();
    expect(h.client.getSnapshot().status).toBe("unauthorized");
  });

  it("a token function that fails is reported and retried with backoff", async () => {
    let fail = true;
    const h = setup({
      token: async () => {
        if (fail) throw new Error("auth service down");
        return "ok";
      },
    });
    h.client.connect();
    h.sockets.last.open();
    await settle();
    expect(h.client.getSnapshot().lastError).toMatchObject({ code: "token_unavailable" });
    expect(h.sockets.last.closedByClient).not.toBeNull();
    fail = false;
    const ws = await nextSocket(h);
    ws.open();
    await settle();
    expect(ws.lastOfType("authenticate").payload).toEqual({ token: "ok" });
  });

  it("close() during an async token fetch sends nothing afterwards and leaves nothing running", async () => {
    let resolveToken: (t: string) => void = () => undefined;
    const h = setup({ token: () => new Promise<string>((r) => (resolveToken = r)) });
    h.client.connect();
    h.sockets.last.open();
    await settle();
    h.client.close();
    resolveToken("late");
    await settle();
    expect(h.sockets.last.sent).toEqual([]);
    expect(h.clock.pending).toBe(0);
    expect(h.sockets.open).toBe(0);
  });
});

describe("token refresh on the open connection", () => {
  it("re-authenticates before expiresAt with a fresh token, and keeps doing so", async () => {
    const h = setup();
    h.client.connect();
    const ws = h.sockets.last;
    await authenticate(ws, h.clock, { expiresInMs: 10 * 60_000 });
    void h.client.subscribe("tenant-001");
    await settle();
    await confirmSubscribe(ws);
    ws.autoPong = true;
    await h.clock.advance(9 * 60_000 - 1);
    expect(ws.ofType("authenticate")).toHaveLength(1);
    await h.clock.advance(1);
    expect(ws.ofType("authenticate")).toHaveLength(2);
    expect(ws.lastOfType("authenticate").payload).toEqual({ token: "token-2" });
    ws.reply("authenticate", "authenticated", {
      userId: "u-1",
      tenants: ["tenant-001"],
      expiresAt: new Date(h.clock.now() + 10 * 60_000).toISOString(),
    });
    await settle();
    expect(h.sockets.all).toHaveLength(1);
    expect(ws.ofType("subscribe")).toHaveLength(1); // no resubscribe
    expect(h.client.getSnapshot().status).toBe("connected");
    await h.clock.advance(9 * 60_000);
    expect(ws.ofType("authenticate")).toHaveLength(3);
  });

  it("refreshes at half the remaining life for short tokens", async () => {
    const h = setup();
    h.client.connect();
    await authenticate(h.sockets.last, h.clock, { expiresInMs: 30_000 });
    await h.clock.advance(15_000);
    expect(h.sockets.last.ofType("authenticate")).toHaveLength(2);
  });

  it("the server's token_expired warning triggers a refresh on the open connection", async () => {
    const h = await connected();
    h.ws.push({ type: "error", payload: { code: "token_expired", message: "token expired: authenticate with a fresh one" } });
    await settle();
    expect(h.ws.lastOfType("authenticate").payload).toEqual({ token: "token-2" });
    h.ws.reply("authenticate", "authenticated", { userId: "u-1", tenants: [], expiresAt: new Date(h.clock.now() + 3_600_000).toISOString() });
    await settle();
    expect(h.client.getSnapshot().status).toBe("connected");
    expect(h.sockets.all).toHaveLength(1);
  });

  it("a refresh that does not extend the token is not repeated in a loop", async () => {
    const h = await connected({ token: "fixed" });
    h.ws.autoPong = true;
    await h.clock.advance(59 * 60_000);
    const count = h.ws.ofType("authenticate").length;
    expect(count).toBe(2);
    h.ws.reply("authenticate", "authenticated", { userId: "u-1", tenants: [], expiresAt: new Date(h.clock.now() + 60_000).toISOString() });
    await settle();
    // same expiry as before → no further refresh scheduled
    await h.clock.advance(60_000 - 1);
    expect(h.ws.ofType("authenticate")).toHaveLength(2);
  });
});

describe("pushes during the replay arrive after the subscribed answer", () => {
  it("notifications replayed after `subscribed` move the position", async () => {
    const h = await connected();
    const replayed = [notification({ position: "101-0" }), notification({ position: "102-0" })];
    for (const n of replayed) pushNotification(h.ws, n);
    await settle();
    expect(h.client.getSnapshot().subscriptions["tenant-001"]?.position).toBe("102-0");
  });
});

describe("more edge cases", () => {
  it("a failed token fetch for a refresh is retried while the token is still valid", async () => {
    let fail = false;
    let calls = 0;
    const h = setup({
      token: async () => {
        calls += 1;
        if (fail) throw new Error("auth service down");
        return `t${calls}`;
      },
    });
    h.client.connect();
    const ws = h.sockets.last;
    await authenticate(ws, h.clock, { expiresInMs: 10 * 60_000 });
    ws.autoPong = true;
    fail = true;
    await h.clock.advance(9 * 60_000);
    expect(h.client.getSnapshot().lastError).toMatchObject({ code: "token_unavailable" });
    expect(ws.ofType("authenticate")).toHaveLength(1);
    fail = false;
    await h.clock.advance(30_000);
    expect(ws.ofType("authenticate")).toHaveLength(2);
    expect(h.client.getSnapshot().status).toBe("connected");
  });

  it("after reconnect() forced while offline succeeds, a later loss reconnects normally", async () => {
    const h = await connected();
    h.window.goOffline();
    h.client.reconnect();
    await authenticate(h.sockets.last, h.clock);
    h.sockets.last.serverClose(1001);
    await settle();
    expect(h.client.getSnapshot().status).toBe("reconnecting");
    await nextSocket(h);
  });

  it("a socket that cannot be constructed is retried with backoff", async () => {
    let throwOnce = true;
    const sockets = setup().sockets;
    const Throwing = class extends sockets.WebSocket {
      constructor(url: string) {
        if (throwOnce) {
          throwOnce = false;
          throw new Error("SyntaxError: bad url");
        }
        super(url);
      }
    };
    const h = setup({ WebSocket: Throwing });
    h.client.connect();
    expect(h.client.getSnapshot().lastError).toMatchObject({ code: "connection_failed" });
    await h.clock.next();
    expect(sockets.all).toHaveLength(1);
  });
});

describe("an expired token accepted within the server's leeway", () => {
  it("does not loop warning → refresh → warning: one refresh, then unauthorized", async () => {
    const h = setup({ token: "expired-but-within-leeway" });
    h.client.connect();
    const ws = h.sockets.last;
    ws.open();
    await settle();
    const expiresAt = new Date(h.clock.now() - 1000).toISOString(); // already past
    ws.reply("authenticate", "authenticated", { userId: "u-1", tenants: [], expiresAt });
    await settle();
    for (let i = 0; i < 5 && h.client.getSnapshot().status === "connected"; i++) {
      // the server's sweep warns; a refresh with the same token is accepted again (leeway)
      ws.push({ type: "error", payload: { code: "token_expired", message: "token expired: authenticate with a fresh one" } });
      await settle();
      if (h.client.getSnapshot().status !== "connected") break;
      ws.reply("authenticate", "authenticated", { userId: "u-1", tenants: [], expiresAt });
      await settle();
    }
    expect(h.client.getSnapshot().status).toBe("unauthorized");
    expect(ws.ofType("authenticate")).toHaveLength(2);
  });
});
