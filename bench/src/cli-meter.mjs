/**
 * Preloaded into each `shoal` process the hosts part runs (`node --import cli-meter.mjs shoal.js ...`): when the
 * process exits, writes its own CPU time (user + system, every thread, start-up included) and peak RSS as JSON to
 * the file named by SHOAL_BENCH_METER. The harness cannot read these from /proc after the process is gone.
 *
 * Plain JavaScript on purpose: a preloaded .ts file made Node load its TypeScript stripper in every timed
 * `shoal` process (twice: the runtime tuning's second start keeps the flag), ~190 ms of wall time and ~230 ms
 * of CPU that a user's `shoal` never spends (bench/RESULTS.md, session 14).
 */
import { writeFileSync } from 'node:fs'

const out = process.env.SHOAL_BENCH_METER
if (out !== undefined && out !== '') {
  process.on('exit', () => {
    const cpu = process.cpuUsage()
    writeFileSync(
      out,
      JSON.stringify({
        cpuUserMs: cpu.user / 1000,
        cpuSystemMs: cpu.system / 1000,
        // maxRSS is in KiB on Linux.
        peakRssMB: (process.resourceUsage().maxRSS * 1024) / 1e6
      })
    )
  })
}
