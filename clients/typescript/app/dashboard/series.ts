/**
 * Chart series out of the samples: one figure over time, one line per instance or per event type, and the
 * per-second rate of counters the feed gives as totals since an instance started (disconnects, slow-consumer
 * closes, bus reconnects, gaps, dead letters).
 */
import type { InstanceStats } from "./stats.js";
import type { Sample } from "./samples.js";

/** A value at a time (ms); null: no value then (a gap in the line). */
export interface Point {
  t: number;
  v: number | null;
}

export interface Line {
  key: string;
  label: string;
  points: Point[];
}

export type InstanceFigure = (instance: InstanceStats) => number;

export function seriesOf(samples: readonly Sample[], pick: (sample: Sample) => number | null): Point[] {
  return samples.map((s) => ({ t: s.at, v: pick(s) }));
}

/** One line per instance seen in the samples (by id), null where a sample lacks that instance. */
export function instanceLines(samples: readonly Sample[], pick: (instance: InstanceStats) => number | null): Line[] {
  const ids = [...new Set(samples.flatMap((s) => s.feed.instances.map((i) => i.instance)))].sort();
  return ids.map((id) => ({
    key: id,
    label: id,
    points: samples.map((s) => {
      const instance = s.feed.instances.find((i) => i.instance === id);
      return { t: s.at, v: instance ? pick(instance) : null };
    }),
  }));
}

export const OTHER_TYPES = "other types";

/**
 * Events per second by type (over every instance): a line for each of the `max` busiest types over the
 * samples (0 where a sample lacks the type), the rest summed into one "other types" line.
 */
export function eventTypeLines(samples: readonly Sample[], max = 6): Line[] {
  const volume = new Map<string, number>();
  for (const s of samples) {
    for (const [type, rate] of Object.entries(s.overview.eventsPerSecondByType)) volume.set(type, (volume.get(type) ?? 0) + rate);
  }
  const ranked = [...volume.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([type]) => type);
  const shown = ranked.length > max ? ranked.slice(0, max - 1) : ranked;
  const rest = ranked.slice(shown.length);
  const lines: Line[] = shown.map((type) => ({
    key: type,
    label: type,
    points: samples.map((s) => ({ t: s.at, v: s.overview.eventsPerSecondByType[type] ?? 0 })),
  }));
  if (rest.length > 0) {
    lines.push({
      key: OTHER_TYPES,
      label: `${rest.length} ${OTHER_TYPES}`,
      points: samples.map((s) => ({ t: s.at, v: rest.reduce((sum, type) => sum + (s.overview.eventsPerSecondByType[type] ?? 0), 0) })),
    });
  }
  return lines;
}

/**
 * How much a counter (a total since each instance started) rose from sample `a` to sample `b`, over every
 * instance of `b`. An instance that was not in `a` counts from its next sample on (its earlier total is not news);
 * a counter that went down (the instance restarted under the same id) counts from 0.
 */
export function increaseBetween(a: Sample, b: Sample, pick: InstanceFigure): number {
  let sum = 0;
  for (const instance of b.feed.instances) {
    const before = a.feed.instances.find((i) => i.instance === instance.instance);
    if (!before) continue;
    const now = pick(instance);
    const then = pick(before);
    sum += now >= then ? now - then : now;
  }
  return sum;
}

/** The counter's rise over the samples (the window). */
export function increaseOver(samples: readonly Sample[], pick: InstanceFigure): number {
  let sum = 0;
  for (let i = 1; i < samples.length; i++) sum += increaseBetween(samples[i - 1] as Sample, samples[i] as Sample, pick);
  return sum;
}

/** The counter's rise per second between consecutive samples (the first sample has no rate: null). */
export function counterRate(samples: readonly Sample[], pick: InstanceFigure): Point[] {
  return samples.map((s, i) => {
    const previous = samples[i - 1];
    if (!previous) return { t: s.at, v: null };
    const seconds = (s.at - previous.at) / 1000;
    return { t: s.at, v: seconds > 0 ? increaseBetween(previous, s, pick) / seconds : null };
  });
}

/** Every close code in the samples, with its total now (every instance of the last sample) and its rise over the samples. */
export function disconnectRows(samples: readonly Sample[]): { code: string; total: number; recent: number }[] {
  const last = samples[samples.length - 1];
  const codes = [...new Set(samples.flatMap((s) => Object.keys(s.overview.disconnectsByCode)))];
  return codes
    .map((code) => ({
      code,
      total: last?.overview.disconnectsByCode[code] ?? 0,
      recent: increaseOver(samples, (i) => i.disconnectsByCode[code] ?? 0),
    }))
    .sort((a, b) => Number(a.code) - Number(b.code) || (a.code < b.code ? -1 : 1));
}

/** All disconnects of an instance, whatever the code. */
export const allDisconnects: InstanceFigure = (i) => Object.values(i.disconnectsByCode).reduce((a, b) => a + b, 0);
