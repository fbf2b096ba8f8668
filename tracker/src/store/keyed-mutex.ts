/**
 * Runs functions one at a time per key, in call order. Different keys run concurrently. The embedded store
 * uses it to make read-check-write sequences atomic within one process; level's batch makes the write itself
 * atomic on disk.
 */
export class KeyedMutex {
  readonly #tails = new Map<string, Promise<void>>()

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve()
    let release!: () => void
    const current = new Promise<void>((resolve) => {
      release = resolve
    })
    const tail = previous.then(() => current)
    this.#tails.set(key, tail)
    await previous
    try {
      return await fn()
    } finally {
      release()
      // Forget the key once nobody queued behind us, so the map does not grow with every key ever used.
      if (this.#tails.get(key) === tail) this.#tails.delete(key)
    }
  }

  /**
   * Runs `fn` holding the turn of every key, taken one by one in sorted order, so that two callers holding
   * several keys never wait on each other in a circle.
   */
  runAll<T>(keys: Iterable<string>, fn: () => Promise<T>): Promise<T> {
    const sorted = [...new Set(keys)].sort()
    const step = (i: number): Promise<T> => {
      const key = sorted[i]
      return key === undefined ? fn() : this.run(key, () => step(i + 1))
    }
    return step(0)
  }

  /** Resolves once every function queued so far has finished. */
  async drain(): Promise<void> {
    await Promise.all([...this.#tails.values()])
  }
}
