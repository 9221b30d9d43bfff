/** Label value of every action id past the cap. */
export const OTHER_ACTION = 'other';

/**
 * Caps the distinct `action` label values: the first `limit` action ids seen keep their own
 * series, later ones share `other`, so a caller inventing action ids cannot blow up the
 * number of series.
 */
export class ActionLabels {
  private readonly labels = new Map<string, string>();

  constructor(private readonly limit = 200) {}

  of(actionId: string): string {
    const known = this.labels.get(actionId);
    if (known !== undefined) return known;
    const label = this.labels.size < this.limit ? actionId : OTHER_ACTION;
    if (label !== OTHER_ACTION) this.labels.set(actionId, label);
    return label;
  }

  /** Action ids with a series of their own. */
  known(): IterableIterator<string> {
    return this.labels.keys();
  }
}

/**
 * Attribute objects built once per label combination and reused on every recording, so the
 * hot path allocates nothing.
 */
export class AttributeCache<T extends object> {
  private readonly byKey = new Map<string | number, Map<string | number, T>>();

  constructor(private readonly build: (a: string | number, b: string | number) => T) {}

  get(a: string | number, b: string | number): T {
    let inner = this.byKey.get(a);
    if (inner === undefined) {
      inner = new Map();
      this.byKey.set(a, inner);
    }
    let attributes = inner.get(b);
    if (attributes === undefined) {
      attributes = Object.freeze(this.build(a, b));
      inner.set(b, attributes);
    }
    return attributes;
  }
}

/** The slice of an OpenTelemetry observable counter that `LocalCounter` needs. */
export interface ObservableCounterLike {
  addCallback(callback: (result: ObservableResultLike) => void): void;
  removeCallback(callback: (result: ObservableResultLike) => void): void;
}
export interface ObservableResultLike {
  observe(value: number, attributes?: object): void;
}

/**
 * A counter kept as plain totals per (reused) attribute object, reported through an observable
 * counter when metrics are collected. An increment is one Map update by object identity; a
 * synchronous OpenTelemetry counter would hash its attribute set on every add, which matters
 * for counts bumped once per item.
 */
export class LocalCounter {
  private readonly totals = new Map<object, number>();
  private readonly report = (result: ObservableResultLike): void => {
    for (const [attributes, value] of this.totals) result.observe(value, attributes);
  };

  constructor(private readonly instrument: ObservableCounterLike) {
    instrument.addCallback(this.report);
  }

  /** Same signature as an OpenTelemetry counter's `add`; `attributes` should be a reused object. */
  add(value: number, attributes: object): void {
    this.totals.set(attributes, (this.totals.get(attributes) ?? 0) + value);
  }

  /** Stops reporting (the application is closing). */
  detach(): void {
    this.instrument.removeCallback(this.report);
  }
}
