import { useNotifications, type Notification } from "@arda/notifications";
import { CLOSE_CODES, NotificationClient, type ConnectionStatus } from "@arda/notifications/client";

export interface Session {
  wsUrl: string;
  token: string;
  userId: string;
  tenantId: string;
}

/** One line per notification; narrowing on `eventType` types `data` (no cast). */
function describe(n: Notification): string {
  switch (n.eventType) {
    case "order.created":
      return `order ${n.data.orderNumber} created`;
    case "order.status_changed":
      return `order ${n.data.orderNumber}: ${n.data.fromStatus} → ${n.data.toStatus}`;
    default:
      return n.title;
  }
}

// what the "./client" entry gives without React: the client class and the protocol's close codes
const clientEntry = typeof NotificationClient === "function" && Object.keys(CLOSE_CODES).length > 0 ? "ok" : "missing";

export function App({ session, token }: { session: Session; token: () => Promise<string> }) {
  const { notifications, status, unreadCount, subscriptions, markAsRead } = useNotifications({
    url: session.wsUrl,
    token,
    identity: session.userId,
    tenantId: session.tenantId,
  });
  const shown: ConnectionStatus = status;
  // @ts-expect-error: the status is a union of strings (the package's types resolve: not `any`)
  const notANumber: number = status;
  void notANumber;
  return (
    <main>
      <p>
        status <span data-testid="status">{shown}</span>, subscription{" "}
        <span data-testid="subscription">{subscriptions[session.tenantId]?.status ?? "none"}</span>, unread{" "}
        <span data-testid="unread-count">{unreadCount}</span>, client entry <span data-testid="client-entry">{clientEntry}</span>
      </p>
      <ul>
        {notifications.map((n) => (
          <li key={n.id} data-testid="notification" data-id={n.id} data-read={String(n.read)}>
            {describe(n)} <button onClick={() => markAsRead(n.id)}>mark read</button>
          </li>
        ))}
      </ul>
    </main>
  );
}
