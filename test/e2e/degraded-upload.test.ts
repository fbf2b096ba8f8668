import { join } from 'node:path'
import { ShoalClient } from '@shoal/client'
import type { DegradedUpload } from '@shoal/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Testnet } from '../src/index.ts'
import { type BrowserNet, newPage, signUp, startBrowserNet, waitForTransfers } from './browser-helpers.ts'
import { startShoal } from './cli-helpers.ts'
import { randomFile, sha256File, tempDir } from './helpers.ts'

const MiB = 1024 * 1024

/**
 * Uploads go on while storage nodes are down: seven nodes give the automatic layout 3+3 (one spare), three of
 * them are killed, and the tracker has not noticed yet (a node counts as offline only after 120 s of silence
 * here, as a real tracker lags behind a crash by its offline-after). Each segment is stored on the four nodes
 * left, the CLI and the web UI (in Chromium) say how degraded the file is, the file reads back byte-identical, and once the nodes are back
 * the tracker's repair adds pieces until every segment is above its repair threshold (k + floor(m/2) = 4).
 * Not necessarily back to 6: a repair racing the nodes' return stores what it can, and 5 of 6 is healthy.
 */
describe('uploads with m nodes down', { timeout: 240_000 }, () => {
  let browserNet: BrowserNet
  let net: Testnet
  let work: Awaited<ReturnType<typeof tempDir>>
  let env: NodeJS.ProcessEnv
  const shoal = (args: string[]) => startShoal(args, { cwd: work.path, env })
  const credentials = { email: 'degraded@example.com', password: 'degraded-password-1' }

  beforeAll(async () => {
    work = await tempDir('shoal-degraded-')
    browserNet = await startBrowserNet({
      nodes: 7,
      k: 'auto',
      segmentSize: '1MiB',
      offlineAfter: '120s',
      readyTimeoutMs: 180_000,
      // Repair on from the start, as in a release: until the nodes come back it has nowhere to put pieces.
      trackerArgs: ['--repair-interval', '2s']
    })
    net = browserNet.net
    env = {
      SHOAL_HOME: join(work.path, 'home'),
      SHOAL_TRACKER: net.tracker.url,
      SHOAL_EMAIL: credentials.email,
      SHOAL_PASSWORD: credentials.password
    }
    expect((await shoal(['signup']).done).code).toBe(0)
  })
  afterAll(async () => {
    await browserNet?.stop()
    await work?.cleanup()
  })

  it('stores each segment on the nodes left, says so, reads back, and repair tops it up', async () => {
    const source = join(work.path, 'photos.tar')
    const digest = await randomFile(source, 5 * MiB + 321)
    for (const i of [1, 3, 5]) await net.killNode(i)

    const put = await shoal(['put', source, 'photos.tar', '--json']).done
    expect(put.code, put.stderr).toBe(0)
    const { degraded } = JSON.parse(put.stdout) as { degraded?: DegradedUpload }
    expect(degraded).toEqual({ segments: 6, segmentCount: 6, fewestPieces: 4, k: 3, m: 3 })
    expect(put.stderr).toContain(
      'warning: photos.tar stored with fewer pieces than planned (storage nodes were down): 6 of 6 segments short, the weakest with 4 of 6 pieces; any 3 read it, and repair adds more\n'
    )

    // The web UI, through the same outage: the finished upload says how degraded it is.
    const { context, page } = await newPage(browserNet.browser)
    try {
      await signUp(page, browserNet.ui.url, 'degraded-web@example.com', 'degraded web password')
      await page.getByTestId('file-input').setInputFiles({
        name: 'scan.pdf',
        mimeType: 'application/pdf',
        buffer: Buffer.alloc(1.5 * MiB, 7)
      })
      await waitForTransfers(page)
      await expect
        .poll(() => page.locator('.transfer[data-state="done"] .transfer-note').textContent())
        .toBe(
          'Stored with fewer pieces than planned (storage nodes were down): 2 of 2 segments short, the weakest with 4 of 6 pieces; any 3 read it, and repair adds more'
        )
    } finally {
      await context.close()
    }

    const out = join(work.path, 'photos-copy.tar')
    const get = await shoal(['get', 'photos.tar', out]).done
    expect(get.code, get.stderr).toBe(0)
    expect(await sha256File(out)).toBe(digest)

    // The nodes come back (same identity, new ports): repair adds the missing pieces on them.
    for (const i of [1, 3, 5]) await net.restartNode(i)
    await net.waitForOnline(7, 60_000)
    const client = await ShoalClient.login({ tracker: net.tracker.url, ...credentials })
    try {
      const info = await client.stat('photos.tar')
      const counts = async () => {
        const { segments } = await client.tracker.downloadGrants(info.id, 0, info.segmentCount)
        return segments.map((s) => s.pieces.length)
      }
      const deadline = Date.now() + 120_000
      let now = await counts()
      while (now.some((n) => n <= 4)) {
        if (Date.now() > deadline) throw new Error(`repair did not top up the segments: ${now.join(', ')} pieces`)
        await new Promise((r) => setTimeout(r, 500))
        now = await counts()
      }
      for (const n of now) expect(n).toBeGreaterThanOrEqual(5)
      // A file uploaded now, with every node up, is whole from the start.
      const whole = await client.put('notes.txt', [new TextEncoder().encode('all nodes up')], 12)
      expect(whole.degraded).toBeUndefined()
    } finally {
      await client.stop()
    }
  })
})
