/**
 * NotificationCenter — the design document's example component, built on `useNotifications`.
 *
 * It shows the connection status (with the last error), the notifications of one tenant (newest first,
 * styled by severity, unread ones highlighted): on every page load the newest `backlog` of them with their read
 * state, then live ones, and older ones on "Load more". Also the unread count, "mark as read", "mark all as
 * read" and "clear", a banner when a resume could not recover missed notifications, and — in development,
 * when `publishUrl` is given — a small form that publishes a test event through the HTTP API.
 *
 * An application imports the hook from "@arda/notifications"; this example uses the package source.
 *
 * The `data-testid` attributes are the contract of the browser tests (clients/typescript/e2e/): keep them.
 */
import { memo, useCallback, useEffect, useRef, useState, type FormEvent, type ReactNode } from "react";
import {
  useNotifications,
  type ArdaEventByType,
  type ClientNotification,
  type ConnectionStatus,
  type NotificationError,
  type Severity,
  type TokenSource,
} from "../src/index.js";

export interface NotificationCenterProps {
  /** The service's WebSocket endpoint, e.g. `ws://localhost:3001/ws`. */
  url: string;
  /** A token, or a (possibly async) function called for a fresh one on every connection attempt. */
  token: TokenSource;
  /** The tenant whose notifications are shown (subscribed while mounted). */
  tenantId: string;
  /** The signed-in user: the connection's identity, shown in the header. */
  userId: string;
  /** Development only: where to POST test events (`/dev/events`). Without it, no publish form is shown. */
  publishUrl?: string | undefined;
  /** The bound of the list. Default 100. */
  maxNotifications?: number | undefined;
  /** How many of the newest notifications a page load shows (with their read state). Default 50. */
  backlog?: number | undefined;
}

export function NotificationCenter(props: NotificationCenterProps): ReactNode {
  const { url, token, tenantId, userId, publishUrl, maxNotifications = 100, backlog = 50 } = props;
  const announcer = useAnnouncer();
  const {
    notifications,
    status,
    unreadCount,
    lastError,
    recoveryFailed,
    markAsRead,
    markAllAsRead,
    clearNotifications,
    clearRecoveryFailed,
    reconnect,
    loadMore,
    hasMore,
    loadingMore,
  } = useNotifications({
    url,
    token,
    identity: userId,
    tenantId,
    backlog,
    maxNotifications,
    onNotification: announcer.add, // live ones only: the backlog and older pages are not announced
  });
  const now = useNow(1000);
  // lastError stays until the next error; the user may hide it (a new error shows again).
  const [hiddenError, setHiddenError] = useState<NotificationError | null>(null);

  return (
    <div className="nc-shell">
      <header className="nc-header">
        <div className="nc-header__inner">
          <div className="nc-brand">
            <span className="nc-brand__mark" aria-hidden="true">
              <BellIcon />
            </span>
            <div>
              <h1 className="nc-brand__title">Notifications</h1>
              <p className="nc-brand__meta">
                <span className="nc-visually-hidden">Signed in as </span>
                <span className="nc-meta-item" title="User">
                  <UserIcon />
                  <span data-testid="user">{userId}</span>
                </span>
                <span className="nc-meta-item" title="Tenant">
                  <BuildingIcon />
                  <span data-testid="tenant">{tenantId}</span>
                </span>
              </p>
            </div>
          </div>
          <StatusBadge status={status} onReconnect={reconnect} />
        </div>
      </header>

      <main className="nc-main">
        <section className="nc-feed" aria-labelledby="nc-feed-title">
          <div className="nc-feed__bar">
            <div className="nc-feed__heading">
              <h2 id="nc-feed-title" className="nc-feed__title">
                Inbox
              </h2>
              <span className={`nc-count${unreadCount > 0 ? " nc-count--active" : ""}`}>
                <span data-testid="unread-count">{unreadCount}</span> unread
              </span>
            </div>
            <div className="nc-feed__actions">
              <button type="button" className="nc-btn nc-btn--secondary" data-testid="mark-all-read" onClick={markAllAsRead}>
                <CheckAllIcon />
                Mark all as read
              </button>
              <button type="button" className="nc-btn nc-btn--ghost" data-testid="clear" onClick={clearNotifications}>
                <TrashIcon />
                Clear
              </button>
            </div>
          </div>

          {lastError && lastError !== hiddenError ? (
            <ErrorLine
              error={lastError}
              status={status}
              onReconnect={reconnect}
              onDismiss={() => setHiddenError(lastError)}
            />
          ) : null}

          {recoveryFailed.length > 0 ? (
            <div className="nc-banner nc-banner--warning" role="alert" data-testid="recovery-warning">
              <WarningIcon />
              <div className="nc-banner__body">
                <strong>Some notifications may be missing — reload</strong>
                <span>
                  The connection was interrupted for longer than the history kept for{" "}
                  {recoveryFailed.join(", ")}. Reload to see the current state.
                </span>
              </div>
              <div className="nc-banner__actions">
                <button type="button" className="nc-btn nc-btn--warning" onClick={() => window.location.reload()}>
                  Reload
                </button>
                <button type="button" className="nc-btn nc-btn--ghost" onClick={() => clearRecoveryFailed()}>
                  Dismiss
                </button>
              </div>
            </div>
          ) : null}

          {notifications.length === 0 ? (
            <EmptyState status={status} tenantId={tenantId} canPublish={publishUrl !== undefined} />
          ) : (
            <ol className="nc-list" aria-label="Notifications, newest first">
              {notifications.map((n) => (
                <NotificationItem key={n.id} notification={n} now={now} onMarkAsRead={markAsRead} />
              ))}
            </ol>
          )}

          <ListEnd
            count={notifications.length}
            max={maxNotifications}
            status={status}
            hasMore={hasMore}
            loading={loadingMore}
            onLoadMore={() => void loadMore().catch(() => undefined)} // a failure is in lastError
          />
        </section>

        {publishUrl !== undefined ? (
          <aside className="nc-side" aria-label="Developer tools">
            <PublishForm publishUrl={publishUrl} tenantId={tenantId} />
            <ConnectionDetails url={url} tenantId={tenantId} userId={userId} status={status} />
          </aside>
        ) : null}
      </main>

      <div className="nc-visually-hidden" aria-live="polite" aria-atomic="true" data-testid="announcer">
        {announcer.text}
      </div>
    </div>
  );
}

export default NotificationCenter;

// -- status --------------------------------------------------------------------------------------------

const STATUS_TEXT: Record<ConnectionStatus, string> = {
  connected: "Live: new notifications appear as they happen",
  connecting: "Connecting to the notification service…",
  reconnecting: "Connection lost: reconnecting (missed notifications will follow)",
  offline: "You are offline: notifications resume when the network is back",
  unauthorized: "Not authorized: sign in again, then reconnect",
  closed: "Disconnected",
};

function StatusBadge({ status, onReconnect }: { status: ConnectionStatus; onReconnect: () => void }): ReactNode {
  const showReconnect = status !== "connected" && status !== "connecting";
  return (
    <div className="nc-status-wrap">
      <div className={`nc-status nc-status--${status}`} role="status" title={STATUS_TEXT[status]}>
        <span className="nc-status__dot" aria-hidden="true" />
        <span className="nc-visually-hidden">Connection: </span>
        <span className="nc-status__text" data-testid="status">
          {status}
        </span>
      </div>
      {showReconnect ? (
        <button type="button" className="nc-btn nc-btn--small nc-btn--secondary" onClick={onReconnect}>
          <RefreshIcon />
          Reconnect
        </button>
      ) : null}
    </div>
  );
}

function ErrorLine({
  error,
  status,
  onReconnect,
  onDismiss,
}: {
  error: NotificationError;
  status: ConnectionStatus;
  onReconnect: () => void;
  onDismiss: () => void;
}): ReactNode {
  const stopped = status === "unauthorized" || status === "closed";
  const tone = stopped ? "nc-banner--error" : status === "connected" ? "nc-banner--muted" : "nc-banner--warning";
  return (
    <div className={`nc-banner nc-banner--compact ${tone}`} data-testid="last-error">
      <AlertIcon />
      <div className="nc-banner__body">
        <span>
          <strong>{status === "connected" ? "Last error (recovered)" : "Last error"}</strong>
          <code className="nc-code">{error.code}</code>
          {error.closeCode !== undefined ? <code className="nc-code">close {error.closeCode}</code> : null}
        </span>
        <span className="nc-banner__detail">{error.message}</span>
      </div>
      <div className="nc-banner__actions">
        {stopped ? (
          <button type="button" className="nc-btn nc-btn--small nc-btn--secondary" onClick={onReconnect}>
            <RefreshIcon />
            Reconnect
          </button>
        ) : null}
        <button
          type="button"
          className="nc-btn nc-btn--small nc-btn--ghost nc-btn--icon"
          aria-label="Hide this error"
          title="Hide"
          onClick={onDismiss}
        >
          <CloseIcon />
        </button>
      </div>
    </div>
  );
}

// -- the list ------------------------------------------------------------------------------------------

const SEVERITY_LABEL: Record<Severity, string> = {
  info: "Information",
  success: "Success",
  warning: "Warning",
  error: "Error",
};

const NotificationItem = memo(function NotificationItem({
  notification: n,
  now,
  onMarkAsRead,
}: {
  notification: ClientNotification;
  now: number;
  onMarkAsRead: (id: string) => void;
}): ReactNode {
  const titleId = `nc-title-${n.id}`;
  const severityId = `nc-severity-${n.id}`;
  const time = Date.parse(n.timestamp);
  return (
    <li
      className={`nc-item nc-item--${n.severity}${n.read ? " nc-item--read" : " nc-item--unread"}`}
      data-testid="notification"
      data-id={n.id}
      data-read={n.read ? "true" : "false"}
      data-severity={n.severity}
      aria-labelledby={`${severityId} ${titleId}`}
    >
      <span className={`nc-item__icon nc-item__icon--${n.severity}`} aria-hidden="true">
        <SeverityIcon severity={n.severity} />
      </span>
      <div className="nc-item__body">
        <div className="nc-item__meta">
          <span className="nc-visually-hidden" id={severityId}>
            {SEVERITY_LABEL[n.severity]}:
          </span>
          <span className="nc-chip">{n.category}</span>
          <span className="nc-item__dot" aria-hidden="true">
            ·
          </span>
          <time
            className="nc-item__time"
            dateTime={n.timestamp}
            title={Number.isNaN(time) ? n.timestamp : new Date(time).toLocaleString()}
          >
            {Number.isNaN(time) ? n.timestamp : relativeTime(time, now)}
          </time>
          {n.read ? null : (
            <span className="nc-item__unread-dot" title="Unread">
              <span className="nc-visually-hidden">Unread</span>
            </span>
          )}
        </div>
        <h3 className="nc-item__title" id={titleId}>
          {n.title}
        </h3>
        <p className="nc-item__message">{n.message}</p>
      </div>
      {n.read ? null : (
        <button
          type="button"
          className="nc-btn nc-btn--small nc-btn--ghost nc-item__action"
          data-testid="mark-read"
          aria-label={`Mark “${n.title}” as read`}
          onClick={() => onMarkAsRead(n.id)}
        >
          <CheckIcon />
          <span className="nc-item__action-text">Mark as read</span>
        </button>
      )}
    </li>
  );
});

/** Below the list: "Load more" while older notifications exist, else why there is nothing more to show. */
function ListEnd(props: {
  count: number;
  max: number;
  status: ConnectionStatus;
  hasMore: boolean;
  loading: boolean;
  onLoadMore: () => void;
}): ReactNode {
  const { count, max, status, hasMore, loading, onLoadMore } = props;
  if (hasMore) {
    return (
      <div className="nc-list-end">
        <button
          type="button"
          className="nc-btn nc-btn--secondary"
          data-testid="load-more"
          onClick={onLoadMore}
          disabled={loading}
          aria-busy={loading}
        >
          <HistoryIcon />
          {loading ? "Loading…" : "Load more"}
        </button>
      </div>
    );
  }
  if (count === 0 || status !== "connected") return null;
  return (
    <p className="nc-list-end nc-list-end__note" data-testid="list-end">
      {count >= max ? `Showing the newest ${max}` : "No older notifications"}
    </p>
  );
}

function EmptyState({
  status,
  tenantId,
  canPublish,
}: {
  status: ConnectionStatus;
  tenantId: string;
  canPublish: boolean;
}): ReactNode {
  const live = status === "connected";
  return (
    <div className="nc-empty" data-testid="empty">
      <span className="nc-empty__art" aria-hidden="true">
        <BellIcon />
      </span>
      <p className="nc-empty__title">{live ? "You're all caught up" : "No notifications yet"}</p>
      <p className="nc-empty__text">
        New notifications for <strong>{tenantId}</strong> appear here as they happen.
        {canPublish ? " Publish a test event to see one." : ""}
      </p>
    </div>
  );
}

/** "just now", "12 s ago", "4 min ago", "3 h ago", "2 d ago", then the date. */
export function relativeTime(time: number, now: number): string {
  const seconds = Math.floor((now - time) / 1000);
  if (seconds < 5) return "just now";
  if (seconds < 60) return `${seconds} s ago`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours} h ago`;
  const days = Math.floor(hours / 24);
  if (days < 7) return `${days} d ago`;
  return new Date(time).toLocaleDateString();
}

/** The current time, updated every `intervalMs` while mounted. */
function useNow(intervalMs: number): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = window.setInterval(() => setNow(Date.now()), intervalMs);
    return () => window.clearInterval(timer);
  }, [intervalMs]);
  return now;
}

/**
 * What the polite live region says: new notifications, batched (a burst reads as "5 new notifications"),
 * so a screen reader is told once instead of being flooded, and never about the ticking relative times.
 */
function useAnnouncer(): { text: string; add: (n: ClientNotification) => void } {
  const [text, setText] = useState("");
  const pending = useRef<ClientNotification[]>([]);
  const timer = useRef<number | null>(null);
  useEffect(
    () => () => {
      if (timer.current !== null) window.clearTimeout(timer.current);
      timer.current = null;
    },
    [],
  );
  const add = useCallback((n: ClientNotification) => {
    pending.current.push(n);
    if (timer.current !== null) return;
    timer.current = window.setTimeout(() => {
      timer.current = null;
      const batch = pending.current;
      pending.current = [];
      const [first] = batch;
      if (!first) return;
      setText(
        batch.length === 1
          ? `New notification: ${first.title}. ${first.message}`
          : `${batch.length} new notifications. Latest: ${batch[batch.length - 1]?.title ?? first.title}`,
      );
    }, 400);
  }, []);
  return { text, add };
}

// -- development: publish a test event -----------------------------------------------------------------

/** The event types with a sample (those of `arda publish --sample TYPE`). */
export const SAMPLE_TYPES = [
  "card.transition",
  "order.created",
  "order.status_changed",
  "loop.parameters_changed",
  "relowisa.recommendation",
] as const;
export type SampleType = (typeof SAMPLE_TYPES)[number];


/** The samples of `arda publish --sample TYPE` (`demo_events` in src/arda/cli.py), for `tenantId`. */
export function sampleEvent<T extends SampleType>(type: T, tenantId: string): ArdaEventByType[T];
export function sampleEvent(type: SampleType, tenantId: string): ArdaEventByType[SampleType] {
  switch (type) {
    case "card.transition":
      return {
        type,
        tenantId,
        cardId: "card-123",
        loopId: "loop-456",
        fromStage: "todo",
        toStage: "in-progress",
        method: "drag-drop",
        userId: "user-789",
      };
    case "order.created":
      return {
        type,
        tenantId,
        orderId: "ord-1042",
        orderNumber: "PO-1042",
        orderType: "purchase",
        loopId: "loop-456",
        supplierName: "Acme Fasteners",
        lines: [{ partId: "M8-BOLT", quantity: 500, unit: "pcs" }],
        totalAmount: 129.5,
        currency: "EUR",
      };
    case "order.status_changed":
      return {
        type,
        tenantId,
        orderId: "ord-1042",
        orderNumber: "PO-1042",
        fromStatus: "submitted",
        toStatus: "confirmed",
      };
    case "loop.parameters_changed":
      return {
        type,
        tenantId,
        loopId: "loop-456",
        loopName: "M8 bolts",
        changes: [{ parameter: "numberOfCards", oldValue: 4, newValue: 5 }],
      };
    case "relowisa.recommendation":
      return {
        type,
        tenantId,
        recommendationId: "rec-77",
        loopId: "loop-456",
        kind: "resize_loop",
        summary: "Demand rose 18% over 4 weeks: add one card to M8 bolts.",
        confidence: 0.86,
      };
  }
}

/** The sample as editable JSON: one top-level field a line, nested values inline. */
const sampleText = (type: SampleType, tenantId: string): string =>
  `{\n${Object.entries(sampleEvent(type, tenantId))
    .map(([key, value]) => `  ${JSON.stringify(key)}: ${JSON.stringify(value)}`)
    .join(",\n")}\n}`;

type PublishResult = { ok: true; text: string } | { ok: false; text: string };

function PublishForm({ publishUrl, tenantId }: { publishUrl: string; tenantId: string }): ReactNode {
  const [type, setType] = useState<SampleType>("order.created");
  const [body, setBody] = useState(() => sampleText("order.created", tenantId));
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<PublishResult | null>(null);
  const mounted = useRef(true);
  useEffect(() => {
    mounted.current = true;
    return () => {
      mounted.current = false;
    };
  }, []);

  const onType = (value: string): void => {
    const next = SAMPLE_TYPES.find((t) => t === value) ?? "order.created";
    setType(next);
    setBody(sampleText(next, tenantId));
  };

  const onSubmit = async (event: FormEvent<HTMLFormElement>): Promise<void> => {
    event.preventDefault();
    let payload: unknown;
    try {
      payload = JSON.parse(body);
    } catch (error: unknown) {
      setResult({ ok: false, text: `Error: the body is not valid JSON (${errorText(error)})` });
      return;
    }
    setBusy(true);
    const outcome = await publish(publishUrl, payload);
    if (!mounted.current) return;
    setBusy(false);
    setResult(outcome);
  };

  return (
    <section className="nc-panel nc-tool" aria-labelledby="nc-publish-title">
      <div className="nc-tool__head">
        <h2 id="nc-publish-title" className="nc-tool__title">
          Publish a test event
        </h2>
        <span className="nc-tag">development</span>
      </div>
      <p className="nc-tool__hint">
        Posted to <code className="nc-code">{publishUrl}</code>: the body of <code className="nc-code">POST /v1/events</code>,
        no API key needed. It should appear in the inbox at once.
      </p>
      <form className="nc-form" onSubmit={(e) => void onSubmit(e)}>
        <label className="nc-field">
          <span className="nc-field__label">Event type</span>
          <span className="nc-select">
            <select data-testid="publish-type" value={type} onChange={(e) => onType(e.target.value)}>
              {SAMPLE_TYPES.map((t) => (
                <option key={t} value={t}>
                  {t}
                </option>
              ))}
            </select>
          </span>
        </label>
        <label className="nc-field">
          <span className="nc-field__label">
            Body <span className="nc-field__note">(JSON, editable)</span>
          </span>
          <textarea
            className="nc-textarea"
            data-testid="publish-body"
            value={body}
            onChange={(e) => setBody(e.target.value)}
            rows={14}
            spellCheck={false}
            autoCapitalize="off"
            autoCorrect="off"
          />
        </label>
        <div className="nc-form__row">
          <button type="submit" className="nc-btn nc-btn--primary" data-testid="publish-submit" disabled={busy}>
            <SendIcon />
            {busy ? "Publishing…" : "Publish"}
          </button>
          <button
            type="button"
            className="nc-btn nc-btn--ghost"
            onClick={() => setBody(sampleText(type, tenantId))}
            disabled={busy}
          >
            Reset sample
          </button>
        </div>
        {result ? (
          <p
            className={`nc-result ${result.ok ? "nc-result--ok" : "nc-result--error"}`}
            role="status"
            data-testid="publish-result"
          >
            {result.text}
          </p>
        ) : null}
      </form>
    </section>
  );
}

interface PublishedEvent {
  id: string;
  position: string | null;
  duplicate: boolean;
}

/** POST the event(s); "Published …" on 202, "Error …" otherwise (with the server's reasons). */
async function publish(publishUrl: string, payload: unknown): Promise<PublishResult> {
  let response: Response;
  try {
    response = await fetch(publishUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(payload),
    });
  } catch (error: unknown) {
    return { ok: false, text: `Error: the service could not be reached (${errorText(error)})` };
  }
  const answer: unknown = await response.json().catch(() => null);
  if (response.ok) {
    const events = isObject(answer) && Array.isArray(answer["events"]) ? (answer["events"] as PublishedEvent[]) : [];
    const first = events[0];
    if (events.length === 1 && first) {
      return {
        ok: true,
        text: `Published ${first.id}${first.position ? ` at position ${first.position}` : ""}${first.duplicate ? " (duplicate)" : ""}`,
      };
    }
    return { ok: true, text: `Published ${events.length} events` };
  }
  let text = `Error ${response.status}`;
  if (isObject(answer)) {
    if (typeof answer["error"] === "string") text += `: ${answer["error"]}`;
    const errors = answer["errors"];
    if (Array.isArray(errors) && errors.length > 0) {
      const details = errors
        .filter(isObject)
        .map((e) => (typeof e["message"] === "string" ? e["message"] : JSON.stringify(e)));
      if (details.length > 0) text += ` — ${details.join("; ")}`;
    }
    const retry = response.headers.get("Retry-After");
    if (response.status === 429 && retry) text += ` (retry after ${retry} s)`;
  } else if (response.statusText) {
    text += `: ${response.statusText}`;
  }
  return { ok: false, text };
}

function ConnectionDetails(props: { url: string; tenantId: string; userId: string; status: ConnectionStatus }): ReactNode {
  return (
    <section className="nc-panel nc-tool" aria-labelledby="nc-details-title">
      <div className="nc-tool__head">
        <h2 id="nc-details-title" className="nc-tool__title">
          Connection
        </h2>
      </div>
      <dl className="nc-details">
        <dt>WebSocket</dt>
        <dd>
          <code className="nc-code">{props.url}</code>
        </dd>
        <dt>User</dt>
        <dd>{props.userId}</dd>
        <dt>Tenant</dt>
        <dd>{props.tenantId}</dd>
        <dt>State</dt>
        <dd>{STATUS_TEXT[props.status]}</dd>
      </dl>
    </section>
  );
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error));

// -- icons (inline SVG, 20×20, currentColor) -------------------------------------------------------------

function Svg({ children, size = 20 }: { children: ReactNode; size?: number }): ReactNode {
  return (
    <svg
      className="nc-icon"
      width={size}
      height={size}
      viewBox="0 0 24 24"
      fill="none"
      stroke="currentColor"
      strokeWidth={2}
      strokeLinecap="round"
      strokeLinejoin="round"
      aria-hidden="true"
      focusable="false"
    >
      {children}
    </svg>
  );
}

function SeverityIcon({ severity }: { severity: Severity }): ReactNode {
  switch (severity) {
    case "success":
      return (
        <Svg>
          <circle cx="12" cy="12" r="9" />
          <path d="m8 12.5 2.5 2.5L16 9.5" />
        </Svg>
      );
    case "warning":
      return <WarningIcon />;
    case "error":
      return (
        <Svg>
          <circle cx="12" cy="12" r="9" />
          <path d="m15 9-6 6M9 9l6 6" />
        </Svg>
      );
    case "info":
      return (
        <Svg>
          <circle cx="12" cy="12" r="9" />
          <path d="M12 11v5M12 7.5h.01" />
        </Svg>
      );
  }
}

const WarningIcon = (): ReactNode => (
  <Svg>
    <path d="M10.3 3.9 2.4 17.5A2 2 0 0 0 4.1 20.5h15.8a2 2 0 0 0 1.7-3L13.7 3.9a2 2 0 0 0-3.4 0Z" />
    <path d="M12 9.5v4M12 17h.01" />
  </Svg>
);
const AlertIcon = (): ReactNode => (
  <Svg>
    <circle cx="12" cy="12" r="9" />
    <path d="M12 7.5v5M12 16h.01" />
  </Svg>
);
const BellIcon = (): ReactNode => (
  <Svg>
    <path d="M6 8a6 6 0 1 1 12 0c0 7 3 9 3 9H3s3-2 3-9" />
    <path d="M10.3 21a1.9 1.9 0 0 0 3.4 0" />
  </Svg>
);
const CheckIcon = (): ReactNode => (
  <Svg size={16}>
    <path d="m5 12.5 4.5 4.5L19 7.5" />
  </Svg>
);
const CheckAllIcon = (): ReactNode => (
  <Svg size={16}>
    <path d="m2 12.5 4.5 4.5L16 7.5M12 16l1 1 9.5-9.5" />
  </Svg>
);
const TrashIcon = (): ReactNode => (
  <Svg size={16}>
    <path d="M4 7h16M10 11v6M14 11v6M6 7l1 12a2 2 0 0 0 2 2h6a2 2 0 0 0 2-2l1-12M9 7V4h6v3" />
  </Svg>
);
const HistoryIcon = (): ReactNode => (
  <Svg size={16}>
    <path d="M3 12a9 9 0 1 0 3-6.7L3 8M3 3v5h5M12 7v5l3 2" />
  </Svg>
);
const CloseIcon = (): ReactNode => (
  <Svg size={16}>
    <path d="M6 6l12 12M18 6 6 18" />
  </Svg>
);
const RefreshIcon = (): ReactNode => (
  <Svg size={16}>
    <path d="M20 11a8 8 0 0 0-14.6-4.5L4 8M4 4v4h4M4 13a8 8 0 0 0 14.6 4.5L20 16M20 20v-4h-4" />
  </Svg>
);
const SendIcon = (): ReactNode => (
  <Svg size={16}>
    <path d="M21 3 10 14M21 3l-7 18-4-7-7-4 18-7Z" />
  </Svg>
);
const UserIcon = (): ReactNode => (
  <Svg size={14}>
    <circle cx="12" cy="8" r="4" />
    <path d="M4 21a8 8 0 0 1 16 0" />
  </Svg>
);
const BuildingIcon = (): ReactNode => (
  <Svg size={14}>
    <path d="M4 21V5a2 2 0 0 1 2-2h8a2 2 0 0 1 2 2v16M16 9h2a2 2 0 0 1 2 2v10M2 21h20M8 7h4M8 11h4M8 15h4" />
  </Svg>
);
