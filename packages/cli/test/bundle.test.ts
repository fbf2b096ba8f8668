import { mkdir, mkdtemp, rm, stat, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { freshBundle } from '../bin/bundle.js'

describe('freshBundle: the built shoal command runs only while its sources are unchanged', () => {
  let dir: string
  let cli: URL

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-bundle-'))
    cli = pathToFileURL(`${dir}/`)
    await mkdir(join(dir, 'src'))
    await mkdir(join(dir, 'dist'))
    await writeFile(join(dir, 'src', 'a.ts'), 'export const a = 1\n')
    await writeFile(join(dir, 'src', 'b.ts'), 'export const b = 2\n')
    await writeFile(join(dir, 'dist', 'shoal.mjs'), '')
    await record(['src/a.ts', 'src/b.ts'])
  })
  afterEach(() => rm(dir, { recursive: true, force: true }))

  async function record(files: string[]): Promise<void> {
    const inputs = await Promise.all(
      files.map(async (file) => {
        const s = await stat(join(dir, file))
        return [file, s.size, s.mtimeMs]
      })
    )
    await writeFile(join(dir, 'dist', 'inputs.json'), JSON.stringify({ inputs }))
  }

  it('answers the bundle when every input matches', () => {
    expect(freshBundle({ env: {}, cli })).toBe(new URL('dist/shoal.mjs', cli).href)
  })

  it('runs from source after an edit, even one that keeps the size', async () => {
    await writeFile(join(dir, 'src', 'b.ts'), 'export const b = 3\n')
    const later = new Date(Date.now() + 5000)
    await utimes(join(dir, 'src', 'b.ts'), later, later)
    expect(freshBundle({ env: {}, cli })).toBeUndefined()
  })

  it('runs from source when an input is gone, no build was made, or the record is unreadable', async () => {
    await rm(join(dir, 'src', 'a.ts'))
    expect(freshBundle({ env: {}, cli })).toBeUndefined()
    await rm(join(dir, 'dist', 'inputs.json'))
    expect(freshBundle({ env: {}, cli })).toBeUndefined()
    await writeFile(join(dir, 'dist', 'inputs.json'), '{"inputs": [')
    expect(freshBundle({ env: {}, cli })).toBeUndefined()
  })

  it('SHOAL_BUNDLE=0 runs from source', () => {
    expect(freshBundle({ env: { SHOAL_BUNDLE: '0' }, cli })).toBeUndefined()
  })
})
