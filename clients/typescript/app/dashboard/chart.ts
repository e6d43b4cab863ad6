/**
 * The geometry of the dashboard's line charts, drawn as plain SVG paths (no chart library): the y scale's
 * round ceiling and ticks, and each line's path over a time window, broken where a value is missing or the
 * samples are further apart than `maxGapMs` (the feed was down).
 */
import type { Line, Point } from "./series.js";

export interface Box {
  width: number;
  height: number;
}

export interface Frame {
  /** The time window shown (ms): t0 at the left edge, t1 at the right. */
  t0: number;
  t1: number;
  /** The value at the top edge (the bottom is 0). */
  yMax: number;
  box: Box;
  /** Points further apart than this are not joined. */
  maxGapMs: number;
}

/** The smallest of 1, 2, 2.5, 5 × 10^k that is ≥ `value` (1 for 0 or less: an empty chart has a scale). */
export function niceCeiling(value: number): number {
  if (!(value > 0) || !Number.isFinite(value)) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) {
    const candidate = step * magnitude;
    if (candidate >= value * (1 - 1e-9)) return Number(candidate.toPrecision(12));
  }
  return 10 * magnitude;
}

/** The scale of some lines: the round ceiling of their largest value, at least `floor`. */
export function scaleOf(lines: readonly Line[], floor = 1): number {
  let max = 0;
  for (const line of lines) for (const p of line.points) if (p.v !== null && p.v > max) max = p.v;
  return niceCeiling(Math.max(max, floor));
}

/** Horizontal grid values: 0, half, the top. */
export const ticksOf = (yMax: number): number[] => [0, yMax / 2, yMax];

const round = (n: number): number => Math.round(n * 10) / 10;

export function xOf(t: number, frame: Frame): number {
  const span = frame.t1 - frame.t0;
  return round(span > 0 ? ((t - frame.t0) / span) * frame.box.width : frame.box.width);
}

export function yOf(v: number, frame: Frame): number {
  const clamped = Math.min(Math.max(v, 0), frame.yMax);
  return round(frame.box.height - (clamped / frame.yMax) * frame.box.height);
}

/** The points of `points` inside the window, split into runs to be drawn joined. */
export function runsOf(points: readonly Point[], frame: Frame): { x: number; y: number }[][] {
  const runs: { x: number; y: number }[][] = [];
  let run: { x: number; y: number }[] = [];
  let lastT: number | null = null;
  for (const p of points) {
    if (p.t < frame.t0 || p.t > frame.t1) continue;
    if (p.v === null || (lastT !== null && p.t - lastT > frame.maxGapMs)) {
      if (run.length > 0) runs.push(run);
      run = [];
    }
    if (p.v !== null) {
      run.push({ x: xOf(p.t, frame), y: yOf(p.v, frame) });
      lastT = p.t;
    } else {
      lastT = null;
    }
  }
  if (run.length > 0) runs.push(run);
  return runs;
}

/** An SVG path `d`: each run joined; a run of one point drawn as a short dash so that it shows. */
export function linePath(points: readonly Point[], frame: Frame): string {
  return runsOf(points, frame)
    .map((run) => {
      const [first] = run as [{ x: number; y: number }];
      if (run.length === 1) return `M${round(first.x - 1.5)} ${first.y}h3`;
      return run.map((p, i) => `${i === 0 ? "M" : "L"}${p.x} ${p.y}`).join("");
    })
    .join("");
}

/**
 * The time the charts show: up to `windowMs` (5 minutes) back from `end`, but no further back than the first
 * sample, and at least `minMs` — the first minutes fill the charts' width rather than a sliver at their right.
 */
export function timeWindowOf(firstAt: number | null, end: number, windowMs: number, minMs = 10_000): { t0: number; t1: number } {
  const since = firstAt === null ? end - minMs : firstAt;
  const span = Math.min(windowMs, Math.max(minMs, end - since));
  return { t0: end - span, t1: end };
}

/** How far back the window reaches, for the axis: "40 s ago", "3 min ago", "5 min ago". */
export function spanLabel(window: { t0: number; t1: number }): string {
  const seconds = Math.round((window.t1 - window.t0) / 1000);
  return seconds < 120 ? `${seconds} s ago` : `${Math.round(seconds / 60)} min ago`;
}
