/**
 * The npm package as a user gets it: `npm pack` (its `prepack` build) into a temp dir, then a fresh Vite +
 * React + TypeScript app, made here from the registry's packages, installs the tarball, type-checks with
 * `strict` (no skipLibCheck: the package's .d.ts are checked too), builds with `vite build`, and, served by
 * `vite preview`, shows in Debian's Chromium a notification published to the real service (a private Redis).
 *
 * The steps are tests in order; the config bails at the first failure (each later step needs the earlier).
 * The app's sources are ./fresh-app/; its package.json is written here, with the majors of this package's
 * own lock. Timings are printed (`[package] …`): the app's `npm install` takes about 10 s with a warm npm
 * cache, the whole file about 30 s.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  defer,
  freePort,
  logTails,
  notificationId,
  orderCreated,
  PACKAGE_DIR,
  startStack,
  useCleanup,
  waitUntil,
} from "../integration/harness.js";
import { launchChromium, newContext, textOf, waitForText } from "../e2e/browser.js";

useCleanup();

const FRESH_APP_SOURCES = path.join(path.dirname(fileURLToPath(import.meta.url)), "fresh-app");
/** @vitejs/plugin-react is not in this package's lock (its own app needs no plugin): 5.x is the major for Vite 7. */
const PLUGIN_REACT_RANGE = "^5.2.0";
/** The fresh app's packages whose versions follow this package's lock (same major, at least the locked one). */
const LOCKED = ["react", "react-dom", "vite", "typescript", "@types/react", "@types/react-dom"] as const;

const USER = "u-pkg";
const TENANT = "tenant-pkg";

let work: string; // the temp dir of this file: the tarball, the app, the logs
let tarball: string;
let packedFiles: string[] = [];
let appDir: string;
let browser: Browser | undefined;

beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), "arda-tsit-package-"));
});

afterAll(async () => {
  await browser?.close();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

// -- running commands ----------------------------------------------------------------------------------

/** The environment for npm and the app's tools: without the `npm run` that started this test's settings. */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^npm_/i.test(key) && key !== "INIT_CWD" && key !== "NODE_ENV") env[key] = value;
  }
  return { ...env, ...extra };
}

interface RunResult {
  stdout: string;
  stderr: string;
}

/**
 * Run `command` to its end within `timeoutMs`; a failure (exit code, signal, timeout) throws one error naming
 * the step, with the tail of its output.
 */
async function step(what: string, command: string, args: string[], cwd: string, timeoutMs: number, env = cleanEnv()): Promise<RunResult> {
  const started = Date.now();
  const child = spawn(command, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill("SIGKILL");
  }, timeoutMs);
  const outcome = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
    child.once("error", (error) => resolve({ code: null, signal: null, error }));
    child.once("close", (code, signal) => resolve({ code, signal }));
  });
  clearTimeout(timer);
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.log(`[package] ${what}: ${seconds} s`);
  if (outcome.code !== 0 || timedOut) {
    const why = timedOut
      ? `timed out after ${timeoutMs / 1000} s`
      : (outcome.error?.message ?? (outcome.signal ? `killed by ${outcome.signal}` : `exit code ${outcome.code}`));
    const tail = `${stdout}\n${stderr}`.trim().split("\n").slice(-40).join("\n");
    throw new Error(`${what} failed (${why}): ${command} ${args.join(" ")} in ${cwd}\n${tail}`);
  }
  return { stdout, stderr };
}

/** The version of `name` in this package's package-lock.json. */
function lockedVersion(name: string): string {
  const lock = JSON.parse(fs.readFileSync(path.join(PACKAGE_DIR, "package-lock.json"), "utf8")) as {
    packages: Record<string, { version?: string }>;
  };
  const version = lock.packages[`node_modules/${name}`]?.version;
  if (!version) throw new Error(`package-lock.json has no ${name}`);
  return version;
}

/** Start `vite preview` of the built app; stopped (SIGTERM, then SIGKILL) by the harness cleanup. */
async function startPreview(port: number, serviceHttpUrl: string): Promise<string> {
  const log = path.join(work, "preview.log");
  const fd = fs.openSync(log, "a");
  const vite = path.join(appDir, "node_modules/.bin/vite");
  const child = spawn(vite, ["preview", "--host", "127.0.0.1", "--port", String(port), "--strictPort"], {
    cwd: appDir,
    env: cleanEnv({ ARDA_HTTP_URL: serviceHttpUrl }),
    stdio: ["ignore", fd, fd],
  });
  fs.closeSync(fd);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  defer("stop vite preview", async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 3_000);
    await exited;
    clearTimeout(timer);
  });
  const url = `http://127.0.0.1:${port}`;
  await waitUntil(
    async () => {
      if (child.exitCode !== null) throw new Error(`vite preview exited:\n${fs.readFileSync(log, "utf8")}`);
      const response = await fetch(`${url}/`, { signal: AbortSignal.timeout(2_000) });
      return response.status === 200 && (await response.text()).includes('id="root"');
    },
    `vite preview on ${url}`,
    { timeoutMs: 15_000, intervalMs: 100 },
  );
  return url;
}

// -- the steps -----------------------------------------------------------------------------------------

describe("the npm package, from a fresh Vite + React + TypeScript app", () => {
  it("npm pack (its prepack build) makes a complete, publishable package", async () => {
    // what a fresh checkout has: no dist/ (so a missing prepack build cannot hide behind an earlier build)
    fs.rmSync(path.join(PACKAGE_DIR, "dist"), { recursive: true, force: true });
    const out = path.join(work, "pack");
    fs.mkdirSync(out);
    const { stdout } = await step("npm pack", "npm", ["pack", "--json", "--pack-destination", out], PACKAGE_DIR, 60_000);
    const [info] = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[];
    if (!info) throw new Error(`npm pack printed no package: ${stdout}`);
    tarball = path.join(out, info.filename);
    packedFiles = info.files.map((f) => f.path);
    expect(fs.existsSync(tarball), tarball).toBe(true);

    const manifest = JSON.parse(fs.readFileSync(path.join(PACKAGE_DIR, "package.json"), "utf8")) as {
      private?: boolean;
      license?: string;
      sideEffects?: boolean;
      repository?: { url?: string; directory?: string };
      exports: Record<string, string | Record<string, string>>;
      main: string;
      types: string;
    };
    expect(manifest.private, "package.json must not be private (npm publish refuses it)").toBeUndefined();
    expect(manifest.license).toBe("Apache-2.0");
    expect(manifest.sideEffects).toBe(false);
    expect(manifest.repository).toEqual(expect.objectContaining({ directory: "clients/typescript" }));

    const missing = (files: string[]): string[] => files.filter((file) => !packedFiles.includes(file));
    expect(missing(["package.json", "README.md", "LICENSE"]), "files missing from the package").toEqual([]);
    // every file the manifest points at (main, types, each export path's every condition) is in the package
    const targets = [manifest.main, manifest.types, ...Object.values(manifest.exports).flatMap((t) => (typeof t === "string" ? [t] : Object.values(t)))];
    const wanted = [...new Set(targets.map((t) => path.posix.normalize(t)))];
    expect(wanted).toEqual(expect.arrayContaining(["dist/index.js", "dist/index.d.ts", "dist/core.js", "dist/core.d.ts"]));
    expect(missing(wanted), "files the manifest names that the package lacks (no prepack build?)").toEqual([]);
    // the maps point into src/, which is shipped for them
    for (const map of packedFiles.filter((file) => file.endsWith(".map"))) {
      const { sources } = JSON.parse(fs.readFileSync(path.join(PACKAGE_DIR, map), "utf8")) as { sources: string[] };
      const resolved = sources.map((s) => path.posix.normalize(path.posix.join(path.posix.dirname(map), s)));
      expect(missing(resolved), `sources of ${map} missing from the package`).toEqual([]);
    }
    expect(packedFiles.filter((f) => /^(test|e2e|integration|package-test|app|node_modules)\//.test(f))).toEqual([]);
  });

  it("a fresh app installs the tarball and the registry's vite, react, typescript", async () => {
    appDir = path.join(work, "app");
    fs.cpSync(FRESH_APP_SOURCES, appDir, { recursive: true });
    const caret = (name: string): string => `^${lockedVersion(name)}`;
    const pkg = {
      name: "arda-fresh-app",
      private: true,
      version: "0.0.0",
      type: "module",
      dependencies: {
        "@arda/notifications": `file:${tarball}`,
        react: caret("react"),
        "react-dom": caret("react-dom"),
      },
      devDependencies: {
        "@types/react": caret("@types/react"),
        "@types/react-dom": caret("@types/react-dom"),
        "@vitejs/plugin-react": PLUGIN_REACT_RANGE,
        typescript: caret("typescript"),
        vite: caret("vite"),
      },
    };
    fs.writeFileSync(path.join(appDir, "package.json"), `${JSON.stringify(pkg, null, 2)}\n`);
    await step("npm install (the fresh app)", "npm", ["install", "--no-audit", "--no-fund", "--loglevel=error"], appDir, 120_000);

    const installed = path.join(appDir, "node_modules/@arda/notifications");
    expect(fs.lstatSync(installed).isSymbolicLink(), "installed from the tarball, not linked to the sources").toBe(false);
    for (const file of ["dist/index.js", "dist/index.d.ts", "dist/core.js", "dist/core.d.ts", "LICENSE"]) {
      expect(fs.existsSync(path.join(installed, file)), `node_modules/@arda/notifications/${file}`).toBe(true);
    }
    for (const name of LOCKED) {
      const { version } = JSON.parse(fs.readFileSync(path.join(appDir, "node_modules", name, "package.json"), "utf8")) as { version: string };
      expect(version.split(".")[0], `${name} ${version}: the major of the lock's ${lockedVersion(name)}`).toBe(lockedVersion(name).split(".")[0]);
    }
  });

  it("the app type-checks with strict (tsc --noEmit, the package's .d.ts included)", async () => {
    await step("tsc --noEmit (the fresh app)", path.join(appDir, "node_modules/.bin/tsc"), ["-p", "tsconfig.json", "--noEmit"], appDir, 60_000);
  });

  it("the app builds (vite build)", async () => {
    await step("vite build (the fresh app)", path.join(appDir, "node_modules/.bin/vite"), ["build", "--logLevel", "warn"], appDir, 60_000, cleanEnv({ NODE_ENV: "production" }));
    const assets = fs.readdirSync(path.join(appDir, "dist/assets"));
    expect(fs.existsSync(path.join(appDir, "dist/index.html"))).toBe(true);
    expect(assets.some((a) => a.endsWith(".js"))).toBe(true);
  });

  it("served by vite preview, the app shows in Chromium a notification published to the real service", async () => {
    browser ??= await launchChromium();
    const previewPort = await freePort();
    const appOrigin = `http://127.0.0.1:${previewPort}`;
    // the service admits WebSockets from the app's origin only
    const { service } = await startStack({ extraArgs: ["--allowed-origins", appOrigin] });
    const appUrl = await startPreview(previewPort, service.httpUrl);

    const context = await newContext(browser);
    const page: Page = await context.newPage();
    const pageErrors: string[] = [];
    const consoleErrors: string[] = [];
    page.on("pageerror", (error) => pageErrors.push(String(error)));
    page.on("console", (message) => {
      if (message.type() === "error") consoleErrors.push(message.text());
    });
    const sockets: string[] = [];
    page.on("websocket", (ws) => sockets.push(ws.url()));
    await page.goto(`${appUrl}/?${new URLSearchParams({ user: USER, tenant: TENANT })}`);
    try {
      await waitForText(page, "status", "connected", 15_000);
      await waitForText(page, "subscription", "subscribed", 15_000);
    } catch (error) {
      const boot = await textOf(page, "boot-error");
      const why = error instanceof Error ? error.message : String(error);
      throw new Error(`${why}; boot error: ${boot}; page errors: ${pageErrors.join(" | ")}; console: ${consoleErrors.join(" | ")}`);
    }
    expect(await textOf(page, "client-entry")).toBe("ok");
    expect(sockets).toEqual([service.wsUrl]); // one socket (StrictMode's double mount included), to the service

    const [event] = await service.publish(orderCreated(TENANT, "PO-PKG-1"));
    if (!event) throw new Error("POST /v1/events answered no event");
    const item = page.locator(`[data-testid="notification"][data-id="${notificationId(TENANT, event.id)}"]`);
    await waitUntil(async () => (await item.count()) === 1, "the published notification in the page", { timeoutMs: 15_000 }).catch(
      (error: unknown) => {
        throw new Error(`${error instanceof Error ? error.message : String(error)}\n${logTails(30)}`);
      },
    );
    expect((await item.textContent())?.trim()).toMatch(/^order PO-PKG-1 created/); // typed data, narrowed on eventType
    await waitForText(page, "unread-count", "1");
    await item.getByRole("button", { name: "mark read" }).click();
    await waitForText(page, "unread-count", "0");
    expect(pageErrors).toEqual([]);
    expect(consoleErrors).toEqual([]);
  });
});
