/**
 * The figures at the top of the dashboard, over every instance: each one's value now (formatted, and raw for
 * the tests), a line under it, and its sparkline of the last minutes. Counters since an instance started
 * (closes, reconnects, gaps, dead letters) show their total and how much they rose in the window.
 */
import { formatCount, formatMs, formatRate } from "./format.js";
import { latestSample, type Sample } from "./samples.js";
import { allDisconnects, counterRate, increaseOver, seriesOf, type InstanceFigure, type Line } from "./series.js";
import type { SummedFigure } from "./stats.js";

export interface Card {
  id: string;
  label: string;
  /** The value as shown ("—" before the first sample). */
  value: string;
  /** The value as a number (null before the first sample or when unknown). */
  raw: number | null;
  /** A line under the value. */
  note: string;
  spark: Line;
  /** The sparkline's smallest top. */
  floor: number;
  /** It rose in the window and should not have (slow consumers, reconnects, gaps, dead letters): shown as a warning. */
  alarm: boolean;
}

const line = (key: string, samples: readonly Sample[], pick: (s: Sample) => number | null): Line => ({
  key,
  label: key,
  points: seriesOf(samples, pick),
});

function gauge(samples: readonly Sample[], id: string, label: string, figure: SummedFigure, note: string, rate: boolean): Card {
  const last = latestSample(samples);
  const raw = last ? last.overview.total[figure] : null;
  return {
    id,
    label,
    value: raw === null ? "—" : rate ? formatRate(raw) : formatCount(raw),
    raw,
    note,
    spark: line(id, samples, (s) => s.overview.total[figure]),
    floor: rate ? 1 : 5,
    alarm: false,
  };
}

function counter(samples: readonly Sample[], id: string, label: string, pick: InstanceFigure, alarming = true): Card {
  const last = latestSample(samples);
  const raw = last ? last.feed.instances.reduce((sum, i) => sum + pick(i), 0) : null;
  const recent = increaseOver(samples, pick);
  return {
    id,
    label,
    value: raw === null ? "—" : formatCount(raw),
    raw,
    note: last ? `+${formatCount(recent)} in the last 5 min` : "since each instance started",
    spark: { key: id, label: id, points: counterRate(samples, pick) },
    floor: 1,
    alarm: alarming && recent > 0,
  };
}

function latency(samples: readonly Sample[], id: string, label: string, which: "p50" | "p99"): Card {
  const last = latestSample(samples);
  const raw = last ? last.overview.latencyMs[which] : null;
  const instances = last?.feed.instances.length ?? 0;
  return {
    id,
    label,
    value: formatMs(raw),
    raw,
    note: last && raw === null ? "no event in the last minute" : instances > 1 ? "slowest instance, 1 min" : "publish → delivery, 1 min",
    spark: line(id, samples, (s) => s.overview.latencyMs[which]),
    floor: 1,
    alarm: false,
  };
}

export function cardsOf(samples: readonly Sample[]): Card[] {
  return [
    gauge(samples, "connections", "Connections", "connections", "open WebSockets", false),
    gauge(samples, "authenticated", "Authenticated", "authenticatedConnections", "connections signed in", false),
    gauge(samples, "subscriptions", "Subscriptions", "subscriptions", "tenant subscriptions", false),
    gauge(samples, "events", "Events / s", "eventsPerSecond", "received, last 5 s", true),
    gauge(samples, "deliveries", "Deliveries / s", "deliveriesPerSecond", "to connections, last 5 s", true),
    latency(samples, "latency-p50", "Latency p50", "p50"),
    latency(samples, "latency-p99", "Latency p99", "p99"),
    counter(samples, "disconnects", "Disconnects", allDisconnects, false),
    counter(samples, "slow-consumers", "Slow-consumer closes", (i) => i.slowConsumerCloses),
    counter(samples, "bus-reconnects", "Bus reconnects", (i) => i.busReconnects),
    counter(samples, "gaps", "Gaps", (i) => i.gaps),
    counter(samples, "dead-letters", "Dead letters", (i) => i.deadLetters),
  ];
}
