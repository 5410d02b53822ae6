/**
 * Counters and histograms for GET /metrics, rendered in the Prometheus text exposition format (version 0.0.4):
 *   # HELP name text
 *   # TYPE name counter|gauge|histogram
 *   name{label="value"} 123
 * Label values are escaped (\\, \", \n) as the format requires.
 */

/** Request latency buckets, seconds. */
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

type Labels = Record<string, string>;

const escape = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
const labelText = (l: Labels) => {
  const keys = Object.keys(l);
  return keys.length ? `{${keys.map((k) => `${k}="${escape(l[k])}"`).join(',')}}` : '';
};

interface Histogram {
  labels: Labels;
  counts: number[]; // [BUCKETS.length] non-cumulative
  sum: number;
  count: number;
}

/** A gauge read at scrape time. */
export type GaugeSource = () => { labels?: Labels; value: number }[];

export class Metrics {
  private readonly counters = new Map<string, { help: string; series: Map<string, { labels: Labels; value: number }> }>();
  private readonly histograms = new Map<string, Histogram>();
  private readonly gauges = new Map<string, { help: string; read: GaugeSource }>();

  /** Adds `by` to counter `name{labels}`. */
  inc(name: string, help: string, labels: Labels = {}, by = 1): void {
    let c = this.counters.get(name);
    if (!c) this.counters.set(name, (c = { help, series: new Map() }));
    const key = labelText(labels);
    const s = c.series.get(key);
    if (s) s.value += by;
    else c.series.set(key, { labels, value: by });
  }

  /** Records one request latency (seconds) in tessera_request_duration_seconds{route}. */
  observeLatency(route: string, seconds: number): void {
    const key = route;
    let h = this.histograms.get(key);
    if (!h) this.histograms.set(key, (h = { labels: { route }, counts: new Array(BUCKETS.length).fill(0), sum: 0, count: 0 }));
    const i = BUCKETS.findIndex((b) => seconds <= b);
    if (i >= 0) h.counts[i]++;
    h.sum += seconds;
    h.count++;
  }

  /** Registers a gauge whose values are read at each scrape. */
  gauge(name: string, help: string, read: GaugeSource): void {
    this.gauges.set(name, { help, read });
  }

  /** The Prometheus text exposition. */
  render(): string {
    const out: string[] = [];
    for (const [name, c] of this.counters) {
      out.push(`# HELP ${name} ${c.help}`, `# TYPE ${name} counter`);
      for (const s of c.series.values()) out.push(`${name}${labelText(s.labels)} ${s.value}`);
    }
    const hname = 'tessera_request_duration_seconds';
    out.push(`# HELP ${hname} Request latency until the response started (headers; streams continue after).`, `# TYPE ${hname} histogram`);
    for (const h of this.histograms.values()) {
      let cum = 0;
      for (let i = 0; i < BUCKETS.length; i++) {
        cum += h.counts[i];
        out.push(`${hname}_bucket${labelText({ ...h.labels, le: String(BUCKETS[i]) })} ${cum}`);
      }
      out.push(`${hname}_bucket${labelText({ ...h.labels, le: '+Inf' })} ${h.count}`);
      out.push(`${hname}_sum${labelText(h.labels)} ${h.sum}`, `${hname}_count${labelText(h.labels)} ${h.count}`);
    }
    for (const [name, g] of this.gauges) {
      out.push(`# HELP ${name} ${g.help}`, `# TYPE ${name} gauge`);
      for (const s of g.read()) out.push(`${name}${labelText(s.labels ?? {})} ${s.value}`);
    }
    return out.join('\n') + '\n';
  }
}
