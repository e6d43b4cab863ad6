/**
 * The notification center page (app/ + examples/NotificationCenter.tsx).
 *
 *   npm run build:app   builds it into ../../src/arda/notifications/webapp/ (served by the service at GET /)
 *   npm run dev:app     Vite's dev server; /dev and /v1 are proxied to the service's HTTP port (3002)
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
