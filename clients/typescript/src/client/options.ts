/** The client's options with their defaults filled in (and the environment's defaults looked up). */
import { DEFAULT_BACKOFF, type BackoffOptions } from "../backoff.js";
import {
  defaultDocument,
  defaultWebSocket,
  defaultWindow,
  systemClock,
  type Clock,
  type DocumentLike,
  type WebSocketConstructor,
  type WindowLike,
} from "../environment.js";
import { clampBacklog } from "./filter.js";
import type { SendRate } from "./rate-limiter.js";
import type { NotificationClientOptions, TokenSource } from "./types.js";

/** The defaults documented on `NotificationClientOptions`. */
export const DEFAULTS = {
  maxNotifications: 100,
  backlog: 0,
  maxQueuedMessages: 100,
  pingIntervalMs: 25_000,
  pongTimeoutMs: 10_000,
  connectTimeoutMs: 15_000,
  reauthLeadMs: 60_000,
  /** Half the server's limit (20/s, burst 40). */
  sendRate: { perSecond: 10, burst: 20 },
} as const;

/** An acknowledgement refused with a retryable error is sent at most this many times in all. */
export const MAX_ACK_TRIES = 3;
/** The pause (ms) before a refused acknowledgement is sent again. */
export const ACK_RETRY_DELAY_MS = 1000;

export interface ResolvedOptions {
  readonly url: string;
  readonly token: TokenSource;
  readonly maxNotifications: number;
  readonly backlog: number;
  readonly maxQueuedMessages: number;
  readonly backoff: BackoffOptions;
  readonly pingIntervalMs: number;
  readonly pongTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly reauthLeadMs: number;
  readonly sendRate: SendRate;
  readonly WebSocket: WebSocketConstructor | undefined;
  readonly clock: Clock;
  readonly random: () => number;
  readonly window: WindowLike | null;
  readonly document: DocumentLike | null;
}

const atLeastOne = (value: number): number => Math.max(1, Math.floor(value));

export function resolveOptions(options: NotificationClientOptions): ResolvedOptions {
  return {
    url: options.url,
    token: options.token,
    maxNotifications: atLeastOne(options.maxNotifications ?? DEFAULTS.maxNotifications),
    backlog: clampBacklog(options.backlog ?? DEFAULTS.backlog),
    maxQueuedMessages: atLeastOne(options.maxQueuedMessages ?? DEFAULTS.maxQueuedMessages),
    backoff: { ...DEFAULT_BACKOFF, ...options.backoff },
    pingIntervalMs: options.pingIntervalMs ?? DEFAULTS.pingIntervalMs,
    pongTimeoutMs: options.pongTimeoutMs ?? DEFAULTS.pongTimeoutMs,
    connectTimeoutMs: options.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs,
    reauthLeadMs: options.reauthLeadMs ?? DEFAULTS.reauthLeadMs,
    sendRate: options.sendRate ?? DEFAULTS.sendRate,
    WebSocket: options.WebSocket ?? defaultWebSocket(),
    clock: options.clock ?? systemClock,
    random: options.random ?? Math.random,
    window: options.window === undefined ? defaultWindow() : options.window,
    document: options.document === undefined ? defaultDocument() : options.document,
  };
}
