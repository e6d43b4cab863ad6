/**
 * One connection attempt: its WebSocket (whose events go to the given handlers until it is abandoned), the
 * requests awaiting an answer by messageId, and where its authentication stands.
 */
import type { WebSocketLike } from "../environment.js";
import { CLOSE_CODE } from "../generated/protocol.js";
import type { ClientMessage, ClientMessageType } from "../messages.js";
import type { QueuedAck } from "./outbox.js";

/** A message as this client sends it: always with a messageId (the answer carries it back). */
export type Outgoing<M extends ClientMessage = ClientMessage> = M & { readonly messageId: string };

/** What a request was, so that its answer (or the error answering it) can be routed. */
export type Request =
  | { readonly kind: "auth" }
  | { readonly kind: "ping" }
  | { readonly kind: "subscribe"; readonly tenantId: string }
  | { readonly kind: "unsubscribe"; readonly tenantId: string }
  | { readonly kind: "ack"; readonly item: QueuedAck }
  | { readonly kind: "history"; readonly tenantId: string; readonly messageId: string };

export type TokenResult = { readonly ok: true; readonly token: string } | { readonly ok: false; readonly error: unknown };

/** Each message type's messageId prefix (`a1`, `s2`, `k3`, …: one sequence for the whole client). */
const ID_PREFIX = {
  authenticate: "a",
  subscribe: "s",
  unsubscribe: "u",
  acknowledge: "k",
  history: "h",
  ping: "p",
} as const satisfies Record<ClientMessageType, string>;

export class MessageIds {
  private seq = 0;

  next(type: ClientMessageType): string {
    this.seq += 1;
    return `${ID_PREFIX[type]}${this.seq}`;
  }
}

export interface SocketHandlers {
  open(): void;
  message(data: unknown): void;
  close(code: number, reason: string): void;
}

const noop = (): void => undefined;

export class Socket {
  /** The server answered an `authenticate` on this socket. */
  authenticated = false;
  /** A refresh (token fetch + authenticate) is under way. */
  refreshing = false;
  /** When the token in force expires (ms), as the server said. */
  expiresAt: number | null = null;
  /** When the next refresh is due (ms), while one is scheduled. */
  reauthAt: number | null = null;
  private readonly requests = new Map<string, Request>();

  /** `token` is fetched as the socket is created, so that it is (likely) there when the socket opens. */
  constructor(
    private readonly ws: WebSocketLike,
    readonly token: Promise<TokenResult>,
    handlers: SocketHandlers,
  ) {
    ws.onopen = () => handlers.open();
    ws.onmessage = (event) => handlers.message(event.data);
    ws.onerror = () => {
      // A `close` event always follows; the close handler decides what to do.
    };
    ws.onclose = (event) => handlers.close(event.code, event.reason);
  }

  /** Send a frame; throws when the WebSocket cannot send (it is not open after all). */
  send(message: ClientMessage): void {
    this.ws.send(JSON.stringify(message));
  }

  /** Remember what the message with this id asked, until its answer. */
  track(messageId: string, request: Request): void {
    this.requests.set(messageId, request);
  }

  /** The request a message answers, forgotten from now on (undefined: a pushed message, or no longer awaited). */
  take(messageId: string | null | undefined, kind?: Request["kind"]): Request | undefined {
    if (messageId === undefined || messageId === null) return undefined;
    const request = this.requests.get(messageId);
    if (request === undefined || (kind !== undefined && request.kind !== kind)) return undefined;
    this.requests.delete(messageId);
    return request;
  }

  /** Forget every request; returns the acknowledgements that got no answer (to be sent again). */
  forgetAll(): QueuedAck[] {
    const unanswered: QueuedAck[] = [];
    for (const request of this.requests.values()) if (request.kind === "ack") unanswered.push(request.item);
    this.requests.clear();
    return unanswered;
  }

  /** Ignore this socket's events from now on and close it. */
  abandon(reason: string): void {
    const ws = this.ws;
    // No-ops rather than null: some implementations (the `ws` package) throw on an unhandled `error`.
    ws.onopen = noop;
    ws.onmessage = noop;
    ws.onerror = noop;
    ws.onclose = noop;
    try {
      ws.close(CLOSE_CODE.normal, reason);
    } catch {
      // already closed or closing
    }
  }
}
