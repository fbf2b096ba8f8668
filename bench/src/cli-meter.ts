/**
 * Preloaded into each `shoal` process the hosts part runs (`node --import cli-meter.ts shoal.js ...`): when the
 * process exits, writes its own CPU time (user + system, every thread, start-up included) and peak RSS as JSON to
 * the file named by SHOAL_BENCH_METER. The harness cannot read these from /proc after the process is gone.
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
