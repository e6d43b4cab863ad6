// The fresh app's Vite config: React through @vitejs/plugin-react; `vite preview` forwards /dev (the
// service's development routes: /dev/session gives the token) to the service's HTTP port, like an app's own
// backend would hand out tokens on its own origin.
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

export default defineConfig({
  plugins: [react()],
  build: { sourcemap: true },
  preview: { proxy: { "/dev": { target: process.env["ARDA_HTTP_URL"] ?? "http://127.0.0.1:3002" } } },
});
