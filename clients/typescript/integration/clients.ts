/**
 * `NotificationClient` in Node for the integration tests: the `ws` package as the WebSocket, no window or
 * document, every socket's frames recorded (to check what crossed the wire, not only what the client kept).
 */
import WebSocket from "ws";
import {
  NotificationClient,
  type ClientNotification,
  type ConnectionStatus,
  type NotificationClientOptions,
  type RecoveryFailedEvent,
} from "../src/client.js";
import type { WebSocketConstructor } from "../src/environment.js";
import type { NotificationError } from "../src/errors.js";
import { defer, mintToken, type TokenClaims } from "./harness.js";

/** One frame as it crossed the wire, parsed, with the number of the socket (1, 2, …) it crossed on. */
export interface WireFrame {
  socket: number;
  at: number;
  message: { type: string; payload?: Record<string, unknown>; messageId?: string };
}

export interface WireLog {
  /** How many sockets the client opened. */
  sockets: number;
  received: WireFrame[];
  sent: WireFrame[];
}

/** A `ws` WebSocket class that records every text frame in both directions. */
export function recordingWebSocket(log: WireLog): WebSocketConstructor {
  return class RecordingWebSocket extends WebSocket {
    private readonly socketNumber: number;

    constructor(url: string) {
      super(url);
      this.socketNumber = ++log.sockets;
      this.on("message", (data, isBinary) => {
        if (isBinary) return;
        log.received.push({ socket: this.socketNumber, at: Date.now(), message: JSON.parse(String(data)) as WireFrame["message"] });
      });
      this.on("error", () => undefined); // the client's onerror is replaced by a no-op when it abandons a socket
    }

    override send(data: unknown, ...rest: unknown[]): void {
      if (typeof data === "string") {
        log.sent.push({ socket: this.socketNumber, at: Date.now(), message: JSON.parse(data) as WireFrame["message"] });
      }
      (WebSocket.prototype.send as (...args: unknown[]) => void).call(this, data, ...rest);
    }
  };
}

export interface TestClient {
  client: NotificationClient;
  wire: WireLog;
  /** Every `notification` event (new, not duplicates), in arrival order. */
  notifications: ClientNotification[];
  statuses: ConnectionStatus[];
  errors: NotificationError[];
  recoveryFailures: RecoveryFailedEvent[];
  /** How many times the token function was called. */
  tokenCalls: () => number;
  /** Notification frames received on the wire (all sockets), in order. */
  wireNotifications: () => WireFrame[];
}

export interface TestClientOptions extends Partial<NotificationClientOptions> {
  url: string;
  /** The token's claims (a fresh token is minted on every call); or give `token`. */
  claims?: TokenClaims;
}

/** A started `NotificationClient` (closed by the harness cleanup) with everything it did recorded. */
export function startClient({ claims, ...options }: TestClientOptions): TestClient {
  const wire: WireLog = { sockets: 0, received: [], sent: [] };
  let calls = 0;
  const token =
    options.token ??
    (async (): Promise<string> => {
      calls += 1;
      if (!claims) throw new Error("no claims for the token");
      return mintToken(claims);
    });
  const result: TestClient = {
    client: undefined as unknown as NotificationClient,
    wire,
    notifications: [],
    statuses: [],
    errors: [],
    recoveryFailures: [],
    tokenCalls: () => calls,
    wireNotifications: () => wire.received.filter((f) => f.message.type === "notification"),
  };
  const client = new NotificationClient({
    backoff: { baseMs: 250, capMs: 2_000, minMs: 100, stableMs: 5_000 },
    ...options,
    token,
    WebSocket: options.WebSocket ?? recordingWebSocket(wire),
    window: null,
    document: null,
  });
  client.on("notification", (n) => result.notifications.push(n));
  client.on("status", (s) => result.statuses.push(s));
  client.on("error", (e) => result.errors.push(e));
  client.on("recoveryFailed", (e) => result.recoveryFailures.push(e));
  result.client = client;
  defer("close a client", () => client.close());
  client.connect();
  return result;
}
