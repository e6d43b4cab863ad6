/**
 * The client's behaviour per action of the protocol's tables (src/generated/protocol.ts): every close code
 * and every error code is tried, grouped by the action the table gives it, against a fake socket.
 */
import { describe, expect, it } from "vitest";
import { CLOSE_CODES, ERROR_CODE_INFO, type CloseAction, type ErrorAction } from "../src/generated/protocol.js";
import { settle } from "./helpers/fakes.js";
import { authenticate, connected, nextSocket, setup } from "./helpers/harness.js";

function closeCodes(action: CloseAction): { code: number; name: string }[] {
  return Object.entries(CLOSE_CODES)
    .filter(([, c]) => c.action === action)
    .map(([code, c]) => ({ code: Number(code), name: c.name }));
}

function errorCodes(action: ErrorAction): string[] {
  return Object.entries(ERROR_CODE_INFO)
    .filter(([, e]) => e.action === action)
    .map(([code]) => code);
}

/** Codes no table knows: 1005/1006 (no close frame), a code from a newer server. */
const UNKNOWN_CLOSE_CODES = [1005, 1006, 4999];
const UNKNOWN_ERROR_CODE = "some_future_code";

describe("every action of the tables has codes (no test below is vacuous)", () => {
  for (const action of ["reconnect", "back_off", "refresh_token", "sign_in", "stop"] as const) {
    it(`close action ${action}`, () => expect(closeCodes(action).length).toBeGreaterThan(0));
  }
  for (const action of ["reauthenticate", "retry", "fail"] as const) {
    it(`error action ${action}`, () => expect(errorCodes(action).length).toBeGreaterThan(0));
  }
});

describe("close action reconnect", () => {
  for (const code of [...closeCodes("reconnect").map((c) => c.code), ...UNKNOWN_CLOSE_CODES]) {
    it(`${code}: reconnects after the normal backoff and resumes`, async () => {
      const h = await connected({ random: () => 1 });
      h.ws.serverClose(code);
      await settle();
      expect(h.client.getSnapshot()).toMatchObject({ status: "reconnecting", lastError: { code: "connection_closed", closeCode: code } });
      expect(h.clock.delays()).toContain(1000); // base · 2⁰
      const ws = await nextSocket(h);
      await authenticate(ws, h.clock);
      expect(ws.lastOfType("subscribe").payload).toEqual({ tenantId: "tenant-001", since: "100-0" });
    });
  }
});

describe("close action back_off", () => {
  for (const { code } of closeCodes("back_off")) {
    it(`${code}: reconnects after a longer backoff`, async () => {
      const h = await connected({ random: () => 1 });
      h.ws.serverClose(code);
      await settle();
      expect(h.client.getSnapshot().status).toBe("reconnecting");
      expect(h.clock.delays()).toContain(8000); // base · 2³ at least
      expect(h.clock.delays()).not.toContain(1000);
      await authenticate(await nextSocket(h), h.clock);
      expect(h.client.getSnapshot().status).toBe("connected");
    });
  }
});

describe("close action refresh_token", () => {
  for (const { code } of closeCodes("refresh_token")) {
    it(`${code}: reconnects with a fresh token; a second one in a row stops as unauthorized`, async () => {
      const h = await connected();
      h.ws.serverClose(code);
      await settle();
      const ws = await nextSocket(h);
      ws.open();
      await settle();
      expect(ws.lastOfType("authenticate").payload).toEqual({ token: "token-2" });
      ws.serverClose(code); // again, before any successful authentication
      await settle();
      expect(h.client.getSnapshot()).toMatchObject({ status: "unauthorized", lastError: { closeCode: code } });
      expect(h.clock.pending).toBe(0);
      await h.clock.advance(10 * 60_000);
      expect(h.sockets.all).toHaveLength(2);
    });

    it(`${code}: a fresh token accepted in between resets the count`, async () => {
      const h = await connected();
      h.ws.serverClose(code);
      const second = await nextSocket(h);
      await authenticate(second, h.clock, { expiresInMs: 7_200_000 }); // lasts longer than the first token
      second.serverClose(code);
      await settle();
      expect(h.client.getSnapshot().status).toBe("reconnecting");
      await nextSocket(h);
      expect(h.sockets.all).toHaveLength(3);
    });
  }
});

describe("close action sign_in", () => {
  for (const { code, name } of closeCodes("sign_in")) {
    it(`${code}: stops in unauthorized, lastError.code ${name}, nothing left running`, async () => {
      const h = await connected();
      h.ws.serverClose(code, "the server's reason");
      await settle();
      expect(h.client.getSnapshot()).toMatchObject({ status: "unauthorized", lastError: { code: name, closeCode: code } });
      expect(h.clock.pending).toBe(0);
      expect(h.window.listenerCount + h.document.listenerCount).toBe(0);
      await h.clock.advance(10 * 60_000);
      expect(h.sockets.all).toHaveLength(1);
    });
  }
});

describe("close action stop", () => {
  for (const { code } of closeCodes("stop")) {
    it(`${code}: stops in closed, nothing left running`, async () => {
      const h = await connected();
      h.ws.serverClose(code);
      await settle();
      expect(h.client.getSnapshot()).toMatchObject({ status: "closed", lastError: { code: "connection_closed", closeCode: code } });
      expect(h.clock.pending).toBe(0);
      await h.clock.advance(10 * 60_000);
      expect(h.sockets.all).toHaveLength(1);
    });
  }
});

describe("error action reauthenticate", () => {
  for (const code of errorCodes("reauthenticate")) {
    it(`${code} on authenticate: one fresh token on a new socket, then unauthorized`, async () => {
      const h = setup();
      h.client.connect();
      const first = h.sockets.last;
      first.open();
      await settle();
      first.reply("authenticate", "error", { code, message: "refused" });
      await settle();
      expect(first.closedByClient).not.toBeNull();
      const second = h.sockets.last;
      expect(h.sockets.all).toHaveLength(2);
      second.open();
      await settle();
      expect(second.lastOfType("authenticate").payload).toEqual({ token: "token-2" });
      second.reply("authenticate", "error", { code, message: "refused again" });
      await settle();
      expect(h.client.getSnapshot()).toMatchObject({ status: "unauthorized", lastError: { code } });
      expect(h.clock.pending).toBe(0);
    });

    it(`${code} pushed on an open connection: a refresh on the same socket`, async () => {
      const h = await connected();
      h.ws.push({ type: "error", payload: { code, message: "warning" } });
      await settle();
      expect(h.ws.ofType("authenticate").map((m) => m.payload)).toEqual([{ token: "token-1" }, { token: "token-2" }]);
      expect(h.sockets.all).toHaveLength(1);
      expect(h.client.getSnapshot().status).toBe("connected");
    });
  }
});

describe("error action retry", () => {
  for (const code of errorCodes("retry")) {
    it(`${code} on subscribe: the promise rejects, the subscribe is sent again after a backoff`, async () => {
      const h = await connected();
      const p = h.client.subscribe("tenant-009");
      await settle();
      h.ws.reply("subscribe", "error", { code, message: "later" });
      await expect(p).rejects.toMatchObject({ code, tenantId: "tenant-009" });
      expect(h.client.getSnapshot().subscriptions["tenant-009"]?.status).toBe("pending");
      expect(h.ws.ofType("subscribe")).toHaveLength(2); // tenant-001, tenant-009
      await h.clock.advance(1000);
      expect(h.ws.lastOfType("subscribe").payload).toEqual({ tenantId: "tenant-009" });
      expect(h.ws.ofType("subscribe")).toHaveLength(3);
    });

    it(`${code} on acknowledge: sent again with the same messageId after a pause, 3 sends at most`, async () => {
      const h = await connected();
      h.client.markAsRead("tenant-001:a");
      const ack = h.ws.lastOfType("acknowledge");
      for (let sent = 1; sent <= 3; sent++) {
        expect(h.ws.ofType("acknowledge")).toEqual(Array(sent).fill(ack));
        h.ws.reply("acknowledge", "error", { code, message: "later" });
        await h.clock.advance(1000);
      }
      h.ws.autoPong = true;
      await h.clock.advance(60_000);
      expect(h.ws.ofType("acknowledge")).toHaveLength(3);
      expect(h.sockets.all).toHaveLength(1);
    });

    it(`${code} on unsubscribe: the promise rejects, the unsubscribe is sent again after a backoff`, async () => {
      const h = await connected();
      const p = h.client.unsubscribe("tenant-001");
      await settle();
      h.ws.reply("unsubscribe", "error", { code, message: "later" });
      await expect(p).rejects.toMatchObject({ code, tenantId: "tenant-001" });
      expect(h.ws.ofType("unsubscribe")).toHaveLength(1); // not at once
      await h.clock.advance(1000);
      expect(h.ws.ofType("unsubscribe")).toHaveLength(2);
      h.ws.reply("unsubscribe", "unsubscribed", { tenantId: "tenant-001" });
      await settle();
      expect(h.client.getSnapshot().subscriptions).toEqual({});
    });
  }
});

describe("error action fail", () => {
  for (const code of [...errorCodes("fail"), UNKNOWN_ERROR_CODE]) {
    it(`${code} on subscribe: the promise rejects, the subscription is in error and not retried`, async () => {
      const h = await connected();
      const p = h.client.subscribe("tenant-009");
      await settle();
      h.ws.reply("subscribe", "error", { code, message: "no" });
      await expect(p).rejects.toMatchObject({ code, tenantId: "tenant-009" });
      expect(h.client.getSnapshot().subscriptions["tenant-009"]).toMatchObject({ status: "error", error: { code } });
      h.ws.autoPong = true;
      await h.clock.advance(60_000);
      expect(h.ws.ofType("subscribe")).toHaveLength(2);
      h.ws.serverClose(closeCodes("reconnect")[0]!.code);
      await authenticate(await nextSocket(h), h.clock);
      expect(h.sockets.last.ofType("subscribe").map((m) => m.payload)).toEqual([{ tenantId: "tenant-001", since: "100-0" }]);
    });

    it(`${code} on acknowledge: not sent again`, async () => {
      const h = await connected();
      h.client.markAsRead("tenant-001:a");
      h.ws.reply("acknowledge", "error", { code, message: "no" });
      await settle();
      expect(h.client.getSnapshot()).toMatchObject({ queuedMessages: 0, lastError: { code } });
      h.ws.autoPong = true;
      await h.clock.advance(60_000);
      expect(h.ws.ofType("acknowledge")).toHaveLength(1);
    });

    it(`${code} on unsubscribe: counts as done (the connection does not hold it)`, async () => {
      const h = await connected();
      const p = h.client.unsubscribe("tenant-001");
      await settle();
      h.ws.reply("unsubscribe", "error", { code, message: "no" });
      await expect(p).resolves.toBeUndefined();
      expect(h.client.getSnapshot().subscriptions).toEqual({});
      h.ws.autoPong = true;
      await h.clock.advance(60_000);
      expect(h.ws.ofType("unsubscribe")).toHaveLength(1);
    });
  }
});
