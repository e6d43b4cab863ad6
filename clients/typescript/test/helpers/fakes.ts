/**
 * Test doubles for NotificationClient: no DOM, no network, no real timers.
 *
 * FakeClock — timers and a wall clock under the test's control.
 *   `await clock.advance(ms)` moves time forward, firing due timers in order (microtasks settle after each);
 *   `clock.jump(ms)` moves only the wall clock (a sleeping laptop, a throttled background tab);
 *   `clock.pending` counts live timers (the "nothing left after close" checks).
 *
 * FakeSockets — a scriptable WebSocket. `sockets.WebSocket` is the constructor to inject; every instance is
 *   kept in `sockets.all` (`sockets.last` is the newest). Each FakeWebSocket records the frames the client
 *   sent (`sent`, `messages()`, `ofType(type)`), and the test plays the server:
 *     `ws.open()`               the connection opens
 *     `ws.push(obj | string)`   the server sends a frame (objects are JSON-encoded)
 *     `ws.reply(type, payload)` answers the client's last request of the matching kind with its messageId
 *     `ws.serverClose(code)`    the server closes (a `close` event with that code)
 *     `ws.fail()`               the connection fails (`error`, then `close` 1006)
 *     `ws.autoPong = true`      answer every `ping` with a `pong`, like a live server
 *   `ws.closedByClient` says whether (and with which code) the client closed it; `sockets.open` counts
 *   sockets not closed.
 *
 * FakeTarget / FakeWindow / FakeDocument — event targets that count their listeners and dispatch events.
 */
import type { Clock, WebSocketLike } from "../../src/environment.js";

export async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await Promise.resolve();
}

interface FakeTimer {
  id: number;
  at: number;
  callback: () => void;
}

export class FakeClock implements Clock {
  private nowMs = Date.UTC(2026, 10, 27, 9, 0, 0);
  private seq = 0;
  private readonly timers = new Map<number, FakeTimer>();

  now(): number {
    return this.nowMs;
  }
  setTimeout(callback: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.timers.set(id, { id, at: this.nowMs + Math.max(0, ms), callback });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }
  /** Live timers. */
  get pending(): number {
    return this.timers.size;
  }
  /** Due times of live timers, relative to now. */
  delays(): number[] {
    return [...this.timers.values()].map((t) => t.at - this.nowMs).sort((a, b) => a - b);
  }
  /** Move the wall clock only: timers do not fire (throttled or suspended). */
  jump(ms: number): void {
    this.nowMs += ms;
  }
  /** Move time forward by `ms`, firing every timer that falls due, in order. */
  async advance(ms: number): Promise<void> {
    const end = this.nowMs + ms;
    await settle();
    for (;;) {
      const next = [...this.timers.values()].filter((t) => t.at <= end).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!next) break;
      this.timers.delete(next.id);
      this.nowMs = Math.max(this.nowMs, next.at);
      next.callback();
      await settle();
    }
    this.nowMs = end;
    await settle();
  }
  /** Fire the next timer (whenever it is due); returns the delay it had, or null if none. */
  async next(): Promise<number | null> {
    const next = [...this.timers.values()].sort((a, b) => a.at - b.at || a.id - b.id)[0];
    if (!next) return null;
    const delay = next.at - this.nowMs;
    await this.advance(Math.max(0, delay));
    return delay;
  }
}

type Frame = Record<string, unknown> & { type: string; messageId?: string; payload?: Record<string, unknown> };

export class FakeWebSocket implements WebSocketLike {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSING = 2;
  static readonly CLOSED = 3;

  readyState = 0;
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { readonly data: unknown }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  onclose: ((event: { readonly code: number; readonly reason: string }) => void) | null = null;
  readonly sent: string[] = [];
  closedByClient: { code: number | undefined; reason: string | undefined } | null = null;
  /** Answer every `ping` with a `pong` (in a microtask), like a live server. */
  autoPong = false;

  constructor(readonly url: string) {}

  // -- what the client calls --
  send(data: string): void {
    if (this.readyState !== 1) throw new Error(`send in readyState ${this.readyState}`);
    this.sent.push(data);
    if (this.autoPong) {
      const { type, messageId } = JSON.parse(data) as { type: string; messageId?: string };
      if (type === "ping") queueMicrotask(() => this.readyState === 1 && this.push({ type: "pong", messageId }));
    }
  }
  close(code?: number, reason?: string): void {
    if (this.readyState >= 2) return;
    this.closedByClient = { code, reason };
    this.readyState = 3;
    // Browsers deliver the close event later, as a task.
    queueMicrotask(() => this.onclose?.({ code: code ?? 1005, reason: reason ?? "" }));
  }

  // -- what the test (the "server") does --
  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }
  push(frame: unknown): void {
    this.onmessage?.({ data: typeof frame === "string" ? frame : JSON.stringify(frame) });
  }
  pushRaw(data: unknown): void {
    this.onmessage?.({ data });
  }
  serverClose(code: number, reason = ""): void {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
  fail(): void {
    this.readyState = 3;
    this.onerror?.({});
    this.onclose?.({ code: 1006, reason: "" });
  }
  messages(): Frame[] {
    return this.sent.map((s) => JSON.parse(s) as Frame);
  }
  ofType(type: string): Frame[] {
    return this.messages().filter((m) => m.type === type);
  }
  lastOfType(type: string): Frame {
    const all = this.ofType(type);
    const last = all[all.length - 1];
    if (!last) throw new Error(`the client sent no ${type}; it sent: ${this.sent.join(" ")}`);
    return last;
  }
  /** Answer the client's last request of `requestType` with a `type` message carrying its messageId. */
  reply(requestType: string, type: string, payload?: unknown): void {
    const request = this.lastOfType(requestType);
    this.push({ type, ...(payload === undefined ? {} : { payload }), messageId: request.messageId });
  }
}

export class FakeSockets {
  readonly all: FakeWebSocket[] = [];
  readonly WebSocket: new (url: string) => FakeWebSocket;

  constructor() {
    const all = this.all;
    this.WebSocket = class extends FakeWebSocket {
      constructor(url: string) {
        super(url);
        all.push(this);
      }
    };
  }
  get last(): FakeWebSocket {
    const ws = this.all[this.all.length - 1];
    if (!ws) throw new Error("no socket was opened");
    return ws;
  }
  /** Sockets neither closed by the client nor by the server. */
  get open(): number {
    return this.all.filter((ws) => ws.readyState !== 3).length;
  }
}

type AnyListener = (event: unknown) => void;

export class FakeTarget {
  private readonly listeners = new Map<string, Set<AnyListener>>();
  addEventListener(type: string, listener: AnyListener): void {
    let set = this.listeners.get(type);
    if (!set) this.listeners.set(type, (set = new Set()));
    set.add(listener);
  }
  removeEventListener(type: string, listener: AnyListener): void {
    this.listeners.get(type)?.delete(listener);
  }
  dispatch(type: string, event: unknown = { type }): void {
    for (const listener of [...(this.listeners.get(type) ?? [])]) listener(event);
  }
  /** Listeners attached, over all event types. */
  get listenerCount(): number {
    let n = 0;
    for (const set of this.listeners.values()) n += set.size;
    return n;
  }
}

export class FakeWindow extends FakeTarget {
  readonly navigator = { onLine: true };
  goOffline(): void {
    this.navigator.onLine = false;
    this.dispatch("offline");
  }
  goOnline(): void {
    this.navigator.onLine = true;
    this.dispatch("online");
  }
}

export class FakeDocument extends FakeTarget {
  visibilityState: "visible" | "hidden" = "visible";
  hide(): void {
    this.visibilityState = "hidden";
    this.dispatch("visibilitychange");
  }
  show(): void {
    this.visibilityState = "visible";
    this.dispatch("visibilitychange");
  }
}
