import type { ObjectEntry } from '@shoal/client'
import { describe, expect, it, vi } from 'vitest'
import { backfillThumbnails } from '../src/thumb-backfill.ts'

function photo(id: string): ObjectEntry {
  return { id, name: `${id}.png`, mime: 'image/png', size: 100, meta: {} } as unknown as ObjectEntry
}

/** A client whose downloads wait for `release` (or fail while `failing` > 0), recording renames. */
function fakeClient() {
  const renamed: string[] = []
  let release: () => void = () => {}
  const state = { gets: 0, failing: 0, hold: false, renamed }
  const client = {
    get: async (name: string, options: { signal?: AbortSignal }) => {
      state.gets++
      if (state.failing > 0) {
        state.failing--
        throw Object.assign(new Error(`node busy for ${name}`), { code: 'ERR_TIMEOUT' })
      }
      if (state.hold) {
        await new Promise<void>((resolve, reject) => {
          release = resolve
          options.signal?.addEventListener('abort', () => reject(new Error('aborted')))
        })
      }
      return {
        stream: (async function* () {
          yield new Uint8Array([1, 2, 3])
        })()
      }
    },
    rename: async (name: string, to: string, meta: { thumb: string }) => {
      renamed.push(`${name}->${to}:${meta.thumb}`)
    }
  }
  return { client: client as never, state, release: () => release() }
}

describe('the album thumbnail backfill', () => {
  it('a run started right after one was aborted takes over the photo that run was fetching', async () => {
    const { client, state } = fakeClient()
    state.hold = true
    const first = new AbortController()
    const running = backfillThumbnails(
      client,
      [photo('race')],
      first.signal,
      () => {},
      async () => 'T'
    )
    await vi.waitFor(() => expect(state.gets).toBe(1))
    // The list reloaded: React aborts the old run and starts the new one in the same tick.
    first.abort()
    state.hold = false
    const added = vi.fn()
    await backfillThumbnails(client, [photo('race')], new AbortController().signal, added, async () => 'T')
    await running
    expect(state.gets).toBe(2)
    expect(state.renamed).toEqual(['race.png->race.png:T'])
    expect(added).toHaveBeenCalledOnce()
  })

  it('a failed fetch or decoding is tried again after a pause, then the photo gets its thumbnail', async () => {
    vi.useFakeTimers()
    try {
      const { client, state } = fakeClient()
      state.failing = 1
      let renders = 0
      const render = async () => {
        if (++renders === 1) throw new Error('could not decode')
        return 'T'
      }
      const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
      const reloads = vi.fn()
      const signal = new AbortController().signal
      await backfillThumbnails(client, [photo('flaky')], signal, reloads, render)
      expect(warn).toHaveBeenCalledWith(expect.stringContaining('node busy for flaky.png'))
      // Waiting: another run in the meantime leaves it alone.
      await backfillThumbnails(client, [photo('flaky')], signal, reloads, render)
      expect(state.gets).toBe(1)
      await vi.advanceTimersByTimeAsync(2_000)
      expect(reloads).toHaveBeenCalledOnce()
      await backfillThumbnails(client, [photo('flaky')], signal, reloads, render)
      expect(warn).toHaveBeenLastCalledWith(expect.stringContaining('could not decode'))
      await vi.advanceTimersByTimeAsync(4_000)
      await backfillThumbnails(client, [photo('flaky')], signal, reloads, render)
      expect(state.renamed).toEqual(['flaky.png->flaky.png:T'])
      // Done: not fetched again.
      await backfillThumbnails(client, [photo('flaky')], signal, reloads, render)
      expect(state.gets).toBe(3)
      warn.mockRestore()
    } finally {
      vi.useRealTimers()
    }
  })
})
