import { NodeRates } from '@shoal/client'
import { describe, expect, it } from 'vitest'
import { keepNodeRates, loadNodeRates } from '../src/node-rates-store.ts'

/** A Storage-shaped map; `full` makes every write fail as a full or refused localStorage does. */
function memoryStorage(full = false) {
  const items = new Map<string, string>()
  return {
    items,
    getItem: (key: string) => items.get(key) ?? null,
    setItem: (key: string, value: string) => {
      if (full) throw new DOMException('quota exceeded', 'QuotaExceededError')
      items.set(key, value)
    }
  }
}

describe('node rates kept in the browser', () => {
  it('writes them when the page is hidden or left, and the next visit starts from them', () => {
    const storage = memoryStorage()
    const page = new EventTarget()
    let visibility = 'visible'
    const rates = loadNodeRates(storage)
    const stop = keepNodeRates(rates, storage, page, () => visibility)

    page.dispatchEvent(new Event('pagehide'))
    expect(storage.items.size).toBe(0) // nothing measured yet, nothing written

    rates.record('12D3KooWfast', 40_000)
    page.dispatchEvent(new Event('visibilitychange'))
    expect(storage.items.size).toBe(0) // still visible
    visibility = 'hidden'
    page.dispatchEvent(new Event('visibilitychange'))
    expect(loadNodeRates(storage).rate('12D3KooWfast')).toBe(40_000)

    rates.record('12D3KooWslow', 3_000)
    stop()
    page.dispatchEvent(new Event('pagehide'))
    expect(loadNodeRates(storage).rate('12D3KooWslow')).toBeUndefined()
  })

  it('a damaged, foreign or missing record, or storage that refuses writes, costs only the head start', () => {
    const storage = memoryStorage()
    for (const text of ['{"v":1,"rates":[["x",', 'null', '"text"', '{"v":9}']) {
      storage.items.set('shoal.node-rates', text)
      expect(loadNodeRates(storage).toJSON().rates).toEqual([])
    }
    expect(loadNodeRates(undefined).toJSON().rates).toEqual([])

    const full = memoryStorage(true)
    const page = new EventTarget()
    const rates = new NodeRates()
    rates.record('12D3KooWa', 1)
    keepNodeRates(rates, full, page)
    expect(() => page.dispatchEvent(new Event('pagehide'))).not.toThrow()
    expect(full.items.size).toBe(0)
  })
})
