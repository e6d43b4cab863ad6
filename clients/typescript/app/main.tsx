/**
 * The notification center page, served by the service at `GET /` (built into src/arda/notifications/webapp/).
 *
 * Development: `GET /dev/session?user=&tenant=` gives the WebSocket URL and a development token; the token
 * function fetches a fresh one for every connection attempt. In production that route does not exist (404)
 * and the page explains how to embed the component instead.
 *
 *   http://127.0.0.1:3002/?user=u-1&tenant=tenant-001
 */
import * as React from "react";
import { createRoot } from "react-dom/client";
import { NotificationCenter } from "../examples/NotificationCenter.js";
import "./styles.css";

interface DevSession {
  wsUrl: string;
  token: string;
  userId: string;
  tenantId: string;
}

type Boot =
  | { kind: "loading" }
  | { kind: "ready"; session: DevSession }
  | { kind: "production"; detail: string | null }
  | { kind: "error"; message: string };

const params = new URLSearchParams(window.location.search);
const user = params.get("user")?.trim() || "u-1";
const tenant = params.get("tenant")?.trim() || "tenant-001";
const sessionUrl = `/dev/session?${new URLSearchParams({ user, tenant }).toString()}`;

class HttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

async function fetchSession(): Promise<DevSession> {
  const response = await fetch(sessionUrl, { cache: "no-store", headers: { Accept: "application/json" } });
  const body: unknown = await response.json().catch(() => null);
  if (!response.ok) {
    const detail = isObject(body) && typeof body["error"] === "string" ? body["error"] : response.statusText;
    throw new HttpError(response.status, detail || `HTTP ${response.status}`);
  }
  if (
    !isObject(body) ||
    typeof body["wsUrl"] !== "string" ||
    typeof body["token"] !== "string" ||
    typeof body["userId"] !== "string" ||
    typeof body["tenantId"] !== "string"
  ) {
    throw new Error("/dev/session answered with an unexpected body");
  }
  return { wsUrl: body["wsUrl"], token: body["token"], userId: body["userId"], tenantId: body["tenantId"] };
}

/** Called by the client on every connection attempt (and token refresh): a fresh development token. */
const token = async (): Promise<string> => (await fetchSession()).token;

function App(): React.ReactNode {
  const [boot, setBoot] = React.useState<Boot>({ kind: "loading" });
  const [attempt, setAttempt] = React.useState(0);

  React.useEffect(() => {
    let active = true;
    fetchSession().then(
      (session) => {
        if (active) setBoot({ kind: "ready", session });
      },
      (error: unknown) => {
        if (!active) return;
        if (error instanceof HttpError && error.status === 404) {
          setBoot({ kind: "production", detail: error.message });
        } else {
          setBoot({ kind: "error", message: error instanceof Error ? error.message : String(error) });
        }
      },
    );
    return () => {
      active = false;
    };
  }, [attempt]);

  switch (boot.kind) {
    case "loading":
      return (
        <Notice title="Starting the notification center…">
          <p>Asking the service for a development session.</p>
        </Notice>
      );
    case "ready":
      return (
        <NotificationCenter
          url={boot.session.wsUrl}
          token={token}
          userId={boot.session.userId}
          tenantId={boot.session.tenantId}
          publishUrl="/dev/events"
        />
      );
    case "production":
      return (
        <Notice title="This page is for development">
          <p>
            The service runs in production mode, so it hands out no development sessions (
            <code className="nc-code">/dev/session</code> is not available
            {boot.detail && boot.detail !== "Not Found" ? `: ${boot.detail}` : ""}) and this page has no way to sign
            you in.
          </p>
          <p>
            In an application, render <code className="nc-code">NotificationCenter</code> (or use{" "}
            <code className="nc-code">useNotifications</code> from <code className="nc-code">@arda/notifications</code>)
            with a token from your own sign-in. To try this page, run the service in development mode (
            <code className="nc-code">make run</code>).
          </p>
        </Notice>
      );
    case "error":
      return (
        <Notice title="The notification service could not be reached">
          <p>
            <code className="nc-code">GET {sessionUrl}</code> failed: {boot.message}
          </p>
          <p>
            <button type="button" className="nc-btn nc-btn--primary" onClick={() => setAttempt((n) => n + 1)}>
              Try again
            </button>
          </p>
        </Notice>
      );
  }
}

function Notice({ title, children }: { title: string; children: React.ReactNode }): React.ReactNode {
  return (
    <main className="nc-notice">
      <div className="nc-panel nc-notice__card">
        <h1 className="nc-notice__title">{title}</h1>
        {children}
      </div>
    </main>
  );
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

const root = document.getElementById("root");
if (!root) throw new Error("#root is missing from index.html");
createRoot(root).render(
  <React.StrictMode>
    <App />
  </React.StrictMode>,
);
