import { defineConfig } from "vitest/config";

/**
 * `npm run test:integration`: NotificationClient against the real Python service and a private Redis
 * (integration/). Not part of `npm test` (vitest.config.ts includes test/ only).
 */
export default defineConfig({
  test: {
    include: ["integration/**/*.test.ts"],
    environment: "node",
    // Each test starts its own redis-server and `arda serve`: one file at a time on a 2-core machine.
    fileParallelism: false,
    testTimeout: 30_000,
    hookTimeout: 30_000,
    teardownTimeout: 30_000,
    restoreMocks: true,
  },
});
