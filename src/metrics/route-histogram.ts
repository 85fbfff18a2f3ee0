import type { Registry } from 'prom-client';

/** One label set of the histogram: per-bucket counts (not cumulative), sum and count. */
interface Series {
  readonly labels: Readonly<Record<'method' | 'route' | 'status_class', string>>;
  readonly counts: number[];
  sum: number;
  count: number;
}

const STATUS_CLASSES = ['0xx', '1xx', '2xx', '3xx', '4xx', '5xx'];

/**
 * The request-duration histogram (labels method, route template, status class), recorded without
 * prom-client's per-observation work (building and hashing a label object, validating it, a
 * lookup in a dictionary keyed by the hash): the series of a request is found by route, method
 * and status class in nested maps, and one observation is a bucket search and three additions.
 * Registered on a prom-client Registry as a metric of type histogram; a scrape reads exactly
 * what prom-client's Histogram would print (cumulative `_bucket` lines with `le`, `+Inf`, `_sum`,
 * `_count`).
 */
export class RouteHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly bounds: readonly number[];
  private series = new Map<string, Map<string, (Series | undefined)[]>>();

  constructor(
    readonly name: string,
    readonly help: string,
    buckets: readonly number[],
    registers: readonly Registry[],
  ) {
    this.bounds = Object.freeze([...buckets].sort((a, b) => a - b));
    for (const registry of registers) registry.registerMetric(this as never);
  }

  /** Records one request of `seconds`. `route` must be a route template, never a raw path. */
  observe(method: string, route: string, statusCode: number, seconds: number): void {
    if (!Number.isFinite(seconds)) return;
    let byMethod = this.series.get(route);
    if (byMethod === undefined) {
      byMethod = new Map();
      this.series.set(route, byMethod);
    }
    let byClass = byMethod.get(method);
    if (byClass === undefined) {
      byClass = [];
      byMethod.set(method, byClass);
    }
    const statusIndex = Math.min(Math.max(Math.floor(statusCode / 100), 0), 5);
    let series = byClass[statusIndex];
    if (series === undefined) {
      series = {
        labels: { method, route, status_class: STATUS_CLASSES[statusIndex]! },
        counts: new Array<number>(this.bounds.length).fill(0),
        sum: 0,
        count: 0,
      };
      byClass[statusIndex] = series;
    }
    const { bounds } = this;
    for (let i = 0; i < bounds.length; i++) {
      if (seconds <= bounds[i]!) {
        series.counts[i]! += 1;
        break;
      }
    }
    series.sum += seconds;
    series.count += 1;
  }

  reset(): void {
    this.series = new Map();
  }

  /** The metric in prom-client's shape, for the registry. */
  get(): Promise<{
    name: string;
    help: string;
    type: string;
    aggregator: string;
    values: { labels: Record<string, string | number>; value: number; metricName: string }[];
  }> {
    const values: {
      labels: Record<string, string | number>;
      value: number;
      metricName: string;
    }[] = [];
    const bucket = `${this.name}_bucket`;
    for (const byMethod of this.series.values()) {
      for (const byClass of byMethod.values()) {
        for (const series of byClass) {
          if (series === undefined) continue;
          let cumulative = 0;
          this.bounds.forEach((bound, i) => {
            cumulative += series.counts[i]!;
            values.push({
              labels: { le: bound, ...series.labels },
              value: cumulative,
              metricName: bucket,
            });
          });
          values.push(
            { labels: { le: '+Inf', ...series.labels }, value: series.count, metricName: bucket },
            { labels: { ...series.labels }, value: series.sum, metricName: `${this.name}_sum` },
            { labels: { ...series.labels }, value: series.count, metricName: `${this.name}_count` },
          );
        }
      }
    }
    return Promise.resolve({
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values,
    });
  }
}
