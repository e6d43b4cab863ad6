/**
 * The few things of the host environment the client uses, as small interfaces so that tests (and Node) can
 * inject their own: the WebSocket constructor, timers and the clock, and window/document-like event targets.
 */

/**
 * An event handler property. Declared as a method type (bivariant parameters) so that implementations with
 * richer event types — the DOM's `MessageEvent`, the `ws` package's — fit without a cast.
 */
type Handler<E> = { bivarianceHack(event: E): void }["bivarianceHack"];

/** The part of the browser `WebSocket` the client uses (the `ws` package's WebSocket fits too). */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: Handler<unknown> | null;
  onmessage: Handler<{ readonly data: unknown }> | null;
  onerror: Handler<unknown> | null;
  onclose: Handler<{ readonly code: number; readonly reason: string }> | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** Timers and the wall clock. Every timer the client starts goes through this, so tests can count them. */
export interface Clock {
  /** Wall-clock milliseconds (like `Date.now()`): deadlines are checked against it, not against timer counts. */
  now(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** `addEventListener`/`removeEventListener`, as `window` and `document` have them. */
export interface EventTargetLike {
  addEventListener(type: string, listener: (event: unknown) => void): void;
  removeEventListener(type: string, listener: (event: unknown) => void): void;
}

/** What the client reads from `window`: `online`/`offline`/`pagehide`/`pageshow` events and `navigator.onLine`. */
export interface WindowLike extends EventTargetLike {
  readonly navigator?: { readonly onLine?: boolean } | undefined;
}

/** What the client reads from `document`: `visibilitychange` events and `visibilityState`. */
export interface DocumentLike extends EventTargetLike {
  readonly visibilityState?: string;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof globalThis.setTimeout>),
};

const g = globalThis as {
  WebSocket?: unknown;
  window?: unknown;
  document?: unknown;
};

export function defaultWebSocket(): WebSocketConstructor | undefined {
  return typeof g.WebSocket === "function" ? (g.WebSocket as WebSocketConstructor) : undefined;
}

export function defaultWindow(): WindowLike | null {
  const w = g.window as Partial<WindowLike> | undefined;
  return w && typeof w.addEventListener === "function" ? (w as WindowLike) : null;
}

export function defaultDocument(): DocumentLike | null {
  const d = g.document as Partial<DocumentLike> | undefined;
  return d && typeof d.addEventListener === "function" ? (d as DocumentLike) : null;
}

/** True where rendering should open nothing (no `window`: server-side rendering, workers without a DOM). */
export function isServerEnvironment(): boolean {
  return typeof g.window === "undefined";
}
