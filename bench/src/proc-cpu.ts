import { readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'

/** Linux reports process CPU in clock ticks; 100 per second on every common kernel configuration. */
const TICKS_PER_SECOND = 100

/** CPU seconds (user + system) each process has used so far, from /proc; 0 for a process that is gone. */
function cpuSeconds(pid: number): number {
  const { user, system } = cpuSplit(pid)
  return user + system
}

/** CPU seconds a process has used so far in user space and in the kernel, from /proc; 0 for one that is gone. */
function cpuSplit(pid: number): { user: number; system: number } {
  try {
    // Fields after the ")" that closes the command name: state is field 3, utime 14 and stime 15 (1-based).
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
    return { user: Number(fields[11]) / TICKS_PER_SECOND, system: Number(fields[12]) / TICKS_PER_SECOND }
  } catch {
    return { user: 0, system: 0 }
  }
}

export function procAvailable(): boolean {
  try {
    readFileSync(`/proc/${process.pid}/stat`)
    return true
  } catch {
    return false
  }
}

/**
 * CPU seconds a set of processes uses between start and stop. Samples every `everyMs`, so a process that dies
 * meanwhile (a killed node) counts up to its last sample instead of dropping out of the sum.
 */
export class CpuMeter {
  readonly #first = new Map<number, number>()
  readonly #last = new Map<number, number>()
  readonly #timer: ReturnType<typeof setInterval>
  readonly #pids: () => readonly number[]

  constructor(pids: () => readonly number[], everyMs = 250) {
    this.#pids = pids
    this.#sample()
    this.#timer = setInterval(() => this.#sample(), everyMs)
    this.#timer.unref()
  }

  #sample(): void {
    for (const pid of this.#pids()) {
      const v = cpuSeconds(pid)
      if (v <= 0) continue
      if (!this.#first.has(pid)) this.#first.set(pid, v)
      this.#last.set(pid, v)
    }
  }

  /** Seconds used since the meter started, in total and per process it saw. */
  stop(): { total: number; byPid: Map<number, number> } {
    this.#sample()
    clearInterval(this.#timer)
    const byPid = new Map<number, number>()
    let total = 0
    for (const [pid, first] of this.#first) {
      const used = (this.#last.get(pid) ?? first) - first
      byPid.set(pid, used)
      total += used
    }
    return { total, byPid }
  }
}

/** Total CPU seconds of a set of processes (the testnet's tracker and nodes). */
export function totalCpuSeconds(pids: readonly number[]): number {
  return pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0)
}

/**
 * Total CPU seconds of a set of processes, user space and kernel apart: a server's kernel time is mostly its
 * socket writes and reads (on loopback the sender's write also runs the receiver's TCP input).
 */
export function splitCpuSeconds(pids: readonly number[]): { user: number; system: number } {
  const total = { user: 0, system: 0 }
  for (const pid of pids) {
    const { user, system } = cpuSplit(pid)
    total.user += user
    total.system += system
  }
  return total
}

/**
 * Waits until the processes together use less than `maxCores` over a `windowMs` window, at most `timeoutMs`.
 * Freshly started nodes spend a second or two on DHT bootstrap, and nodes announce new pieces after an upload;
 * on a 2-core machine that work would be billed to whatever transfer runs next. Returns the ms waited and the
 * last window's load, so a run that never settled says so.
 */
export async function waitForQuiet(
  pids: readonly number[],
  { maxCores = 0.15, windowMs = 500, timeoutMs = 15_000 } = {}
): Promise<{ waitedMs: number; cores: number; settled: boolean }> {
  const start = performance.now()
  if (!procAvailable()) return { waitedMs: 0, cores: Number.NaN, settled: false }
  let cores = Number.POSITIVE_INFINITY
  while (performance.now() - start < timeoutMs) {
    const before = totalCpuSeconds(pids)
    const t = performance.now()
    await sleep(windowMs)
    cores = (totalCpuSeconds(pids) - before) / ((performance.now() - t) / 1000)
    if (cores < maxCores) return { waitedMs: performance.now() - start, cores, settled: true }
  }
  return { waitedMs: performance.now() - start, cores, settled: false }
}
