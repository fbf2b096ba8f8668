// Plain JavaScript for the same reason as runtime-tuning.js: it runs before anything else is loaded.
import { readFileSync, statSync } from 'node:fs'

/**
 * The bundle scripts/build.mjs left in dist/, when every file it was built from is unchanged (size and mtime),
 * or undefined: then the command runs from source, as correct and ~0.5 s slower to start. SHOAL_BUNDLE=0 forces
 * the source.
 */
export function freshBundle({ env = process.env, cli = new URL('../', import.meta.url) } = {}) {
  if (env.SHOAL_BUNDLE === '0') return undefined
  const dist = new URL('dist/', cli)
  let inputs
  try {
    inputs = JSON.parse(readFileSync(new URL('inputs.json', dist), 'utf8')).inputs
  } catch {
    return undefined
  }
  for (const [file, size, mtimeMs] of inputs) {
    const stat = statSync(new URL(file, cli), { throwIfNoEntry: false })
    if (stat === undefined || stat.size !== size || stat.mtimeMs !== mtimeMs) return undefined
  }
  return new URL('shoal.mjs', dist).href
}
