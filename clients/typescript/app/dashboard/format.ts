/** How the dashboard writes numbers, durations and close codes. Pure, locale-independent (en-US style). */
import { CLOSE_CODES, type CloseCode } from "../../src/generated/protocol.js";

const grouped = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

/** A count: 1,234 (rounded). */
export const formatCount = (n: number): string => grouped.format(Math.round(n));

/** A rate per second: 0, 0.2, 12.4, 1,234 (below 10 one decimal when it has one, from 10 000 in thousands: 12.3k). */
export function formatRate(n: number): string {
  if (!Number.isFinite(n) || n === 0) return "0";
  const abs = Math.abs(n);
  if (abs >= 10_000) return `${(n / 1000).toFixed(1).replace(/\.0$/, "")}k`;
  if (abs >= 10) return grouped.format(Math.round(n));
  if (abs < 0.05) return n > 0 ? "<0.1" : "0";
  return n.toFixed(1).replace(/\.0$/, "");
}

/** A plain number of at most 3 significant digits, no trailing zeros: 0, 2.5, 0.25, 12.3, 1,235. */
export function formatPlain(n: number): string {
  if (!Number.isFinite(n)) return "—";
  if (Math.abs(n) >= 1000) return grouped.format(Math.round(n));
  return String(Number(n.toPrecision(3)));
}

/** Milliseconds: "—" when unknown, 0.42 ms, 4.5 ms, 12 ms, 1.2 s. */
export function formatMs(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return "—";
  if (ms >= 1000) return `${(ms / 1000).toFixed(ms >= 10_000 ? 0 : 1)} s`;
  if (ms >= 10) return `${Math.round(ms)} ms`;
  if (ms >= 1) return `${ms.toFixed(1)} ms`;
  return `${ms.toFixed(2)} ms`;
}

/** An uptime: 12 s, 3 min 4 s, 2 h 3 min, 1 d 2 h. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

/** How long ago (ms): "just now" under 2 s, else "5 s ago", "3 min ago". */
export function formatAgo(ms: number): string {
  if (ms < 2000) return "just now";
  const s = Math.floor(ms / 1000);
  return s < 120 ? `${s} s ago` : `${Math.floor(s / 60)} min ago`;
}

const isCloseCode = (code: number): code is CloseCode => Object.hasOwn(CLOSE_CODES, code);

/** A close code's name from the protocol's table ("slow_consumer"), or null for a code it does not have. */
export function closeCodeName(code: string): string | null {
  const n = Number(code);
  return Number.isInteger(n) && isCloseCode(n) ? CLOSE_CODES[n].name : null;
}

/** A close code's meaning from the protocol's table, or "" for a code it does not have. */
export function closeCodeMeaning(code: string): string {
  const n = Number(code);
  return Number.isInteger(n) && isCloseCode(n) ? CLOSE_CODES[n].meaning : "";
}
