/**
 * The writer's own metrics, on its registry (labelled `process="writer"`) beside the default process ones:
 * requests per endpoint and outcome, the latency of the requests that wrote, typing expiries and the typing
 * notifications still to expire.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { HttpError, toHttpError } from '../http/index.ts';

export class WriterMetrics {
  readonly requests: Counter<'endpoint' | 'status' | 'code'>;
  readonly writeSeconds: Histogram<'endpoint'>;
  readonly typingExpired: Counter;
  readonly typingActive: Gauge;

  /** `typingActive`: how many typing notifications have a timeout still to run out (read at scrape time). */
  constructor(registry: Registry, typingActive: () => number) {
    this.requests = new Counter({
      name: 'slotstream_writer_requests_total',
      help: 'Writer requests by endpoint and answer (code is empty on success)',
      labelNames: ['endpoint', 'status', 'code'],
      registers: [registry],
    });
    this.writeSeconds = new Histogram({
      name: 'slotstream_writer_write_seconds',
      help: 'Time to answer a successful write, transaction and WAL flush included',
      labelNames: ['endpoint'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    });
    this.typingExpired = new Counter({
      name: 'slotstream_writer_typing_expired_total',
      help: 'Typing notifications that ran out and were stopped by the writer',
      registers: [registry],
    });
    this.typingActive = new Gauge({
      name: 'slotstream_writer_typing_active',
      help: 'Typing notifications the writer will stop when their timeout runs out',
      registers: [registry],
      collect() {
        this.set(typingActive());
      },
    });
  }

  /** Runs one request of `endpoint`, counting its outcome and timing it when it succeeded. */
  async measure<T>(endpoint: string, work: () => Promise<T>): Promise<T> {
    const end = this.writeSeconds.startTimer({ endpoint });
    try {
      const result = await work();
      end();
      this.requests.inc({ endpoint, status: '200', code: '' });
      return result;
    } catch (err) {
      const failure = err instanceof HttpError ? err : toHttpError(err);
      this.requests.inc({ endpoint, status: String(failure.status), code: failure.code });
      throw err;
    }
  }
}
