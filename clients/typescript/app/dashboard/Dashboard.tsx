/**
 * The live dashboard: the figures of `GET /v1/stats` over every instance, updated every second, with charts of
 * the last 5 minutes, each instance and the total, and a banner while the feed is down.
 *
 * The `data-testid` attributes are the contract of the browser test (e2e/dashboard.test.ts): keep them.
 */
import { useEffect, useState, type FormEvent, type ReactNode } from "react";
import { cardsOf, type Card } from "./cards.js";
import { timeWindowOf } from "./chart.js";
import { bannerOf, type FeedState } from "./feed.js";
import { closeCodeMeaning, closeCodeName, formatAgo, formatCount, formatDuration, formatMs, formatPlain, formatRate } from "./format.js";
import { LineChart, Sparkline, type TimeWindow } from "./LineChart.js";
import { latestSample, WINDOW_MS, type Sample } from "./samples.js";
import { allDisconnects, counterRate, disconnectRows, eventTypeLines, instanceLines, seriesOf, type Line } from "./series.js";
import type { DashboardState } from "./state.js";
import type { InstanceStats } from "./stats.js";

export interface DashboardProps {
  state: DashboardState;
  /** The page's clock (ms), ticking every second: the charts' window ends there. */
  now: number;
  onChangeKey: () => void;
}

export function Dashboard({ state, now, onChangeKey }: DashboardProps): ReactNode {
  const { feed, samples } = state;
  const last = latestSample(samples);
  const end = Math.max(now, last?.at ?? now); // a sample newer than the clock's last tick is still shown
  const window: TimeWindow = timeWindowOf(samples[0]?.at ?? null, end, WINDOW_MS);
  const banner = bannerOf(feed);
  return (
    <div className="nc-shell db-shell">
      <header className="nc-header">
        <div className="nc-header__inner db-header">
          <div className="nc-brand">
            <span className="nc-brand__mark" aria-hidden="true">
              <PulseIcon />
            </span>
            <div>
              <h1 className="nc-brand__title">Arda live dashboard</h1>
              <div className="nc-brand__meta">
                <span className="nc-meta-item" data-testid="instance-count">
                  {last ? `${last.feed.instances.length} ${last.feed.instances.length === 1 ? "instance" : "instances"}` : "no answer yet"}
                </span>
                {last && <span className="nc-meta-item">answered by {last.feed.instance}</span>}
                {feed.lastOkAt !== null && (
                  <span className="nc-meta-item" data-testid="updated">
                    updated {formatAgo(Math.max(0, now - feed.lastOkAt))}
                  </span>
                )}
              </div>
            </div>
          </div>
          <div className="nc-status-wrap">
            <FeedStatus feed={feed} />
            <button type="button" className="nc-btn nc-btn--secondary nc-btn--small" data-testid="change-key" onClick={onChangeKey}>
              Change key
            </button>
          </div>
        </div>
      </header>
      <main className="db-main">
        {banner && (
          <div className="nc-banner nc-banner--error db-banner" role="alert" data-testid="feed-down" data-problem={feed.problem?.kind}>
            <div className="nc-banner__body">
              <strong data-testid="feed-down-title">{banner.title}</strong>
              <span className="nc-banner__detail">
                {banner.detail}
                {feed.downSince !== null && ` Down since ${new Date(feed.downSince).toLocaleTimeString("en-GB")} (${feed.failures} failed ${feed.failures === 1 ? "attempt" : "attempts"}).`}
                {feed.lastOkAt !== null && " The figures below are the last ones received."}
              </span>
            </div>
            {feed.problem?.kind === "unauthorized" && (
              <div className="nc-banner__actions">
                <button type="button" className="nc-btn nc-btn--small nc-btn--secondary" onClick={onChangeKey}>
                  Enter the key
                </button>
              </div>
            )}
          </div>
        )}
        <section className="db-cards" aria-label="Figures now">
          {cardsOf(samples).map((card) => (
            <StatCard key={card.id} card={card} window={window} />
          ))}
        </section>
        <Charts samples={samples} window={window} />
        <InstancesTable last={last} />
        <div className="db-row">
          <DisconnectsTable samples={samples} />
          <TenantsTable last={last} />
        </div>
      </main>
    </div>
  );
}

function FeedStatus({ feed }: { feed: FeedState }): ReactNode {
  const [label, tone] =
    feed.phase === "up" ? ["live", "connected"] : feed.phase === "down" ? ["feed down", "unauthorized"] : ["waiting", "connecting"];
  return (
    <span className={`nc-status nc-status--${tone}`} data-testid="feed-status" data-phase={feed.phase}>
      <span className="nc-status__dot" aria-hidden="true" />
      <span className="nc-status__text">{label}</span>
    </span>
  );
}

function StatCard({ card, window }: { card: Card; window: TimeWindow }): ReactNode {
  return (
    <div className={`db-panel db-card${card.alarm ? " db-card--alarm" : ""}`} data-testid={`stat-${card.id}`} data-value={card.raw ?? ""}>
      <span className="db-card__label">{card.label}</span>
      <span className="db-card__value" data-testid={`value-${card.id}`}>
        {card.value}
      </span>
      <span className="db-card__note">{card.note}</span>
      <Sparkline line={card.spark} window={window} floor={card.floor} />
    </div>
  );
}

function Charts({ samples, window }: { samples: readonly Sample[]; window: TimeWindow }): ReactNode {
  const several = samples.some((s) => s.feed.instances.length > 1);
  const total = (key: string, label: string, pick: (s: Sample) => number | null): Line => ({ key, label, points: seriesOf(samples, pick) });
  const deliveries: Line[] = [
    total("total", several ? "total" : "deliveries", (s) => s.overview.total.deliveriesPerSecond),
    ...(several ? instanceLines(samples, (i) => i.deliveriesPerSecond) : []),
  ];
  const connections: Line[] = [
    total("connections", "connections", (s) => s.overview.total.connections),
    total("authenticated", "authenticated", (s) => s.overview.total.authenticatedConnections),
    total("subscriptions", "subscriptions", (s) => s.overview.total.subscriptions),
  ];
  const latency: Line[] = [
    total("p50", "p50", (s) => s.overview.latencyMs.p50),
    total("p99", "p99", (s) => s.overview.latencyMs.p99),
  ];
  const closes: Line[] = [
    { key: "disconnects", label: "disconnects", points: counterRate(samples, allDisconnects) },
    { key: "slow-consumers", label: "slow-consumer closes", points: counterRate(samples, (i) => i.slowConsumerCloses) },
    { key: "bus", label: "bus reconnects + gaps", points: counterRate(samples, (i) => i.busReconnects + i.gaps) },
    { key: "dead-letters", label: "dead letters", points: counterRate(samples, (i) => i.deadLetters) },
  ];
  return (
    <section className="db-charts" aria-label="The last minutes">
      <LineChart title="Deliveries" unit={several ? "per second, total and by instance" : "per second"} lines={deliveries} window={window} format={formatRate} testId="chart-deliveries" />
      <LineChart
        title="Events received by type"
        unit={several ? "per second, summed over instances" : "per second"}
        lines={eventTypeLines(samples)}
        window={window}
        format={formatRate}
        testId="chart-events"
        empty="No event in the last 5 minutes"
      />
      <LineChart title="Connections" unit={several ? "now, every instance" : "now"} lines={connections} window={window} format={formatCount} testId="chart-connections" floor={5} />
      <LineChart
        title="Latency, publish → delivery"
        unit={several ? "ms over the last minute, the slowest instance" : "ms over the last minute"}
        lines={latency}
        window={window}
        format={formatPlain}
        testId="chart-latency"
      />
      <LineChart title="Closes and bus trouble" unit="per second" lines={closes} window={window} format={formatRate} testId="chart-closes" />
    </section>
  );
}

function InstanceCells({ i }: { i: Pick<InstanceStats, "connections" | "authenticatedConnections" | "subscriptions" | "eventsPerSecond" | "deliveriesPerSecond" | "slowConsumerCloses" | "busReconnects" | "gaps" | "deadLetters"> }): ReactNode {
  return (
    <>
      <td data-col="connections">{formatCount(i.connections)}</td>
      <td data-col="authenticated">{formatCount(i.authenticatedConnections)}</td>
      <td data-col="subscriptions">{formatCount(i.subscriptions)}</td>
      <td data-col="events">{formatRate(i.eventsPerSecond)}</td>
      <td data-col="deliveries">{formatRate(i.deliveriesPerSecond)}</td>
      <td data-col="slow-consumers">{formatCount(i.slowConsumerCloses)}</td>
      <td data-col="bus-reconnects">{formatCount(i.busReconnects)}</td>
      <td data-col="gaps">{formatCount(i.gaps)}</td>
      <td data-col="dead-letters">{formatCount(i.deadLetters)}</td>
    </>
  );
}

function InstancesTable({ last }: { last: Sample | null }): ReactNode {
  const instances = last?.feed.instances ?? [];
  return (
    <section className="db-panel db-table-panel" data-testid="instances" aria-label="Instances">
      <h2 className="db-table-panel__title">Instances</h2>
      <div className="db-table-scroll">
        <table className="db-table">
          <thead>
            <tr>
              <th scope="col">Instance</th>
              <th scope="col">Up</th>
              <th scope="col">Conn.</th>
              <th scope="col">Auth.</th>
              <th scope="col">Subs.</th>
              <th scope="col">Events/s</th>
              <th scope="col">Deliv./s</th>
              <th scope="col">Slow</th>
              <th scope="col">Bus rec.</th>
              <th scope="col">Gaps</th>
              <th scope="col">Dead l.</th>
              <th scope="col">p50</th>
              <th scope="col">p99</th>
            </tr>
          </thead>
          <tbody>
            {instances.map((i) => (
              <tr key={i.instance} data-testid="instance-row" data-instance={i.instance} data-self={String(i.instance === last?.feed.instance)}>
                <th scope="row">
                  <code>{i.instance}</code>
                  {i.instance === last?.feed.instance && <span className="db-tag">answering</span>}
                </th>
                <td>{formatDuration(i.uptimeSeconds)}</td>
                <InstanceCells i={i} />
                <td>{formatMs(i.latencyMs.p50)}</td>
                <td>{formatMs(i.latencyMs.p99)}</td>
              </tr>
            ))}
            {instances.length === 0 && (
              <tr>
                <td colSpan={13} className="db-table__empty">
                  No answer yet
                </td>
              </tr>
            )}
          </tbody>
          {last && (
            <tfoot>
              <tr data-testid="instance-total">
                <th scope="row">Total</th>
                <td />
                <InstanceCells i={last.overview.total} />
                <td>{formatMs(last.overview.latencyMs.p50)}</td>
                <td>{formatMs(last.overview.latencyMs.p99)}</td>
              </tr>
            </tfoot>
          )}
        </table>
      </div>
    </section>
  );
}

function DisconnectsTable({ samples }: { samples: readonly Sample[] }): ReactNode {
  const rows = disconnectRows(samples);
  return (
    <section className="db-panel db-table-panel" data-testid="disconnects" aria-label="Disconnects by close code">
      <h2 className="db-table-panel__title">Disconnects by close code</h2>
      <table className="db-table">
        <thead>
          <tr>
            <th scope="col">Code</th>
            <th scope="col">Since start</th>
            <th scope="col">Last 5 min</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr key={row.code} data-testid="disconnect-row" data-code={row.code} title={closeCodeMeaning(row.code)}>
              <th scope="row">
                <code>{row.code}</code> {closeCodeName(row.code) ?? "unknown"}
              </th>
              <td>{formatCount(row.total)}</td>
              <td>{row.recent > 0 ? `+${formatCount(row.recent)}` : "0"}</td>
            </tr>
          ))}
          {rows.length === 0 && (
            <tr>
              <td colSpan={3} className="db-table__empty">
                No disconnect yet
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </section>
  );
}

function TenantsTable({ last }: { last: Sample | null }): ReactNode {
  const tenants = last?.overview.topTenants ?? [];
  const top = tenants[0]?.deliveriesPerSecond ?? 0;
  return (
    <section className="db-panel db-table-panel" data-testid="tenants" aria-label="Top tenants by deliveries">
      <h2 className="db-table-panel__title">Top tenants by deliveries</h2>
      <table className="db-table">
        <thead>
          <tr>
            <th scope="col">Tenant</th>
            <th scope="col">Deliveries/s</th>
          </tr>
        </thead>
        <tbody>
          {tenants.map((t) => (
            <tr key={t.tenantId} data-testid="tenant-row" data-tenant={t.tenantId}>
              <th scope="row">
                <code>{t.tenantId}</code>
              </th>
              <td className="db-bar-cell">
                <span className="db-bar" style={{ width: `${top > 0 ? (t.deliveriesPerSecond / top) * 100 : 0}%` }} aria-hidden="true" />
                <span className="db-bar-value">{formatRate(t.deliveriesPerSecond)}</span>
              </td>
            </tr>
          ))}
          {tenants.length === 0 && (
            <tr>
              <td colSpan={2} className="db-table__empty">
                No delivery in the last 5 s
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </section>
  );
}

export interface KeyFormProps {
  onKey: (key: string) => void;
  /** Why the key is asked for again (the last one was refused), if so. */
  refused: boolean;
  onCancel?: (() => void) | undefined;
}

/** Asks for the API key; the key stays in memory (React state) only. */
export function KeyForm({ onKey, refused, onCancel }: KeyFormProps): ReactNode {
  const [value, setValue] = useState("");
  const submit = (event: FormEvent): void => {
    event.preventDefault();
    const key = value.trim();
    if (key) onKey(key);
  };
  return (
    <main className="nc-notice">
      <form className="nc-panel nc-notice__card db-key" data-testid="key-form" onSubmit={submit}>
        <h1 className="nc-notice__title">Arda live dashboard</h1>
        <p>
          The dashboard reads <code className="nc-code">GET /v1/stats</code> with the service&apos;s API key (
          <code className="nc-code">ARDA_API_KEY</code>). It is kept in this page&apos;s memory only: a reload asks again.
          {" "}<code className="nc-code">/dashboard?key=…</code> works too.
        </p>
        {refused && (
          <p className="db-key__refused" role="alert">
            The service refused the last key (401).
          </p>
        )}
        <label className="db-key__label">
          API key
          <input
            className="db-key__input"
            type="password"
            name="key"
            autoComplete="off"
            spellCheck={false}
            autoFocus
            value={value}
            onChange={(e) => setValue(e.target.value)}
            data-testid="key-input"
          />
        </label>
        <div className="db-key__actions">
          <button type="submit" className="nc-btn nc-btn--primary" data-testid="key-submit" disabled={!value.trim()}>
            Show the dashboard
          </button>
          {onCancel && (
            <button type="button" className="nc-btn nc-btn--ghost" onClick={onCancel}>
              Cancel
            </button>
          )}
        </div>
      </form>
    </main>
  );
}

/** The page's clock, ticking every `ms`. */
export function useNow(ms: number): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(timer);
  }, [ms]);
  return now;
}

function PulseIcon(): ReactNode {
  return (
    <svg className="nc-icon" width="22" height="22" viewBox="0 0 24 24" fill="none" stroke="currentColor" strokeWidth="2" strokeLinecap="round" strokeLinejoin="round">
      <path d="M3 12h4l2.5-6 5 12 2.5-6h4" />
    </svg>
  );
}
