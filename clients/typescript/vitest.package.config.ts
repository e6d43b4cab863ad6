import { defineConfig } from "vitest/config";

/**
 * `npm run test:package`: the packed npm package in a fresh Vite + React + TypeScript app, type-checked, built
 * and run in Debian's Chromium against the real service (package-test/). Not part of `npm test`. Its tests are
 * steps in order, each needing the one before: the run stops at the first failure.
 */
export default defineConfig({
  test: {
    include: ["package-test/**/*.test.ts"],
    environment: "node",
    fileParallelism: false,
    bail: 1,
    // the longest step: the fresh app's npm install (about 10 s with a warm npm cache; bounded at 120 s)
    testTimeout: 150_000,
    hookTimeout: 30_000,
    teardownTimeout: 30_000,
    restoreMocks: true,
  },
});
