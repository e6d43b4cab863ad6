/**
 * The connection's life: one socket at a time, authenticated first; reconnects with backoff after a close
 * (what a close code asks for: see policy.ts), a dead heartbeat, a connect timeout or a failed send; suspended
 * while offline, hidden or in the back/forward cache; stopped by `close()` or by the server.
 */
import { backoffDelay } from "../backoff.js";
import { NotificationError } from "../errors.js";
import { parseServerFrame, type ClientMessage, type ServerMessage } from "../messages.js";
import { asText, Auth } from "./auth.js";
import { Heartbeat } from "./heartbeat.js";
import type { ResolvedOptions } from "./options.js";
import type { QueuedAck } from "./outbox.js";
import { PageWatcher } from "./page.js";
import { closePolicy } from "./policy.js";
import type { RateLimiter } from "./rate-limiter.js";
import { Socket, type MessageIds, type Outgoing, type Request } from "./socket.js";
import type { TimerSet } from "./timers.js";
import type { ConnectionStatus, Report, TokenSource } from "./types.js";

/** After a "back off" close the attempt count is at least this (the next delay is drawn from up to base · 2³). */
const BACK_OFF_ATTEMPTS = 3;

export interface ConnectionHooks {
  /** A valid frame arrived on the current socket. */
  readonly message: (socket: Socket, message: ServerMessage) => void;
  /** The socket is authenticated for the first time: send what waits (subscriptions first, then the queue). */
  readonly ready: () => void;
  /** The current socket is gone; its unanswered acknowledgements are handed back. */
  readonly lost: (unanswered: QueuedAck[]) => void;
  /** The client stopped; pending requests fail with `reason`. */
  readonly stopped: (reason: NotificationError) => void;
  readonly status: (status: ConnectionStatus) => void;
  /** Something else the snapshot shows changed (the user id). */
  readonly changed: () => void;
}

export interface ConnectionOptions {
  readonly settings: ResolvedOptions;
  readonly timers: TimerSet;
  readonly limiter: RateLimiter;
  readonly ids: MessageIds;
  readonly report: Report;
  readonly hooks: ConnectionHooks;
}

export class Connection {
  private statusNow: ConnectionStatus = "closed";
  private user: string | null = null;
  private socket: Socket | null = null;
  private heartbeat: Heartbeat | null = null;
  private started = false;
  private stopped = true;
  private everConnected = false;
  /** Failed attempts since the last stable connection (the backoff's exponent). */
  private attempts = 0;
  private offline = false;
  private hidden = false;
  private frozen = false;
  private readonly auth: Auth;
  private readonly page: PageWatcher;

  constructor(private readonly options: ConnectionOptions) {
    const { settings, timers, report } = options;
    this.auth = new Auth({
      clock: settings.clock,
      timers,
      reauthLeadMs: settings.reauthLeadMs,
      token: settings.token,
      report,
      isCurrent: (socket) => this.socket === socket,
      authenticate: (socket, token) => this.authenticate(socket, token),
    });
    this.page = new PageWatcher(settings.window, settings.document, {
      online: () => this.onOnline(),
      offline: () => this.onOffline(),
      visibilityChange: () => this.onVisibilityChange(),
      pageHide: () => this.onPageHide(),
      pageShow: () => this.onPageShow(),
    });
  }

  get status(): ConnectionStatus {
    return this.statusNow;
  }

  /** The authenticated user, once known. */
  get userId(): string | null {
    return this.user;
  }

  /** Started, then stopped (by `close()` or the server): requests are refused until `reconnect()`. */
  get isStopped(): boolean {
    return this.started && this.stopped;
  }

  /** The current socket when it is authenticated (requests can go), else null. */
  get ready(): Socket | null {
    return this.socket?.authenticated ? this.socket : null;
  }

  isCurrent(socket: Socket): boolean {
    return this.socket === socket;
  }

  setToken(token: TokenSource): void {
    this.auth.setToken(token);
  }

  connect(): void {
    if (this.started && !this.stopped) return;
    this.started = true;
    this.stopped = false;
    this.page.attach();
    this.offline = this.page.offline;
    this.hidden = this.page.hidden;
    if (this.offline) this.setStatus("offline");
    else this.open();
  }

  reconnect(): void {
    this.started = true;
    this.stopped = false;
    this.attempts = 0;
    this.auth.reset();
    this.frozen = false;
    this.page.attach();
    this.hidden = this.page.hidden;
    if (this.socket) this.abandon(this.socket, "reconnect requested");
    this.options.timers.clear("reconnect");
    this.open();
  }

  close(): void {
    this.stop("closed", null);
  }

  /** Send a request on `socket`, remembered until its answer. */
  request(socket: Socket, message: Outgoing, request: Request): void {
    socket.track(message.messageId, request);
    this.send(socket, message);
  }

  /** `authenticated`: the first on a socket makes it `connected`; a later one is a refresh. */
  authenticated(socket: Socket, payload: { readonly userId: string; readonly expiresAt: string }): void {
    const first = !socket.authenticated;
    socket.authenticated = true;
    this.auth.accepted(socket, payload.expiresAt);
    this.offline = false; // evidently not (after a reconnect() forced while the browser said offline)
    if (this.user !== payload.userId) {
      this.user = payload.userId;
      this.options.hooks.changed();
    }
    if (!first) return;
    const { timers, settings } = this.options;
    timers.clear("connect");
    this.everConnected = true;
    this.setStatus("connected");
    timers.set("stable", () => (this.attempts = 0), settings.backoff.stableMs);
    this.options.hooks.ready();
  }

  /** The token was refused (`unauthorized`, `token_expired`): a fresh one once; a second refusal in a row stops. */
  authRefused(socket: Socket, error: NotificationError): void {
    socket.refreshing = false;
    if (this.auth.refused()) {
      this.stop("unauthorized", error);
      return;
    }
    if (socket.authenticated) {
      void this.auth.refresh(socket); // the current token stays in force until it ends
    } else {
      this.abandon(socket, "authentication failed"); // the server closes it anyway
      this.open();
    }
  }

  // -- sockets ---------------------------------------------------------------------------------------

  private open(): void {
    const { timers, settings, report } = this.options;
    timers.clear("reconnect");
    this.setStatus(this.everConnected ? "reconnecting" : "connecting");
    if (this.stopped) return; // a status listener closed the client
    const WS = settings.WebSocket;
    if (!WS) {
      this.stop("closed", report("connection_failed", "no WebSocket implementation: pass options.WebSocket"));
      return;
    }
    let ws;
    try {
      ws = new WS(settings.url);
    } catch (error) {
      report("connection_failed", `could not open ${settings.url}: ${asText(error)}`);
      this.scheduleReconnect();
      return;
    }
    const socket: Socket = new Socket(ws, this.auth.fetch(), {
      open: () => {
        if (this.socket === socket) void this.onOpen(socket);
      },
      message: (data) => {
        if (this.socket === socket) this.onFrame(socket, data);
      },
      close: (code, reason) => {
        if (this.socket === socket) this.onClose(socket, code, reason);
      },
    });
    this.socket = socket;
    this.heartbeat = new Heartbeat({
      clock: settings.clock,
      timers,
      intervalMs: settings.pingIntervalMs,
      timeoutMs: settings.pongTimeoutMs,
      ping: () => {
        const messageId = this.options.ids.next("ping");
        this.request(socket, { type: "ping", messageId }, { kind: "ping" });
        return messageId;
      },
      answered: (pingId) => void socket.take(pingId),
      dead: () => this.onDead(socket),
    });
    timers.set("connect", () => this.onConnectTimeout(socket), settings.connectTimeoutMs);
  }

  private async onOpen(socket: Socket): Promise<void> {
    this.heartbeat?.start();
    const result = await socket.token;
    if (this.socket !== socket) return; // abandoned (or the client closed) while the token was on its way
    if (!result.ok) {
      this.options.report("token_unavailable", `no token: ${asText(result.error)}`);
      this.abandon(socket, "no token");
      this.scheduleReconnect();
      return;
    }
    this.authenticate(socket, result.token);
  }

  private authenticate(socket: Socket, token: string): void {
    const messageId = this.options.ids.next("authenticate");
    this.request(socket, { type: "authenticate", payload: { token }, messageId }, { kind: "auth" });
  }

  private send(socket: Socket, message: ClientMessage): void {
    const { limiter, settings, report } = this.options;
    if (message.type !== "acknowledge") limiter.consume(settings.clock.now()); // queued messages take their own
    try {
      socket.send(message);
    } catch (error) {
      // The socket is not open after all: treat it as dead.
      report("connection_failed", `send failed: ${asText(error)}`);
      if (this.socket === socket) {
        this.abandon(socket, "send failed");
        this.scheduleReconnect();
      }
    }
  }

  private onFrame(socket: Socket, data: unknown): void {
    this.heartbeat?.seen();
    const parsed = parseServerFrame(data);
    if (!parsed.ok) {
      this.options.report("invalid_frame", `invalid frame ignored: ${parsed.error}`);
      return;
    }
    try {
      this.options.hooks.message(socket, parsed.message);
    } catch (error) {
      // Defensive: nothing inbound may throw out of the socket's event handler.
      this.options.report("invalid_frame", `frame could not be handled: ${asText(error)}`);
    }
  }

  private onClose(socket: Socket, code: number, reason: string): void {
    this.teardown(socket);
    const policy = closePolicy(code);
    const text = reason || policy.meaning || "the connection closed";
    const error = this.options.report("connection_closed", `closed (${code}${policy.name ? ` ${policy.name}` : ""}): ${text}`, {
      closeCode: code,
    });
    switch (policy.action) {
      case "sign_in":
        // Only a new sign-in (a token issued after the refusal or the revocation) helps. `lastError.code` is
        // the close code's name (`unauthorized`, `revoked`).
        this.stop(
          "unauthorized",
          policy.name === null ? error : this.options.report(policy.name, `sign in again: ${text}`, { closeCode: code }),
        );
        return;
      case "stop":
        this.stop("closed", error);
        return;
      case "refresh_token":
        // The token expired unrefreshed: reconnecting fetches a fresh one, but only once in a row.
        if (this.auth.refused()) {
          this.stop("unauthorized", error);
          return;
        }
        break;
      case "back_off":
        this.attempts = Math.max(this.attempts, BACK_OFF_ATTEMPTS);
        break;
      case "reconnect":
        break;
    }
    this.scheduleReconnect();
  }

  private onConnectTimeout(socket: Socket): void {
    if (this.socket !== socket || socket.authenticated) return;
    this.options.report("connect_timeout", `not connected and authenticated within ${this.options.settings.connectTimeoutMs} ms`);
    this.abandon(socket, "connect timeout");
    this.scheduleReconnect();
  }

  /** No answer to a ping in time: drop the socket without waiting for its `close` and reconnect at once. */
  private onDead(socket: Socket): void {
    this.options.report(
      "heartbeat_timeout",
      `no answer within ${this.options.settings.pongTimeoutMs} ms of a ping: the connection is dead`,
    );
    this.abandon(socket, "heartbeat timeout");
    this.scheduleReconnect(true);
  }

  /** Forget a socket: its events are ignored from now on, it is closed, its timers cleared. */
  private abandon(socket: Socket, reason: string): void {
    if (this.socket === socket) this.teardown(socket);
    socket.abandon(reason);
  }

  /** The current socket is gone: clear its timers, hand back its unanswered acknowledgements. */
  private teardown(socket: Socket): void {
    if (this.socket !== socket) return;
    this.socket = null;
    this.heartbeat?.stop();
    this.heartbeat = null;
    const { timers, hooks } = this.options;
    for (const name of ["connect", "stable", "reauth"] as const) timers.clear(name);
    hooks.lost(socket.forgetAll());
  }

  private scheduleReconnect(immediate = false): void {
    if (this.stopped) return;
    const { timers, settings } = this.options;
    timers.clear("reconnect");
    if (this.offline) {
      this.setStatus("offline");
      return;
    }
    this.setStatus(this.everConnected ? "reconnecting" : "connecting");
    if (this.hidden || this.frozen) return; // suspended: a visible page (or pageshow) probes
    const delay = immediate ? 0 : backoffDelay(this.attempts, settings.backoff, settings.random);
    this.attempts += 1;
    if (immediate) this.open();
    else timers.set("reconnect", () => this.open(), delay);
  }

  private stop(status: "closed" | "unauthorized", error: NotificationError | null): void {
    this.stopped = true;
    if (this.socket) this.abandon(this.socket, status);
    this.options.timers.clearAll();
    this.page.detach();
    this.setStatus(status);
    this.options.hooks.stopped(error ?? new NotificationError("client_closed", "the client was closed"));
  }

  private setStatus(status: ConnectionStatus): void {
    if (this.statusNow === status) return;
    this.statusNow = status;
    this.options.hooks.status(status);
  }

  // -- the page --------------------------------------------------------------------------------------

  /** Check the connection now (page visible again, back online): wall-clock deadlines, then a ping. */
  private probe(): void {
    if (this.stopped) return;
    const socket = this.socket;
    if (!socket) {
      // Suspended (hidden, pagehide): try now. A backoff timer already running is left alone.
      if (!this.offline && !this.hidden && !this.frozen && !this.options.timers.has("reconnect")) this.open();
      return;
    }
    if (!socket.authenticated) return; // an attempt is under way; its own deadline applies
    if (this.heartbeat?.probe()) this.auth.refreshIfDue(socket);
  }

  private onOnline(): void {
    if (this.stopped || !this.offline) return;
    this.offline = false;
    if (!this.socket) {
      this.options.timers.clear("reconnect");
      this.open(); // at once
    } else this.probe();
  }

  private onOffline(): void {
    if (this.stopped) return;
    this.offline = true;
    if (this.socket) this.abandon(this.socket, "offline");
    this.options.timers.clear("reconnect");
    this.setStatus("offline");
  }

  private onVisibilityChange(): void {
    if (this.stopped) return;
    this.hidden = this.page.hidden;
    if (this.hidden) this.options.timers.clear("reconnect"); // suspended until visible
    else this.probe();
  }

  private onPageHide(): void {
    // Entering the back/forward cache (or unloading): an open socket would keep the page out of the cache.
    if (this.stopped) return;
    this.frozen = true;
    if (this.socket) this.abandon(this.socket, "pagehide");
    this.options.timers.clear("reconnect");
    this.setStatus(this.everConnected ? "reconnecting" : "connecting");
  }

  private onPageShow(): void {
    if (this.stopped || !this.frozen) return;
    this.frozen = false;
    this.probe();
  }
}
