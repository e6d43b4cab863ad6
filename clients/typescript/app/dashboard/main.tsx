/**
 * The live dashboard page, served by the service at `GET /dashboard` (built beside the notification center
 * into src/arda/notifications/webapp/dashboard.html).
 *
 *   http://127.0.0.1:3002/dashboard?key=<ARDA_API_KEY>     (or without `key`: the page asks for it)
 *
 * The key is read once, taken out of the address, and kept in memory only.
 */
import * as React from "react";
import { createRoot } from "react-dom/client";
import { Dashboard, KeyForm, useNow } from "./Dashboard.js";
import { keyFromUrl } from "./key.js";
import { useStatsFeed } from "./useStatsFeed.js";
import "../styles.css";
import "./dashboard.css";

const initial = keyFromUrl(window.location.href);
if (initial.cleaned !== window.location.href) window.history.replaceState(window.history.state, "", initial.cleaned);

function App(): React.ReactNode {
  const [key, setKey] = React.useState<string | null>(initial.key);
  const [asking, setAsking] = React.useState(initial.key === null);
  const state = useStatsFeed(key);
  const now = useNow(1000);
  if (asking || key === null) {
    return (
      <KeyForm
        refused={state.feed.problem?.kind === "unauthorized"}
        onKey={(k) => {
          setKey(k);
          setAsking(false);
        }}
        onCancel={key === null ? undefined : () => setAsking(false)}
      />
    );
  }
  return <Dashboard state={state} now={now} onChangeKey={() => setAsking(true)} />;
}

const root = document.getElementById("root");
if (!root) throw new Error("#root is missing from dashboard.html");
createRoot(root).render(
  <React.StrictMode>
    <App />
  </React.StrictMode>,
);
