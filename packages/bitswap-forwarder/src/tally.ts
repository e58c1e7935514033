import type { CounterGroup } from '@libp2p/interface'

/**
 * Running counts by name. `count()` adds to the tally that `stats()`
 * reports and, for the names exported with `export()`, increments a
 * Prometheus counter label by as much, at the event. (A counter registered
 * with `calculate` would not do: `@libp2p/prometheus-metrics` adds what
 * `calculate` returns on every scrape, so a running total is counted again
 * each time.)
 */
export class Tally <K extends string> {
  private readonly values: Record<K, number>
  private readonly exported = new Map<K, (by: number) => void>()

  constructor (names: readonly K[]) {
    this.values = Object.fromEntries(names.map(name => [name, 0])) as Record<K, number>
  }

  count (name: K, by = 1): void {
    if (by === 0) {
      return
    }
    this.values[name] += by
    this.exported.get(name)?.(by)
  }

  get (name: K): number {
    return this.values[name]
  }

  snapshot (): Record<K, number> {
    return { ...this.values }
  }

  /**
   * From now on `count(name)` also increments `labels[name]` of `group`.
   * Every label is exported at once, at what was counted so far.
   */
  export (group: CounterGroup, labels: Partial<Record<K, string>>): void {
    const start: Record<string, number> = {}
    for (const [name, label] of Object.entries(labels) as Array<[K, string]>) {
      start[label] = this.values[name]
      this.exported.set(name, by => { group.increment({ [label]: by }) })
    }
    group.increment(start)
  }
}
