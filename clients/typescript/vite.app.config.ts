/**
 * The service's two pages, one build (app/):
 *
 *   index.html      the notification center (app/main.tsx + examples/NotificationCenter.tsx), served at GET /
 *   dashboard.html  the live dashboard (app/dashboard/), served at GET /dashboard
 *
 *   npm run build:app   builds both into ../../src/arda/notifications/webapp/ (their assets shared in assets/)
 *   npm run dev:app     Vite's dev server (/ and /dashboard.html); /dev and /v1 are proxied to the service's
 *                       HTTP port (3002)
 *
 * JSX/TSX goes through Vite's esbuild (automatic runtime): no plugin.
 */
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

const here = (path: string): string => fileURLToPath(new URL(path, import.meta.url));
const service = process.env["ARDA_HTTP_URL"] ?? "http://127.0.0.1:3002";

export default defineConfig({
  root: here("./app"),
  base: "/",
  publicDir: false,
  clearScreen: false,
  esbuild: { jsx: "automatic" },
  build: {
    outDir: here("../../src/arda/notifications/webapp"),
    emptyOutDir: true,
    target: "es2022",
    sourcemap: false,
    rollupOptions: {
      input: {
        index: here("./app/index.html"),
        dashboard: here("./app/dashboard.html"),
      },
      // what both pages load (React, the shared styles): not named after whichever module Rollup meets first
      output: { chunkFileNames: "assets/shared-[hash].js" },
    },
  },
  server: {
    port: 5173,
    strictPort: false,
    proxy: {
      "/dev": { target: service },
      "/v1": { target: service },
    },
  },
  preview: { port: 4173 },
});
