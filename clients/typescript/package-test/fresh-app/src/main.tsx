import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App, type Session } from "./App";

const params = new URLSearchParams(window.location.search);
const sessionUrl = `/dev/session?${new URLSearchParams({
  user: params.get("user") ?? "u-1",
  tenant: params.get("tenant") ?? "tenant-001",
}).toString()}`;

/** A development session from the service (through the preview server's proxy). */
async function fetchSession(): Promise<Session> {
  const response = await fetch(sessionUrl, { cache: "no-store" });
  if (!response.ok) throw new Error(`GET /dev/session answered ${response.status}`);
  return (await response.json()) as Session;
}

const root = createRoot(document.getElementById("root") as HTMLElement);
fetchSession().then(
  (session) =>
    root.render(
      <StrictMode>
        <App session={session} token={async () => (await fetchSession()).token} />
      </StrictMode>,
    ),
  (error: unknown) => root.render(<p data-testid="boot-error">{String(error)}</p>),
);
