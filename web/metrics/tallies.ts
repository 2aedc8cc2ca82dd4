// Counters and histograms whose series are plain numbers, bumped on the request path without
// allocating, and handed to prom-client only when scraped. prom-client's own observe builds a
// label hash string and looks up float bucket bounds as property keys on every call (see
// docs/architecture.md, "Metrics").
import { Counter, Histogram, type Registry } from "prom-client";

type Key = string | number;

/** The series of one metric, one per combination of up to three label values, made on first use. */
export class Family<S> {
  /** Every series, in the order first seen. */
  readonly all: S[] = [];
  #root = new Map<Key, Map<Key, Map<Key, S>>>();
  #labelNames: readonly string[];
  #make: (labels: Record<string, string>) => S;

  constructor(labelNames: readonly string[], make: (labels: Record<string, string>) => S) {
    if (labelNames.length > 3) throw new Error("a family takes at most three labels");
    this.#labelNames = labelNames;
    this.#make = make;
  }

  /** The series of these label values (in the order of the label names). */
  get(a: Key = "", b: Key = "", c: Key = ""): S {
    let l1 = this.#root.get(a);
    if (!l1) this.#root.set(a, l1 = new Map());
    let l2 = l1.get(b);
    if (!l2) l1.set(b, l2 = new Map());
    let series = l2.get(c);
    if (series === undefined) {
      const labels: Record<string, string> = {};
      const values = [a, b, c];
      this.#labelNames.forEach((name, i) => (labels[name] = String(values[i])));
      l2.set(c, series = this.#make(labels));
      this.all.push(series);
    }
    return series;
  }
}

/** One counter series. */
export interface CounterSeries {
  readonly labels: Record<string, string>;
  value: number;
}

/** A prom-client counter fed at scrape time from a family of plain counts. */
export function talliedCounter(
  opts: { name: string; help: string; labelNames: readonly string[]; registers: Registry[] },
): Family<CounterSeries> {
  const family = new Family<CounterSeries>(opts.labelNames, (labels) => ({ labels, value: 0 }));
  new Counter({
    ...opts,
    collect() {
      this.reset();
      for (const s of family.all) this.inc(s.labels, s.value);
    },
  });
  return family;
}

/** One histogram series: counts per bucket (the last is +Inf), their sum and count. */
export class HistogramSeries {
  readonly labels: Record<string, string>;
  readonly bounds: readonly number[];
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(labels: Record<string, string>, bounds: readonly number[]) {
    this.labels = labels;
    this.bounds = bounds;
    this.counts = new Float64Array(bounds.length + 1);
  }

  /** Counts one value. */
  observe(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]) i++;
    this.counts[i]++;
    this.sum += value;
    this.count++;
  }
}

/** What prom-client's registry reads of a histogram (its typings give `type` as a number). */
type HistogramExport = Awaited<ReturnType<Histogram<string>["get"]>>;

/** A histogram whose series are {@link HistogramSeries}, exposed through prom-client's registry. */
export class TalliedHistogram extends Histogram<string> {
  readonly series: Family<HistogramSeries>;
  readonly #name: string;
  readonly #help: string;

  constructor(
    opts: {
      name: string;
      help: string;
      labelNames?: readonly string[];
      buckets: number[];
      registers: Registry[];
    },
  ) {
    super({ ...opts, labelNames: opts.labelNames ?? [] });
    this.#name = opts.name;
    this.#help = opts.help;
    const bounds = [...opts.buckets];
    this.series = new Family(opts.labelNames ?? [], (labels) => new HistogramSeries(labels, bounds));
  }

  /** What prom-client's registry renders: cumulative buckets, then sum and count, per series. */
  override get(): Promise<HistogramExport> {
    const name = this.#name;
    const values = [];
    for (const s of this.series.all) {
      let cumulative = 0;
      for (let i = 0; i <= s.bounds.length; i++) {
        cumulative += s.counts[i];
        const le = i < s.bounds.length ? String(s.bounds[i]) : "+Inf";
        values.push({ metricName: `${name}_bucket`, labels: { ...s.labels, le }, value: cumulative });
      }
      values.push({ metricName: `${name}_sum`, labels: s.labels, value: s.sum });
      values.push({ metricName: `${name}_count`, labels: s.labels, value: s.count });
    }
    return Promise.resolve(
      { name, help: this.#help, type: "histogram", values } as unknown as HistogramExport,
    );
  }

  /** The registry asks for this form first when a metric has it: the same values. */
  getForPromString(): Promise<HistogramExport> {
    return this.get();
  }
}
