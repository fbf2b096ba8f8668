import { execFileSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { tunedLaunch } from '../src/runtime-tuning.js'

const proc = (env: Record<string, string | undefined> = {}, execArgv: string[] = []) => ({
  platform: 'linux',
  env,
  execPath: '/usr/bin/node',
  execArgv,
  argv: ['/usr/bin/node', '/bin/shoal.js', 'get', 'f']
})

describe('tunedLaunch', () => {
  it('adds the malloc thresholds, a larger initial old space and the marker, keeping the arguments', () => {
    const launch = tunedLaunch(proc({ HOME: '/root' }, ['--enable-source-maps']))
    expect(launch?.args).toEqual([
      '/usr/bin/node',
      '--initial-old-space-size=128',
      '--enable-source-maps',
      '/bin/shoal.js',
      'get',
      'f'
    ])
    expect(launch?.env).toMatchObject({
      HOME: '/root',
      SHOAL_RUNTIME_TUNED: '1',
      MALLOC_MMAP_THRESHOLD_: String(32 * 1024 * 1024),
      MALLOC_TRIM_THRESHOLD_: String(256 * 1024 * 1024),
      MALLOC_ARENA_MAX: '2'
    })
  })

  it('sets a smaller young generation when asked, unless the caller chose one or the heap', () => {
    expect(tunedLaunch(proc(), { semiSpaceMB: 4 })?.args).toContain('--max-semi-space-size=4')
    expect(tunedLaunch(proc())?.args.some((a) => a.includes('semi-space'))).toBe(false)
    expect(tunedLaunch(proc({}, ['--max-semi-space-size=16']), { semiSpaceMB: 4 })?.args).not.toContain(
      '--max-semi-space-size=4'
    )
    expect(tunedLaunch(proc({ NODE_OPTIONS: '--max-old-space-size=512' }), { semiSpaceMB: 4 })?.args).not.toContain(
      '--max-semi-space-size=4'
    )
  })

  it('runs once, never on request, never off Linux', () => {
    expect(tunedLaunch(proc({ SHOAL_RUNTIME_TUNED: '1' }))).toBeUndefined()
    expect(tunedLaunch(proc({ SHOAL_RUNTIME_TUNING: '0' }))).toBeUndefined()
    expect(tunedLaunch({ ...proc(), platform: 'darwin' })).toBeUndefined()
  })

  it("keeps the caller's own malloc and heap settings", () => {
    const launch = tunedLaunch(
      proc({ MALLOC_ARENA_MAX: '2', MALLOC_TRIM_THRESHOLD_: '1', NODE_OPTIONS: '--max-old-space-size=512' })
    )
    expect(launch?.env.MALLOC_MMAP_THRESHOLD_).toBeUndefined()
    expect(launch?.env.MALLOC_TRIM_THRESHOLD_).toBe('1')
    expect(launch?.env.MALLOC_ARENA_MAX).toBe('2')
    expect(tunedLaunch(proc({ MALLOC_ARENA_MAX: '8' }))?.env.MALLOC_ARENA_MAX).toBe('8')
    expect(launch?.args).not.toContain('--initial-old-space-size=128')
    expect(tunedLaunch(proc({}, ['--max-heap-size=64']))?.args).not.toContain('--initial-old-space-size=128')
  })

  it('really re-runs a process with the settings in place', () => {
    const out = execFileSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { reexecWithRuntimeTuning } from ${JSON.stringify(new URL('../src/runtime-tuning.js', import.meta.url).href)}
         reexecWithRuntimeTuning()
         console.log(JSON.stringify({ tuned: process.env.SHOAL_RUNTIME_TUNED, mmap: process.env.MALLOC_MMAP_THRESHOLD_, argv: process.execArgv }))`
      ],
      {
        env: {
          ...process.env,
          SHOAL_RUNTIME_TUNED: undefined,
          MALLOC_MMAP_THRESHOLD_: undefined,
          MALLOC_TRIM_THRESHOLD_: undefined
        },
        encoding: 'utf8'
      }
    )
    const seen = JSON.parse(out) as { tuned?: string; mmap?: string; argv: string[] }
    if (typeof process.execve !== 'function') return expect(seen.tuned).toBeUndefined()
    expect(seen.tuned).toBe('1')
    expect(seen.mmap).toBe(String(32 * 1024 * 1024))
    expect(seen.argv).toContain('--initial-old-space-size=128')
  })
})
