/**
 * `@arda/notifications/client`: everything but the React hook, for apps without React (no React import).
 */
export * from "./client.js";
export * from "./backoff.js";
export * from "./errors.js";
export type * from "./environment.js";
export * from "./registry.js";
export * from "./messages.js";
export * from "./generated/events.js";
export * from "./generated/protocol.js";
