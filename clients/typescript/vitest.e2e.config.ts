import { defineConfig } from "vitest/config";

/**
 * `npm run test:e2e`: the notification center page in Debian's Chromium (playwright-core) against the real
 * service and a private Redis (e2e/). Not part of `npm test` (vitest.config.ts includes test/ only).
 */
export default defineConfig({
  test: {
    include: ["e2e/**/*.test.ts"],
    environment: "node",
    fileParallelism: false,
    testTimeout: 30_000,
    // beforeAll may build the page (npm run build:app) when it is missing
    hookTimeout: 180_000,
    teardownTimeout: 30_000,
    restoreMocks: true,
  },
});
