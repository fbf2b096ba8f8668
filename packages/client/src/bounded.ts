/**
 * Runs `work` for each item with at most `limit` running at once, consuming `items` lazily so the producer is
 * paused (backpressure) while the window is full. The first failure stops intake and is rethrown once running
 * work has settled.
 */
export async function forEachBounded<T>(
  items: AsyncIterable<T> | Iterable<T>,
  limit: number,
  work: (item: T) => Promise<void>
): Promise<void> {
  const running = new Set<Promise<void>>()
  let failure: { error: unknown } | undefined
  for await (const item of items) {
    if (failure !== undefined) break
    const task: Promise<void> = work(item).then(
      () => {
        running.delete(task)
      },
      (error: unknown) => {
        running.delete(task)
        failure ??= { error }
      }
    )
    running.add(task)
    if (running.size >= limit) await Promise.race(running)
    if (failure !== undefined) break
  }
  await Promise.all(running)
  if (failure !== undefined) throw failure.error
}
