import { Counter, Gauge, type Registry } from 'prom-client';
import type { StreamChangeCache, StreamReader } from 'slotstream';
import type { Pusher } from '../pusher/pusher.ts';
import { readerLag } from './health.ts';
import type { RouteCount } from './routes.ts';

/** What the reader process measures besides its runtime. */
export interface ReaderMeasures {
  /** Requests and the database queries they issued, by route. */
  routes: ReadonlyMap<string, RouteCount>;
  changes: readonly StreamChangeCache[];
  pusher?: Pusher;
}

/**
 * The reader's Prometheus metrics, read from the runtime's counters at scrape time (nothing is counted
 * twice): lag, updates per stream, cache hits/misses/invalidations/updates in place per cache, change caches, waiters,
 * reconnects, resets, and per route the requests served and the database queries they issued (so queries
 * per request). prom-client counters only go up through inc(), so each collect adds the difference since
 * the last one.
 */
export function registerReaderMetrics(
  registry: Registry,
  reader: StreamReader,
  { routes, changes, pusher }: ReaderMeasures,
): void {
  const gauge = (name: string, help: string, collect: (g: Gauge) => void, labelNames: string[] = []) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        collect(this);
      },
    });
  const counter = (
    name: string,
    help: string,
    labelNames: string[],
    values: () => Iterable<[Record<string, string>, number]>,
  ) => {
    const last = new Map<string, number>();
    return new Counter({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        for (const [labels, value] of values()) {
          const key = JSON.stringify(labels);
          const delta = value - (last.get(key) ?? 0);
          if (delta > 0) this.inc(labels, delta);
          last.set(key, value);
        }
      },
    });
  };

  gauge('slotstream_lag_bytes', 'WAL received from the server but not yet applied', (g) =>
    g.set(readerLag(reader).bytes),
  );
  gauge('slotstream_lag_seconds', 'Age of the last applied commit while more WAL waits', (g) =>
    g.set(readerLag(reader).ms / 1000),
  );
  gauge('slotstream_position', 'Highest stream position applied', (g) => g.set(Number(reader.position)));
  gauge('slotstream_waiters', 'Clients waiting for updates', (g) => g.set(reader.notifier.stats.waiters));
  gauge(
    'slotstream_position_waiters',
    'Requests waiting for this reader to apply a position (/wait, a /sync whose since is ahead)',
    (g) => g.set(reader.notifier.stats.positionWaiters),
  );
  gauge(
    'slotstream_cache_size',
    'Entries held per cache',
    (g) => {
      for (const cache of reader.caches?.stats ?? []) g.set({ cache: cache.name }, cache.size);
    },
    ['cache'],
  );
  counter('slotstream_updates_total', 'Stream updates applied', ['stream'], () =>
    Object.entries(reader.stats.updates).map(([stream, n]) => [{ stream }, n]),
  );
  counter('slotstream_transactions_total', 'Transactions applied', [], () => [
    [{}, reader.stats.transactions],
  ]);
  counter('slotstream_reconnects_total', 'Replication connections re-established', [], () => [
    [{}, reader.stats.reconnects],
  ]);
  counter(
    'slotstream_resets_total',
    'Resets (slot lost or recreated): caches flushed, waiters resynced',
    [],
    () => [[{}, reader.stats.resets]],
  );
  for (const kind of ['hits', 'misses', 'invalidations', 'updates'] as const) {
    counter(`slotstream_cache_${kind}_total`, `Cache ${kind} per cache`, ['cache'], () =>
      (reader.caches?.stats ?? []).map((cache) => [{ cache: cache.name }, cache[kind]]),
    );
  }
  gauge(
    'slotstream_change_cache_size',
    'Entities whose last change a change cache remembers',
    (g) => {
      for (const cache of changes) g.set({ cache: cache.name }, cache.size);
    },
    ['cache'],
  );
  for (const [kind, help] of [
    ['hits', 'Change cache questions answered from what it remembers'],
    ['misses', 'Change cache questions about a position older than it remembers ("maybe changed")'],
  ] as const) {
    counter(`slotstream_change_cache_${kind}_total`, help, ['cache'], () =>
      changes.map((cache) => [{ cache: cache.name }, cache.stats[kind]]),
    );
  }
  counter('slotstream_requests_total', 'HTTP requests served, by route', ['route'], () =>
    [...routes].map(([route, count]) => [{ route }, count.requests]),
  );
  counter(
    'slotstream_db_queries_total',
    'Database queries issued serving requests, by route (per request: over slotstream_requests_total)',
    ['route'],
    () => [...routes].map(([route, count]) => [{ route }, count.queries]),
  );
  if (pusher !== undefined) {
    counter('slotstream_pushed_total', 'Events the webhook accepted', [], () => [[{}, pusher.pushed]]);
    counter('slotstream_push_retries_total', 'Failed webhook deliveries, retried', [], () => [
      [{}, pusher.stats.retries],
    ]);
    gauge('slotstream_push_lag_positions', 'Positions applied by the reader and not yet pushed', (g) =>
      g.set(Number(pusher.stats.lag)),
    );
  }
  counter('slotstream_wakes_total', 'Waiters woken by an update', [], () => [
    [{}, reader.notifier.stats.wakes],
  ]);
}
