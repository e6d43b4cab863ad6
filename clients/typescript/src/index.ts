/**
 * @arda/notifications — the browser client of Arda Realtime.
 *
 * - `NotificationClient`: one connection, framework-free (no React).
 * - `useNotifications`: the React hook over a shared client per (url, identity).
 * - Wire types: the messages of docs/protocol.md, the event types and the code tables, generated from the service.
 */
export {
  NotificationClient,
  type ClientNotification,
  type ConnectionStatus,
  type HistoryOptions,
  type HistoryPage,
  type HistoryState,
  type NotificationClientEvents,
  type NotificationClientOptions,
  type NotificationFilter,
  type NotificationSnapshot,
  type RecoveryFailedEvent,
  type SubscribeOptions,
  type SubscriptionInfo,
  type SubscriptionState,
  type TokenSource,
} from "./client.js";
export { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from "./backoff.js";
export {
  NotificationError,
  type ClientErrorCode,
  type NotificationErrorCode,
  type NotificationErrorDetails,
} from "./errors.js";
export type {
  Clock,
  DocumentLike,
  EventTargetLike,
  WebSocketConstructor,
  WebSocketLike,
  WindowLike,
} from "./environment.js";
export {
  ClientRegistry,
  clientKey,
  DEFAULT_GRACE_MS,
  identityFromToken,
  sharedRegistry,
  type ClientLease,
  type ClientRegistryOptions,
} from "./registry.js";
export {
  INITIAL_SNAPSHOT,
  useNotifications,
  type SharedClientOptions,
  type UseNotificationsOptions,
  type UseNotificationsResult,
} from "./useNotifications.js";
export {
  CLIENT_MESSAGE_TYPES,
  isKnownEventType,
  isKnownNotification,
  parseServerFrame,
  SERVER_MESSAGE_TYPES,
  SEVERITIES,
  typedNotification,
  type AcknowledgedMessage,
  type AcknowledgeMessage,
  type AuthenticatedMessage,
  type AuthenticateMessage,
  type ClientMessage,
  type ClientMessageType,
  type ErrorMessage,
  type FilterSpec,
  type HistoryMessage,
  type HistoryReplyMessage,
  type HistoryReplyPayload,
  type HistoryRequestPayload,
  type Notification,
  type NotificationMessage,
  type ParseResult,
  type PingMessage,
  type PongMessage,
  type ServerErrorCode,
  type ServerMessage,
  type ServerMessageType,
  type Severity,
  type SubscribedMessage,
  type SubscribeMessage,
  type UnsubscribedMessage,
  type UnsubscribeMessage,
  type WireNotification,
} from "./messages.js";
export * from "./generated/events.js";
export * from "./generated/notifications.js";
export * from "./generated/protocol.js";
