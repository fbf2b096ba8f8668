import { open, readdir, rename, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('.', import.meta.url))
export const WEB_UI_DIST = join(ROOT, 'dist')

/**
 * Sources whose change makes the built app stale: the UI's own, the packages it bundles, and the dependencies
 * bundled with them (the lockfile and our patches of libp2p modules). A bundle built before a merge that changed
 * only those kept being served, and browser uploads failed ("stream reset") until dist/ was rebuilt.
 */
const SOURCES = [
  join(ROOT, '..', 'pnpm-lock.yaml'),
  join(ROOT, '..', 'patches'),
  join(ROOT, 'package.json'),
  join(ROOT, '..', 'packages', 'client', 'package.json'),
  join(ROOT, '..', 'packages', 'core', 'package.json'),
  join(ROOT, 'src'),
  join(ROOT, 'public'),
  join(ROOT, 'index.html'),
  join(ROOT, 'bench.html'),
  join(ROOT, 'vite.config.ts'),
  join(ROOT, '..', 'packages', 'client', 'src'),
  join(ROOT, '..', 'packages', 'core', 'src')
]

async function newest(path: string): Promise<number> {
  const info = await stat(path).catch(() => undefined)
  if (info === undefined) return 0
  if (!info.isDirectory()) return info.mtimeMs
  let latest = info.mtimeMs
  for (const name of await readdir(path)) latest = Math.max(latest, await newest(join(path, name)))
  return latest
}

/**
 * Builds web-ui/dist with Vite (a second or two). The build goes to a fresh folder that then replaces dist/ in
 * two renames, so a server reading dist/ meanwhile never sees it half-written.
 */
export async function buildWebUi(): Promise<void> {
  const { build } = await import('vite')
  const fresh = `${WEB_UI_DIST}.build-${process.pid}`
  const old = `${WEB_UI_DIST}.old-${process.pid}`
  await rm(fresh, { recursive: true, force: true })
  await build({
    configFile: join(ROOT, 'vite.config.ts'),
    logLevel: 'warn',
    build: { outDir: fresh, emptyOutDir: true }
  })
  await rename(WEB_UI_DIST, old).catch(() => {})
  await rename(fresh, WEB_UI_DIST)
  await rm(old, { recursive: true, force: true })
}

async function stale(): Promise<boolean> {
  const built = (await stat(join(WEB_UI_DIST, 'index.html')).catch(() => undefined))?.mtimeMs ?? 0
  let latest = 0
  for (const source of SOURCES) latest = Math.max(latest, await newest(source))
  return built < latest
}

/**
 * Builds the app unless dist/ is newer than every source it depends on. Test files run in parallel processes:
 * a lock file makes one of them build while the others wait, so no one serves a half-written dist/.
 */
export async function ensureWebUiBuilt(): Promise<void> {
  if (!(await stale())) return
  const lock = join(ROOT, '.build.lock')
  const deadline = Date.now() + 120_000
  for (;;) {
    const handle = await open(lock, 'wx').catch(() => undefined)
    if (handle !== undefined) {
      try {
        if (await stale()) await buildWebUi()
      } finally {
        await handle.close()
        await rm(lock, { force: true })
      }
      return
    }
    // A lock older than the deadline belongs to a build that died: take it over.
    const age = Date.now() - ((await stat(lock).catch(() => undefined))?.mtimeMs ?? Date.now())
    if (age > 120_000) await rm(lock, { force: true })
    if (Date.now() > deadline) throw new Error('timed out waiting for another web UI build')
    await new Promise((r) => setTimeout(r, 200))
  }
}
