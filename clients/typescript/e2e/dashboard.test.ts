/**
 * The live dashboard (built by `npm run build:app` beside the notification center, served at `GET /dashboard`)
 * in Debian's Chromium against the real service, its `GET /v1/stats`, real WebSocket clients and a private Redis.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import { startClient, type TestClient } from "../integration/clients.js";
import {
  API_KEY,
  ArdaService,
  REPO_DIR,
  orderCreated,
  orderStatusChanged,
  sleep,
  startStack,
  useCleanup,
  waitUntil,
} from "../integration/harness.js";
import { ARTIFACTS_DIR, newContext, textOf, useBrowser } from "./browser.js";

useCleanup();

const T1 = "tenant-001";
const T2 = "tenant-002";
const chrome = useBrowser(); // Chromium and a snapshot of the built pages, for the whole file

const serviceArgs = (): string[] => ["--webapp-dir", chrome.webappDir];

interface DashboardPage {
  page: Page;
  /** Requests the page made to `/v1/stats`, with the status each got (0: failed). */
  statsRequests: { at: number; status: number; authorization: string | null }[];
  pageErrors: string[];
}

/** Open `/dashboard` (with `?key=` when given) in a new page of `context`. */
async function openDashboard(context: BrowserContext, service: ArdaService, key: string | null): Promise<DashboardPage> {
  const page = await context.newPage();
  const opened: DashboardPage = { page, statsRequests: [], pageErrors: [] };
  page.on("requestfinished", async (request) => {
    if (new URL(request.url()).pathname !== "/v1/stats") return;
    const response = await request.response();
    opened.statsRequests.push({ at: Date.now(), status: response?.status() ?? 0, authorization: await request.headerValue("authorization") });
  });
  page.on("requestfailed", (request) => {
    if (new URL(request.url()).pathname === "/v1/stats") opened.statsRequests.push({ at: Date.now(), status: 0, authorization: null });
  });
  page.on("pageerror", (error) => opened.pageErrors.push(String(error)));
  const query = key === null ? "" : `?${new URLSearchParams({ key })}`;
  await page.goto(`${service.httpUrl}/dashboard${query}`);
  return opened;
}

/** A figure at the top as a number (`data-value`; NaN before the first answer). */
async function figure(page: Page, id: string): Promise<number> {
  const value = await page.getByTestId(`stat-${id}`).getAttribute("data-value");
  return value === null || value === "" ? Number.NaN : Number(value);
}

async function waitForFigure(page: Page, id: string, check: (n: number) => boolean, what: string, timeoutMs = 15_000): Promise<number> {
  let last = Number.NaN;
  await waitUntil(
    async () => {
      last = await figure(page, id);
      return check(last);
    },
    `${id} ${what}`,
    { timeoutMs, intervalMs: 100 },
  ).catch((error: unknown) => {
    throw new Error(`${String(error)} (it reads ${last})`);
  });
  return last;
}

const phaseOf = async (page: Page): Promise<string | null> => page.getByTestId("feed-status").getAttribute("data-phase");

async function waitForPhase(page: Page, phase: string, timeoutMs = 15_000): Promise<void> {
  await waitUntil(async () => (await phaseOf(page)) === phase, `the feed ${phase}`, { timeoutMs, intervalMs: 100 });
}

/** `n` clients of the service (each its own user), authenticated and subscribed to `tenants`. */
async function clients(service: ArdaService, n: number, tenants: string[], prefix: string): Promise<TestClient[]> {
  const started = Array.from({ length: n }, (_, i) => startClient({ url: service.wsUrl, claims: { sub: `${prefix}-${i}`, tenants } }));
  for (const { client } of started) for (const tenant of tenants) await client.subscribe(tenant);
  return started;
}

/** Publish a few events of several types every 200 ms until stopped. */
function traffic(service: ArdaService): { stop: () => Promise<number> } {
  let running = true;
  let published = 0;
  const loop = (async () => {
    for (let i = 0; running; i++) {
      const batch: object[] = [orderCreated(T1), orderCreated(T2)];
      if (i % 2 === 0) batch.push(orderStatusChanged(T1, `PO-${i}`, "submitted", "confirmed"));
      if (i % 3 === 0) {
        batch.push({ type: "card.transition", tenantId: T1, cardId: `card-${i}`, loopId: "loop-1", fromStage: "todo", toStage: "doing", method: "drag-drop", userId: "user-1" });
      }
      published += (await service.publish(batch)).length;
      await sleep(200);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return published;
    },
  };
}

describe("the live dashboard in Chromium", () => {
  it("shows the connections of real clients, delivery rates that rise with traffic, each instance and the total, and the banner while the feed is down", async () => {
    const { redis, service } = await startStack({ extraArgs: serviceArgs() });
    const context = await newContext(chrome.browser);
    const { page, statsRequests, pageErrors } = await openDashboard(context, service, API_KEY);
    await waitForPhase(page, "up");
    expect(new URL(page.url()).search).toBe(""); // the key was taken out of the address
    expect(await page.evaluate(() => [localStorage.length, sessionStorage.length, document.cookie])).toEqual([0, 0, ""]);
    await waitForFigure(page, "connections", (n) => n === 0, "= 0");
    expect(await textOf(page, "instance-count")).toBe("1 instance");

    const n = 3;
    const mine = await clients(service, n, [T1], "u");
    await waitForFigure(page, "connections", (v) => v === n, `= ${n}`);
    await waitForFigure(page, "authenticated", (v) => v === n, `= ${n}`);
    await waitForFigure(page, "subscriptions", (v) => v === n, `= ${n}`);
    expect(await textOf(page, "value-connections")).toBe(String(n));

    // events for a few seconds: the rates rise above 0 (averaged by the service over 5 s)
    expect(await figure(page, "deliveries")).toBe(0);
    const load = traffic(service);
    const deliveries = await waitForFigure(page, "deliveries", (v) => v > 0, "> 0", 15_000);
    expect(deliveries).toBeGreaterThan(0);
    await waitForFigure(page, "events", (v) => v > 0, "> 0");
    await waitForFigure(page, "latency-p50", (v) => Number.isFinite(v) && v >= 0, "known");
    await waitUntil(async () => (await page.getByTestId("tenant-row").count()) > 0, "a top tenant");
    expect(await page.getByTestId("tenant-row").first().getAttribute("data-tenant")).toBe(T1); // T2 has no client
    expect(await page.locator('[data-testid="chart-deliveries"] path[data-line="total"]').getAttribute("d")).toMatch(/^M[\d.]+ [\d.]+L/);
    await waitUntil(async () => (await page.locator('[data-testid="chart-events"] [data-line="order.created"]').count()) > 0, "the order.created line");

    // a client leaves (1000): the disconnects by code say so
    await mine[0]?.client.close();
    await waitForFigure(page, "connections", (v) => v === n - 1, `= ${n - 1}`);
    await waitUntil(async () => (await page.locator('[data-testid="disconnect-row"][data-code="1000"]').count()) === 1, "a 1000 row");
    expect(await page.locator('[data-testid="disconnect-row"][data-code="1000"]').textContent()).toContain("normal");

    // a second instance on the same Redis, with clients of its own: each instance and the total
    const other = await ArdaService.start(redis, { extraArgs: serviceArgs() });
    await clients(other, 2, [T1, T2], "w");
    await waitUntil(async () => (await page.getByTestId("instance-row").count()) === 2, "two instances", { timeoutMs: 15_000 });
    await waitForFigure(page, "connections", (v) => v === n - 1 + 2, `= ${n + 1} (both instances)`);
    expect(await textOf(page, "instance-count")).toBe("2 instances");
    const rows = await page.getByTestId("instance-row").evaluateAll((elements) =>
      elements.map((e) => ({
        self: e.getAttribute("data-self"),
        connections: e.querySelector('[data-col="connections"]')?.textContent,
        subscriptions: e.querySelector('[data-col="subscriptions"]')?.textContent,
      })),
    );
    expect(rows.map((r) => [r.self, r.connections]).sort()).toEqual([
      ["false", "2"],
      ["true", String(n - 1)],
    ]);
    expect(rows.find((r) => r.self === "false")?.subscriptions).toBe("4");
    const total = page.getByTestId("instance-total");
    expect(await total.locator('[data-col="connections"]').textContent()).toBe(String(n + 1));
    expect(await total.locator('[data-col="subscriptions"]').textContent()).toBe(String(n - 1 + 4));
    await waitUntil(async () => (await page.getByTestId("tenant-row").count()) === 2, "both tenants among the top");

    // the artifact: the dashboard with two instances and traffic
    await sleep(4_000);
    await page.mouse.move(0, 0);
    fs.mkdirSync(ARTIFACTS_DIR, { recursive: true });
    const shot = path.join(ARTIFACTS_DIR, "dashboard.png");
    await page.screenshot({ path: shot, fullPage: true });
    expect(fs.statSync(shot).size).toBeGreaterThan(10_000);
    if (process.env["ARDA_DOCS_SCREENSHOTS"] === "1") fs.copyFileSync(shot, path.join(REPO_DIR, "docs/dashboard.png"));
    expect(await load.stop()).toBeGreaterThan(0);

    // the feed goes down (the instance the page asks is killed): the banner, and it keeps retrying
    expect(await page.getByTestId("feed-down").count()).toBe(0);
    await service.kill();
    await waitUntil(async () => (await page.getByTestId("feed-down").count()) === 1, "the feed-down banner");
    expect(await page.getByTestId("feed-down").getAttribute("data-problem")).toBe("unreachable");
    expect(await textOf(page, "feed-down-title")).toBe("The stats feed is down: the service cannot be reached");
    expect(await page.getByTestId("feed-down").getAttribute("role")).toBe("alert");
    expect(await phaseOf(page)).toBe("down");
    const failedBefore = statsRequests.filter((r) => r.status === 0).length;
    await sleep(2_500);
    expect(statsRequests.filter((r) => r.status === 0).length).toBeGreaterThanOrEqual(failedBefore + 2);

    // back on the same ports: the banner goes, the figures come back
    await service.restart();
    await waitForPhase(page, "up", 15_000);
    expect(await page.getByTestId("feed-down").count()).toBe(0);
    // the killed instance's clients reconnected to it: both instances' again (its old announcement expired)
    await waitForFigure(page, "connections", (v) => v === n - 1 + 2, `= ${n + 1}`, 20_000);
    await waitUntil(async () => (await page.getByTestId("instance-row").count()) === 2, "two instances", { timeoutMs: 15_000 });
    expect(statsRequests.every((r) => r.status === 0 || r.authorization === `Bearer ${API_KEY}`)).toBe(true);
    expect(pageErrors).toEqual([]);
  }, 120_000);

  it("a wrong key: the 401 banner, retried every second; the right key entered in the form brings the figures", async () => {
    const { service } = await startStack({ extraArgs: serviceArgs() });
    await clients(service, 2, [T1], "u");
    const context = await newContext(chrome.browser);
    const { page, statsRequests, pageErrors } = await openDashboard(context, service, "not-the-key");
    await waitUntil(async () => (await page.getByTestId("feed-down").count()) === 1, "the feed-down banner");
    expect(await page.getByTestId("feed-down").getAttribute("data-problem")).toBe("unauthorized");
    expect(await textOf(page, "feed-down-title")).toBe("The stats feed is down: the API key was refused (401)");
    expect(await phaseOf(page)).toBe("down");
    expect(await textOf(page, "value-connections")).toBe("—");
    const before = statsRequests.length;
    await sleep(2_500);
    expect(statsRequests.length).toBeGreaterThanOrEqual(before + 2);
    expect(statsRequests.every((r) => r.status === 401)).toBe(true);

    await page.getByTestId("feed-down").getByRole("button", { name: "Enter the key" }).click();
    await page.getByTestId("key-input").fill(API_KEY);
    await page.getByTestId("key-submit").click();
    await waitForPhase(page, "up");
    await waitForFigure(page, "connections", (v) => v === 2, "= 2");
    expect(await page.getByTestId("feed-down").count()).toBe(0);
    expect(await page.evaluate(() => [localStorage.length, sessionStorage.length, document.cookie])).toEqual([0, 0, ""]);
    expect(pageErrors).toEqual([]);
  }, 60_000);

  it("without ?key= it asks for the key first, and asks nothing of the feed meanwhile", async () => {
    const { service } = await startStack({ extraArgs: serviceArgs() });
    const context = await newContext(chrome.browser);
    const { page, statsRequests } = await openDashboard(context, service, null);
    await page.getByTestId("key-form").waitFor();
    await sleep(1_500);
    expect(statsRequests).toEqual([]);
    await page.getByTestId("key-input").fill(API_KEY);
    await page.keyboard.press("Enter");
    await waitForPhase(page, "up");
    await waitForFigure(page, "connections", (v) => v === 0, "= 0");
    // the page is served with no Referer policy for the key, and revalidated on every load
    const response = await fetch(`${service.httpUrl}/dashboard`);
    expect(response.headers.get("referrer-policy")).toBe("no-referrer");
    expect(response.headers.get("cache-control")).toBe("no-cache");
    expect(await response.text()).toContain("<title>Arda — Live dashboard</title>");
  });
});
