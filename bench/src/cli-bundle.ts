/**
 * The `shoal` processes the bench times must run from the CLI's bundle, as users' do: `bin/shoal.js` falls back
 * to the sources when any input changed since the build (~0.5 s more start-up and more CPU per transfer), which
 * once made a whole run's `shoal` rows wrong without a word (bench/RESULTS.md, session 11). Rebuilt here when
 * stale; a bundle that still does not match is an error, not a footnote.
 */
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { freshBundle } from '../../packages/cli/bin/bundle.js'

const BUILD = fileURLToPath(new URL('../../packages/cli/scripts/build.mjs', import.meta.url))

/** Rebuilds the CLI's bundle when it is stale; returns what happened, for the log. */
export function ensureCliBundle(): string {
  if (process.env.SHOAL_BUNDLE === '0') return 'shoal runs from its sources (SHOAL_BUNDLE=0)'
  if (freshBundle() !== undefined) return 'shoal runs from its bundle'
  execFileSync(process.execPath, [BUILD], { stdio: ['ignore', 'ignore', 'inherit'] })
  if (freshBundle() === undefined) {
    throw new Error('the shoal bundle is still stale after a rebuild: the shoal rows would time the sources')
  }
  return 'shoal bundle was stale: rebuilt'
}
