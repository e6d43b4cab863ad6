/**
 * Browser helpers of the end-to-end tests: Debian's Chromium through playwright-core (no browser download),
 * the built pages (the notification center and the dashboard, one build), and a recorder of the notification
 * center's WebSocket traffic.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll } from "vitest";
import { defer, PACKAGE_DIR, REPO_DIR, sleep, tempDir, waitUntil, type ArdaService } from "../integration/harness.js";

export const CHROMIUM = process.env["CHROMIUM_BIN"] ?? "/usr/bin/chromium";
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
/** Where `npm run build:app` puts the pages (the service serves them at `GET /` and `GET /dashboard`). */
export const WEBAPP_DIR = path.join(REPO_DIR, "src/arda/notifications/webapp");
export const ARTIFACTS_DIR = path.join(PACKAGE_DIR, "e2e/artifacts");

/** Launch Chromium (waiting a while when it is being installed); never downloads a browser. */
export async function launchChromium(): Promise<Browser> {
  await waitUntil(() => fs.existsSync(CHROMIUM), `${CHROMIUM} (install Debian's chromium package: make chromium)`, {
    timeoutMs: 120_000,
    intervalMs: 1_000,
  });
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 60_000 });
}

/** What a test file shares: one Chromium and one snapshot of the built pages, made before its first test and gone
 * after its last (`useBrowser()` at the top of the file registers both hooks). */
export interface BrowserFixture {
  browser: Browser;
  webappDir: string;
}

export function useBrowser(): BrowserFixture {
  const fixture: Partial<BrowserFixture> = {};
  beforeAll(async () => {
    fixture.browser = await launchChromium();
    fixture.webappDir = await builtPage();
  });
  afterAll(async () => {
    await fixture.browser?.close();
    if (fixture.webappDir) fs.rmSync(fixture.webappDir, { recursive: true, force: true });
  });
  return {
    get browser(): Browser {
      if (!fixture.browser) throw new Error("useBrowser(): Chromium is launched in beforeAll, read it inside a test");
      return fixture.browser;
    },
    get webappDir(): string {
      if (!fixture.webappDir) throw new Error("useBrowser(): the pages are copied in beforeAll, read them inside a test");
      return fixture.webappDir;
    },
  };
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd: PACKAGE_DIR, env, maxBuffer: 16 * 1024 * 1024, timeout: 170_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.join(" ")} failed: ${String(error)}\n${stdout}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/** What the page is built from: a build older than any of these files is stale. */
const PAGE_SOURCES = ["app", "examples", "src", "vite.app.config.ts", "package-lock.json"];

/** The newest modification time (ms) of a file, or of any file under a directory. */
function newestMtime(file: string): number {
  const stat = fs.statSync(file, { throwIfNoEntry: false });
  if (!stat) return 0;
  if (!stat.isDirectory()) return stat.mtimeMs;
  return fs.readdirSync(file).reduce((newest, name) => Math.max(newest, newestMtime(path.join(file, name))), stat.mtimeMs);
}

/** The pages of the one build: the notification center (`GET /`) and the dashboard (`GET /dashboard`). */
export const PAGES = ["index.html", "dashboard.html"];

/** Whether a page in WEBAPP_DIR is missing or older than its sources (`make webapp` rebuilds them). */
export function bundledPageIsStale(): boolean {
  const built = PAGES.map((page) => fs.statSync(path.join(WEBAPP_DIR, page), { throwIfNoEntry: false }));
  if (built.some((stat) => !stat)) return true;
  const oldest = Math.min(...built.map((stat) => stat?.mtimeMs ?? 0));
  return PAGE_SOURCES.some((source) => newestMtime(path.join(PACKAGE_DIR, source)) > oldest);
}

/** A production build of the page (what `build:app` makes) into `dir`. */
async function productionBuild(dir: string): Promise<void> {
  await run("npx", ["vite", "build", "--config", "vite.app.config.ts", "--outDir", dir, "--emptyOutDir", "--logLevel", "warn"], {
    ...process.env,
    NODE_ENV: "production",
  });
  for (const page of PAGES) {
    if (!fs.existsSync(path.join(dir, page))) throw new Error(`the production build wrote no ${page} to ${dir}`);
  }
}

/**
 * The built page in a directory of this run (served with `--webapp-dir`): a snapshot of the service's bundled
 * page, so that a rebuild running meanwhile cannot pull the assets out from under a test; or, when that page
 * is missing or older than its sources, a fresh production build (the bundled page is left alone: `make
 * webapp` rebuilds it). The caller removes the directory.
 */
export async function builtPage(): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "arda-tsit-webapp-")); // removed by useBrowser's afterAll
  if (bundledPageIsStale()) {
    console.warn(`[e2e] ${WEBAPP_DIR} is missing or stale (make webapp rebuilds it): testing a fresh build instead`);
    await productionBuild(dir);
    return dir;
  }
  // the pages name their assets: copy, then check that every asset they name was copied (a rebuild in between)
  for (let attempt = 0; ; attempt++) {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.cpSync(WEBAPP_DIR, dir, { recursive: true });
    const pages = PAGES.map((page) => path.join(dir, page)).filter((file) => fs.existsSync(file));
    const html = pages.map((file) => fs.readFileSync(file, "utf8")).join("\n");
    const assets = [...html.matchAll(/(?:src|href)="\/(assets\/[^"]+)"/g)].map((m) => m[1] as string);
    if (pages.length === PAGES.length && assets.length > 0 && assets.every((a) => fs.existsSync(path.join(dir, a)))) return dir;
    if (attempt >= 10) throw new Error(`the built page in ${WEBAPP_DIR} is incomplete (assets: ${assets.join(", ")})`);
    await sleep(1_000);
  }
}

/**
 * The page built with React's development build (`NODE_ENV=development vite build`) into a directory of this
 * run: StrictMode double-invokes effects only there (a production build, like the one `build:app` makes,
 * mounts once), so this is the build that shows whether StrictMode's double mount opens one socket.
 */
export async function developmentBuild(): Promise<string> {
  const dir = tempDir("webapp-dev");
  await run("npx", ["vite", "build", "--config", "vite.app.config.ts", "--outDir", dir, "--emptyOutDir", "--logLevel", "warn"], {
    ...process.env,
    NODE_ENV: "development",
  });
  if (!fs.existsSync(path.join(dir, "index.html"))) throw new Error(`the development build wrote no index.html to ${dir}`);
  return dir;
}

/** One WebSocket the page opened, and every text frame on it (parsed). */
export interface SocketRecord {
  url: string;
  openedAt: number;
  closed: boolean;
  sent: { type: string; payload?: Record<string, unknown>; messageId?: string }[];
  received: { type: string; payload?: Record<string, unknown>; messageId?: string }[];
}

export interface NotificationCenterPage {
  page: Page;
  /** The page's sockets to the service's WebSocket port, in the order they were opened. */
  sockets: SocketRecord[];
  /** Requests the page made to `/dev/session`. */
  sessionRequests: () => number;
  console: string[];
  pageErrors: string[];
}

function parse(payload: string | Buffer): SocketRecord["sent"][number] | null {
  if (typeof payload !== "string") return null;
  try {
    return JSON.parse(payload) as SocketRecord["sent"][number];
  } catch {
    return null;
  }
}

/** A new context (closed by the harness cleanup). */
export async function newContext(browser: Browser): Promise<BrowserContext> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, deviceScaleFactor: 1 });
  defer("close a browser context", () => context.close());
  return context;
}

export interface OpenOptions {
  user?: string;
  tenant?: string;
  /** The port the page's sockets go to, when not the service's own (a proxy in front of it). */
  wsPort?: number;
  /** Called with the new page before it is loaded (routes, a CDP session…). */
  beforeLoad?: (page: Page) => Promise<void>;
}

/**
 * Open the notification center for `user` and `tenant` in a new page of `context`, recording its sockets,
 * and wait until it is connected and its subscription confirmed (so nothing published after it is missed).
 */
export async function openCenter(
  context: BrowserContext,
  service: ArdaService,
  { user = "u-1", tenant = "tenant-001", wsPort = service.wsPort, beforeLoad }: OpenOptions = {},
): Promise<NotificationCenterPage> {
  const page = await context.newPage();
  const sockets: SocketRecord[] = [];
  let sessions = 0;
  const center: NotificationCenterPage = { page, sockets, sessionRequests: () => sessions, console: [], pageErrors: [] };
  page.on("websocket", (ws) => {
    if (new URL(ws.url()).port !== String(wsPort)) return;
    const record: SocketRecord = { url: ws.url(), openedAt: Date.now(), closed: false, sent: [], received: [] };
    sockets.push(record);
    ws.on("framesent", ({ payload }) => {
      const message = parse(payload);
      if (message) record.sent.push(message);
    });
    ws.on("framereceived", ({ payload }) => {
      const message = parse(payload);
      if (message) record.received.push(message);
    });
    ws.on("close", () => (record.closed = true));
  });
  page.on("request", (request) => {
    if (new URL(request.url()).pathname === "/dev/session") sessions += 1;
  });
  page.on("console", (message) => center.console.push(`${message.type()}: ${message.text()}`));
  page.on("pageerror", (error) => center.pageErrors.push(String(error)));
  await beforeLoad?.(page);
  await page.goto(`${service.httpUrl}/?${new URLSearchParams({ user, tenant })}`);
  await waitForText(page, "status", "connected");
  await waitUntil(
    () => sockets.some((s) => !s.closed && s.received.some((m) => m.type === "subscribed" && m.payload?.["tenantId"] === tenant)),
    `the page's subscription to ${tenant}`,
  );
  return center;
}

/** The text of `[data-testid=testId]` (the first one). */
export async function textOf(page: Page, testId: string): Promise<string | null> {
  const locator = page.getByTestId(testId);
  if ((await locator.count()) === 0) return null;
  return (await locator.first().textContent())?.trim() ?? null;
}

export async function waitForText(page: Page, testId: string, text: string, timeoutMs = 15_000): Promise<void> {
  let last: string | null = null;
  await waitUntil(
    async () => {
      last = await textOf(page, testId);
      return last === text;
    },
    `[data-testid="${testId}"] to read "${text}"`,
    { timeoutMs, intervalMs: 50 },
  ).catch((error: unknown) => {
    throw new Error(`${String(error)} (it reads ${JSON.stringify(last)})`);
  });
}

export interface Item {
  id: string;
  read: string | null;
  severity: string | null;
  title: string;
  text: string;
  hasMarkRead: boolean;
}

/** The notification items as shown, top (newest) first. */
export async function itemsOf(page: Page): Promise<Item[]> {
  return page.getByTestId("notification").evaluateAll((elements) =>
    elements.map((e) => ({
      id: e.getAttribute("data-id") ?? "",
      read: e.getAttribute("data-read"),
      severity: e.getAttribute("data-severity"),
      title: (e.querySelector("h3")?.textContent ?? "").trim(),
      text: (e.textContent ?? "").trim(),
      hasMarkRead: e.querySelector('[data-testid="mark-read"]') !== null,
    })),
  );
}

/** Wait until the page shows at least `n` notification items; returns them. */
export async function waitForItems(page: Page, n: number, timeoutMs = 15_000): Promise<Item[]> {
  let last: Item[] = [];
  await waitUntil(
    async () => {
      last = await itemsOf(page);
      return last.length >= n;
    },
    `${n} notification items`,
    { timeoutMs, intervalMs: 50 },
  ).catch(async (error: unknown) => {
    throw new Error(`${String(error)}; shown: ${last.length}, status ${await textOf(page, "status")}`);
  });
  return last;
}
