/**
 * Prometheus metrics. Each process gets its own Registry (not prom-client's global one), so two servers in
 * one process — tests do that — never collide over metric names. Only the default process metrics (CPU,
 * memory, event-loop lag, GC, handles) are defined here; application metrics belong to the runtime that
 * owns what they measure and are registered on the same Registry.
 */
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { Handler } from './router.ts';

/** A Registry with the default process metrics; `labels` (e.g. `{process: 'reader_1'}`) go on every metric. */
export function createMetricsRegistry(labels?: Record<string, string>): Registry {
  const registry = new Registry();
  if (labels) registry.setDefaultLabels(labels);
  collectDefaultMetrics({ register: registry });
  return registry;
}

/** `GET /metrics`: the registry in the Prometheus text format, with the content type it declares. */
export function metricsHandler(registry: Registry): Handler {
  return async () => ({ text: await registry.metrics(), contentType: registry.contentType });
}
