/** A small line chart of the last minutes (plain SVG, the geometry from chart.ts), and a sparkline. */
import type { ReactNode } from "react";
import { linePath, scaleOf, spanLabel, ticksOf, type Frame } from "./chart.js";
import type { Line } from "./series.js";

/** Line colours, in order. */
export const PALETTE = ["#4338ca", "#0e9f6e", "#d97706", "#db2777", "#0891b2", "#7c3aed", "#65a30d", "#dc2626"];

const WIDTH = 600;
const HEIGHT = 150;
/** Samples come every second: further apart than this, the feed was down and the line breaks. */
export const MAX_GAP_MS = 3_500;

export interface TimeWindow {
  t0: number;
  t1: number;
}

export interface LineChartProps {
  title: string;
  /** What the values are, under the title ("per second", "ms"). */
  unit: string;
  lines: readonly Line[];
  window: TimeWindow;
  format: (value: number) => string;
  testId: string;
  /** The smallest top of the scale (an idle chart is not magnified). */
  floor?: number;
  /** Shown instead of the legend when there are no lines. */
  empty?: string;
}

const lastValue = (line: Line): number | null => {
  for (let i = line.points.length - 1; i >= 0; i--) {
    const v = line.points[i]?.v;
    if (v !== null && v !== undefined) return v;
  }
  return null;
};

export function LineChart({ title, unit, lines, window, format, testId, floor = 1, empty }: LineChartProps): ReactNode {
  const yMax = scaleOf(lines, floor);
  const frame: Frame = { ...window, yMax, box: { width: WIDTH, height: HEIGHT }, maxGapMs: MAX_GAP_MS };
  const ticks = ticksOf(yMax).reverse();
  return (
    <section className="db-panel db-chart" data-testid={testId} aria-label={title}>
      <header className="db-chart__head">
        <h2 className="db-chart__title">{title}</h2>
        <span className="db-chart__unit">{unit}</span>
      </header>
      <div className="db-chart__body">
        <div className="db-chart__ticks" aria-hidden="true">
          {ticks.map((t) => (
            <span key={t}>{format(t)}</span>
          ))}
        </div>
        <div className="db-chart__plot">
          <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} preserveAspectRatio="none" role="img" aria-label={`${title}, from ${spanLabel(window)} until now`}>
            {ticks.map((t) => {
              const y = HEIGHT - (t / yMax) * HEIGHT;
              return <line key={t} className="db-chart__grid" x1={0} x2={WIDTH} y1={y} y2={y} vectorEffect="non-scaling-stroke" />;
            })}
            {lines.map((line, i) => (
              <path
                key={line.key}
                d={linePath(line.points, frame)}
                fill="none"
                stroke={PALETTE[i % PALETTE.length]}
                strokeWidth={2}
                strokeLinejoin="round"
                strokeLinecap="round"
                vectorEffect="non-scaling-stroke"
                data-line={line.key}
              />
            ))}
          </svg>
          <div className="db-chart__axis" aria-hidden="true">
            <span>{spanLabel(window)}</span>
            <span>now</span>
          </div>
        </div>
      </div>
      {lines.length === 0 ? (
        <p className="db-chart__empty">{empty ?? "Nothing yet"}</p>
      ) : (
        <ul className="db-legend">
          {lines.map((line, i) => {
            const v = lastValue(line);
            return (
              <li key={line.key} className="db-legend__item" data-line={line.key}>
                <span className="db-legend__swatch" style={{ background: PALETTE[i % PALETTE.length] }} aria-hidden="true" />
                <span className="db-legend__label">{line.label}</span>
                <span className="db-legend__value">{v === null ? "—" : format(v)}</span>
              </li>
            );
          })}
        </ul>
      )}
    </section>
  );
}

export function Sparkline({ line, window, floor = 1 }: { line: Line; window: TimeWindow; floor?: number }): ReactNode {
  const width = 200;
  const height = 36;
  const yMax = scaleOf([line], floor);
  const frame: Frame = { ...window, yMax, box: { width, height: height - 2 }, maxGapMs: MAX_GAP_MS };
  return (
    <svg className="db-spark" viewBox={`0 -1 ${width} ${height}`} preserveAspectRatio="none" aria-hidden="true">
      <path d={linePath(line.points, frame)} fill="none" stroke="currentColor" strokeWidth={1.5} vectorEffect="non-scaling-stroke" />
    </svg>
  );
}
