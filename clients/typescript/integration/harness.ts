/**
 * The shared harness of the integration tests (integration/) and the browser tests (e2e/): a private
 * `redis-server`, the real Python service (`arda serve`), tokens, publishing through the HTTP API, and a TCP
 * proxy that can drop connections without a close frame.
 *
 * Everything started here is registered for cleanup: call `useCleanup()` once in a test file (it installs
 * `afterEach`/`afterAll` hooks that stop every process and socket, and print the service's and Redis's log
 * tails when a test failed). A process left over when the worker exits is killed with SIGKILL.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createHmac, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach } from "vitest";

export const PACKAGE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const REPO_DIR = path.resolve(PACKAGE_DIR, "../..");
export const ARDA_BIN = process.env["ARDA_BIN"] ?? path.join(REPO_DIR, ".venv/bin/arda");
export const REDIS_BIN = process.env["REDIS_SERVER_BIN"] ?? "redis-server";

// -- cleanup -------------------------------------------------------------------------------------------

type Cleanup = () => Promise<void> | void;
const cleanups: { name: string; fn: Cleanup }[] = [];
const liveProcesses = new Set<ChildProcess>();
const logSources: { name: string; file: string }[] = [];

process.on("exit", () => {
  for (const child of liveProcesses) {
    try {
      child.kill("SIGKILL");
    } catch {
      // gone
    }
  }
});

/** Register a cleanup step; steps run last-registered first. */
export function defer(name: string, fn: Cleanup): void {
  cleanups.push({ name, fn });
}

/** Run every registered cleanup step (each at most 10 s, errors printed, never thrown). */
export async function cleanupAll(): Promise<void> {
  while (cleanups.length > 0) {
    const step = cleanups.pop() as { name: string; fn: Cleanup };
    try {
      await withTimeout(Promise.resolve().then(step.fn), 10_000, `cleanup ${step.name}`);
    } catch (error) {
      console.error(`[harness] cleanup ${step.name} failed:`, error);
    }
  }
  logSources.length = 0;
}

/** The last lines of every log registered since the last cleanup (service stderr, Redis). */
export function logTails(lines = 60): string {
  return logSources
    .map(({ name, file }) => {
      let text = "";
      try {
        text = fs.readFileSync(file, "utf8");
      } catch {
        text = "(no log)";
      }
      const tail = text.split("\n").slice(-lines).join("\n");
      return `----- ${name} (${file}), last ${lines} lines -----\n${tail}`;
    })
    .join("\n");
}

/** Install the hooks: clean up after each test (and after all), printing log tails when a test failed. */
export function useCleanup(): void {
  afterEach(async (context) => {
    if (context.task.result?.state === "fail") console.error(`[harness] "${context.task.name}" failed\n${logTails()}`);
    await cleanupAll();
  });
  afterAll(async () => {
    await cleanupAll();
  });
}

// -- small utilities -----------------------------------------------------------------------------------

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Poll `check` until it returns a truthy value (returned) or `timeoutMs` passes (throws `what`). */
export async function waitUntil<T>(
  check: () => T | Promise<T>,
  what: string,
  { timeoutMs = 10_000, intervalMs = 50 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown = null;
  for (;;) {
    try {
      const value = await check();
      if (value) return value as NonNullable<T>;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ""}`);
    }
    await sleep(intervalMs);
  }
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
/** A TCP server listening on a free loopback port (for the proxies the tests put in front of the service). */
export async function listenOnLoopback(): Promise<{ server: net.Server; port: number }> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  return { server, port: typeof address === "object" && address ? address.port : 0 };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `arda-tsit-${prefix}-`));
  defer(`remove ${dir}`, () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: "127.0.0.1" });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

// -- processes -----------------------------------------------------------------------------------------

/** A child process with its output appended to a log file; stoppable with SIGTERM (then SIGKILL) or killed. */
class Proc {
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();

  constructor(
    readonly name: string,
    private readonly command: string,
    private readonly args: () => string[],
    readonly logFile: string,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {
    logSources.push({ name, file: logFile });
  }

  get running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  spawn(): void {
    if (this.running) throw new Error(`${this.name} is already running`);
    const fd = fs.openSync(this.logFile, "a");
    fs.writeSync(fd, `\n===== ${new Date().toISOString()} ${this.command} ${this.args().join(" ")}\n`);
    let child: ChildProcess;
    try {
      child = spawn(this.command, this.args(), { stdio: ["ignore", fd, fd], env: this.env });
    } finally {
      fs.closeSync(fd);
    }
    this.child = child;
    liveProcesses.add(child);
    this.exited = new Promise<void>((resolve) => {
      child.once("exit", () => {
        liveProcesses.delete(child);
        resolve();
      });
      child.once("error", (error) => {
        fs.appendFileSync(this.logFile, `[harness] spawn failed: ${String(error)}\n`);
        liveProcesses.delete(child);
        resolve();
      });
    });
  }

  /** SIGKILL, and wait for the exit. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return this.exited;
    child.kill("SIGKILL");
    await this.exited;
  }

  /** SIGTERM, SIGKILL after `graceMs`; resolves once it exited. */
  async stop(graceMs = 5_000): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return this.exited;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    try {
      await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Resolves when the process exits (or at once when it is not running). */
  whenExited(): Promise<void> {
    return this.exited;
  }
}

// -- Redis ---------------------------------------------------------------------------------------------

export interface RedisOptions {
  /** AOF with `appendfsync always`: history survives a restart (SIGKILL included). Default: no persistence. */
  persistent?: boolean;
}

/** A private `redis-server` on 127.0.0.1 and a free port. */
export class RedisServer {
  readonly url: string;
  private readonly proc: Proc;

  private constructor(
    readonly port: number,
    readonly dir: string,
    readonly persistent: boolean,
  ) {
    this.url = `redis://127.0.0.1:${port}/0`;
    const args = (): string[] => [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--dir",
      dir,
      ...(persistent ? ["--appendonly", "yes", "--appendfsync", "always"] : ["--appendonly", "no"]),
    ];
    this.proc = new Proc(`redis-server :${port}`, REDIS_BIN, args, path.join(dir, "redis.log"));
  }

  static async start(options: RedisOptions = {}): Promise<RedisServer> {
    const redis = new RedisServer(await freePort(), tempDir("redis"), options.persistent ?? false);
    defer(`stop redis :${redis.port}`, () => redis.stop());
    await redis.launch();
    return redis;
  }

  private async launch(): Promise<void> {
    this.proc.spawn();
    await waitUntil(
      async () => {
        if (!this.proc.running) throw new Error(`redis-server exited; see ${this.proc.logFile}`);
        return (await this.ping()) === "+PONG";
      },
      `redis-server on port ${this.port}`,
      { timeoutMs: 10_000 },
    );
  }

  /** One `PING` over a fresh connection: "+PONG", "-LOADING …", or "" when nothing answers. */
  ping(): Promise<string> {
    return new Promise((resolve) => {
      const socket = net.connect({ port: this.port, host: "127.0.0.1" });
      let answer = "";
      const done = (value: string): void => {
        socket.destroy();
        resolve(value);
      };
      socket.setTimeout(1_000, () => done(answer.trim()));
      socket.once("error", () => done(""));
      socket.once("connect", () => socket.write("PING\r\n"));
      socket.on("data", (chunk) => {
        answer += chunk.toString("utf8");
        if (answer.includes("\r\n")) done(answer.trim());
      });
    });
  }

  get running(): boolean {
    return this.proc.running;
  }

  /** SIGKILL: without persistence, every stream is gone. */
  kill(): Promise<void> {
    return this.proc.kill();
  }

  stop(): Promise<void> {
    return this.proc.stop();
  }

  /** Start again on the same port (after `kill` or `stop`), with the same persistence settings. */
  async restart(): Promise<void> {
    await this.proc.kill();
    await this.launch();
  }
}

// -- the service ---------------------------------------------------------------------------------------

export interface ServiceOptions {
  /** More `arda serve` flags, e.g. `["--token-grace-s", "1"]`. */
  extraArgs?: string[];
  /** Ports to use (default: free ones). */
  wsPort?: number;
  httpPort?: number;
}

export const JWT_SECRET = `arda-test-secret-${randomBytes(16).toString("hex")}`; // ≥ 32 characters
export const API_KEY = `arda-test-key-${randomBytes(8).toString("hex")}`;

export interface PublishedEvent {
  id: string;
  position: string;
  duplicate: boolean;
}

/** One `arda serve` process (development mode, the given Redis), restartable on the same ports. */
export class ArdaService {
  readonly wsUrl: string;
  readonly httpUrl: string;
  private readonly proc: Proc;

  private constructor(
    readonly redis: RedisServer,
    readonly wsPort: number,
    readonly httpPort: number,
    readonly stateDir: string,
    extraArgs: string[],
  ) {
    this.wsUrl = `ws://127.0.0.1:${wsPort}/ws`;
    this.httpUrl = `http://127.0.0.1:${httpPort}`;
    const args = (): string[] => [
      "serve",
      "--port",
      String(wsPort),
      "--http-port",
      String(httpPort),
      "--redis-url",
      redis.url,
      "--jwt-secret",
      JWT_SECRET,
      "--api-key",
      API_KEY,
      "--dev",
      "true",
      "--state-dir",
      stateDir,
      "--sweep-interval-s",
      "0.2",
      "--log-level",
      "warning",
      ...extraArgs,
    ];
    const env = { ...process.env, PYTHONUNBUFFERED: "1" };
    this.proc = new Proc(`arda serve :${wsPort}/:${httpPort}`, ARDA_BIN, args, path.join(stateDir, "service.log"), env);
  }

  static async start(redis: RedisServer, options: ServiceOptions = {}): Promise<ArdaService> {
    if (!fs.existsSync(ARDA_BIN)) {
      throw new Error(`${ARDA_BIN} does not exist: install the Python side (make test, or set ARDA_BIN)`);
    }
    const wsPort = options.wsPort ?? (await freePort());
    let httpPort = options.httpPort ?? (await freePort());
    while (httpPort === wsPort) httpPort = await freePort();
    const service = new ArdaService(redis, wsPort, httpPort, tempDir("service"), options.extraArgs ?? []);
    defer(`stop ${service.proc.name}`, () => service.stop());
    await service.launch();
    return service;
  }

  get logFile(): string {
    return this.proc.logFile;
  }

  get running(): boolean {
    return this.proc.running;
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  private async launch(): Promise<void> {
    this.proc.spawn();
    await waitUntil(
      async () => {
        if (!this.proc.running) throw new Error(`arda serve exited:\n${logTail(this.proc.logFile, 30)}`);
        const response = await fetch(`${this.httpUrl}/readyz`, { signal: AbortSignal.timeout(2_000) });
        await response.body?.cancel();
        return response.status === 200 && (await canConnect(this.wsPort));
      },
      `arda serve ready on ${this.httpUrl}/readyz`,
      { timeoutMs: 20_000, intervalMs: 100 },
    );
  }

  /** SIGKILL: no close frames, no flush. */
  kill(): Promise<void> {
    return this.proc.kill();
  }

  /** SIGTERM (clients get 1001), SIGKILL after 5 s. */
  stop(): Promise<void> {
    return this.proc.stop(5_000);
  }

  /** Start again on the same ports, and wait until it is ready. */
  async restart(): Promise<void> {
    await this.proc.kill();
    await this.launch();
  }

  /** `POST /v1/events` with the API key: one event or several; returns each event's id and position. */
  async publish(events: object | object[]): Promise<PublishedEvent[]> {
    const response = await fetch(`${this.httpUrl}/v1/events`, {
      method: "POST",
      headers: { Authorization: `Bearer ${API_KEY}`, "Content-Type": "application/json" },
      body: JSON.stringify(events),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await response.text();
    if (response.status !== 202) throw new Error(`POST /v1/events answered ${response.status}: ${text}`);
    return (JSON.parse(text) as { events: PublishedEvent[] }).events;
  }

  /** `GET /dev/session` (development mode): the WebSocket URL and a one-hour token for that user and tenant. */
  async devSession(user: string, tenant: string): Promise<{ wsUrl: string; token: string }> {
    const query = new URLSearchParams({ user, tenant });
    const response = await fetch(`${this.httpUrl}/dev/session?${query}`, { signal: AbortSignal.timeout(5_000) });
    const text = await response.text();
    if (response.status !== 200) throw new Error(`GET /dev/session answered ${response.status}: ${text}`);
    return JSON.parse(text) as { wsUrl: string; token: string };
  }

  /** The value of one Prometheus sample (the sum over its label sets), from `/metrics`. */
  async metric(name: string): Promise<number> {
    const response = await fetch(`${this.httpUrl}/metrics`, { signal: AbortSignal.timeout(5_000) });
    const text = await response.text();
    let sum = 0;
    for (const line of text.split("\n")) {
      if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) sum += Number(line.slice(line.lastIndexOf(" ") + 1));
    }
    return sum;
  }
}

function logTail(file: string, lines: number): string {
  try {
    return fs.readFileSync(file, "utf8").split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

/** Redis and one service on it. More instances on the same Redis: `ArdaService.start(stack.redis)`. */
export interface Stack {
  redis: RedisServer;
  service: ArdaService;
}

export async function startStack(options: RedisOptions & ServiceOptions = {}): Promise<Stack> {
  const redis = await RedisServer.start(options);
  const service = await ArdaService.start(redis, options);
  return { redis, service };
}

// -- events and tokens ---------------------------------------------------------------------------------

let orderSeq = 0;

/** An `order.created` event ("Order <orderNumber> created", severity success). */
export function orderCreated(tenantId: string, orderNumber = `PO-${++orderSeq}`, extra: object = {}): object {
  return { type: "order.created", tenantId, orderId: `o-${orderNumber}`, orderNumber, ...extra };
}

/** An `order.status_changed` event; `toStatus: "cancelled"` makes a warning, `"received"` a success. */
export function orderStatusChanged(tenantId: string, orderNumber: string, fromStatus: string, toStatus: string): object {
  return { type: "order.status_changed", tenantId, orderId: `o-${orderNumber}`, orderNumber, fromStatus, toStatus };
}

export const notificationId = (tenantId: string, eventId: string): string => `${tenantId}:${eventId}`;

const base64url = (data: string | Buffer): string => Buffer.from(data).toString("base64url");

export interface TokenClaims {
  sub: string;
  tenants?: string[];
  tenantId?: string;
  roles?: string[];
  /** Seconds from now (default 3600); ignored when `exp` is given. */
  ttlS?: number;
  exp?: number;
  [claim: string]: unknown;
}

/** An HS256 JWT signed with the services' secret (node:crypto; no JWT library). */
export function mintToken({ ttlS = 3600, ...claims }: TokenClaims, secret = JWT_SECRET): string {
  const now = Math.floor(Date.now() / 1000);
  const payload = { iat: now, exp: now + ttlS, ...claims };
  const signingInput = `${base64url(JSON.stringify({ alg: "HS256", typ: "JWT" }))}.${base64url(JSON.stringify(payload))}`;
  const signature = createHmac("sha256", secret).update(signingInput).digest("base64url");
  return `${signingInput}.${signature}`;
}

/** The claims of a JWT (not verified). */
export function decodeToken(token: string): Record<string, unknown> {
  const part = token.split(".")[1] ?? "";
  return JSON.parse(Buffer.from(part, "base64url").toString("utf8")) as Record<string, unknown>;
}

// -- the TCP proxy -------------------------------------------------------------------------------------

interface Pair {
  readonly client: net.Socket;
  readonly upstream: net.Socket;
  blackholed: boolean;
}

/**
 * A TCP proxy on 127.0.0.1 in front of a port. `blackhole()` stops forwarding on every open connection in
 * both directions while keeping the sockets open (no FIN, no RST, no close frame): only a heartbeat
 * deadline notices. `dropAll()` destroys every open connection (RST). New connections are forwarded, unless
 * `refusing` is set (then they are reset at once).
 */
export class TcpProxy {
  /** Connections accepted (and forwarded) since the start. */
  accepted = 0;
  /** Connections refused (closed at once) while `refusing`. */
  refused = 0;
  /** While true, new connections are closed at once (like a server that is down). */
  refusing = false;
  private readonly pairs = new Set<Pair>();

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
    readonly targetPort: number,
  ) {}

  static async start(targetPort: number): Promise<TcpProxy> {
    const { server, port } = await listenOnLoopback();
    const proxy = new TcpProxy(server, port, targetPort);
    server.on("connection", (socket) => proxy.accept(socket));
    defer(`close proxy :${port}`, () => proxy.close());
    return proxy;
  }

  /** The WebSocket URL through the proxy. */
  wsUrl(pathname = "/ws"): string {
    return `ws://127.0.0.1:${this.port}${pathname}`;
  }

  /** Open connections (both sides still open). */
  get openConnections(): number {
    return this.pairs.size;
  }

  private accept(client: net.Socket): void {
    if (this.refusing) {
      this.refused += 1;
      client.resetAndDestroy();
      return;
    }
    this.accepted += 1;
    const upstream = net.connect({ port: this.targetPort, host: "127.0.0.1" });
    const pair: Pair = { client, upstream, blackholed: false };
    this.pairs.add(pair);
    const end = (): void => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on("data", (chunk) => {
      if (!pair.blackholed) upstream.write(chunk);
    });
    upstream.on("data", (chunk) => {
      if (!pair.blackholed) client.write(chunk);
    });
    client.on("end", () => (pair.blackholed ? undefined : upstream.end()));
    upstream.on("end", () => (pair.blackholed ? undefined : client.end()));
    client.on("close", () => (pair.blackholed ? undefined : end()));
    upstream.on("close", () => (pair.blackholed ? undefined : end()));
    client.on("error", () => undefined);
    upstream.on("error", () => undefined);
  }

  /** Stop forwarding on every open connection (both directions); the sockets stay open. Returns how many. */
  blackhole(): number {
    let n = 0;
    for (const pair of this.pairs) {
      if (!pair.blackholed) n += 1;
      pair.blackholed = true;
    }
    return n;
  }

  /** Destroy every open connection at once (reset, no close frame). Returns how many. */
  dropAll(): number {
    const n = this.pairs.size;
    for (const pair of [...this.pairs]) {
      this.pairs.delete(pair);
      pair.client.resetAndDestroy();
      pair.upstream.resetAndDestroy();
    }
    return n;
  }

  async close(): Promise<void> {
    for (const pair of [...this.pairs]) {
      pair.client.destroy();
      pair.upstream.destroy();
    }
    this.pairs.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
