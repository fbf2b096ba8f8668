/**
 * Runs a Shoal service's command with the wall clock moved by SHOAL_TEST_CLOCK_SHIFT_MS milliseconds, as
 * libfaketime would, for tests that need a process in another month: `node shifted-clock.ts SCRIPT ARGS...`
 * runs SCRIPT (a `src/bin.ts`, not a `bin/*.js` launcher, which re-executes Node and would lose the shift) with
 * ARGS. It moves `Date.now`, which the tracker's and node's default clocks read; `new Date()` without arguments
 * still reads the real time (log timestamps only).
 */
import { pathToFileURL } from 'node:url'

const shift = Number(process.env.SHOAL_TEST_CLOCK_SHIFT_MS)
if (!Number.isFinite(shift)) throw new TypeError('SHOAL_TEST_CLOCK_SHIFT_MS must be a number of milliseconds')
const [script, ...args] = process.argv.slice(2)
if (script === undefined) throw new TypeError('usage: shifted-clock.ts SCRIPT [ARGS...]')
const realNow = Date.now
Date.now = () => realNow() + shift
process.argv = [process.argv[0] as string, script, ...args]
await import(pathToFileURL(script).href)
