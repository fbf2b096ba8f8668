import { existsSync, readFileSync } from 'node:fs'
import { mkdir, rmdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

/**
 * A process held to a share of one core by the kernel (a CPU cgroup with a CFS quota): how a benchmark on this
 * one 2-core machine models a process on a machine of its own of that size. Two trackers on one database
 * only serve more than one when a tracker, not the machine, is what runs out; a capped tracker is the
 * bottleneck by construction, the way a tracker on its own small machine would be (docs/tracker-shape.md).
 * Needs root and the cgroup v2 `cpu` controller or the v1 `cpu` hierarchy; fails with one clear line if not.
 */
export interface CpuCap {
  /** Moves the process back to the root group and removes its group. */
  release(): Promise<void>
}

const PERIOD_US = 100_000

/** Where CPU groups can be made: the v2 unified root when it offers `cpu`, else the v1 `cpu` mount. */
function cgroupRoot(): { dir: string; v2: boolean } {
  const v2 = '/sys/fs/cgroup'
  const controllers = join(v2, 'cgroup.controllers')
  if (existsSync(controllers) && readFileSync(controllers, 'utf8').split(/\s+/).includes('cpu')) {
    return { dir: v2, v2: true }
  }
  const v1 = '/sys/fs/cgroup/cpu'
  if (existsSync(join(v1, 'cpu.cfs_quota_us'))) return { dir: v1, v2: false }
  throw new Error('--tracker-cpu needs a CPU cgroup (cgroup v2 with the cpu controller, or v1 /sys/fs/cgroup/cpu)')
}

export async function capCpu(pid: number, share: number, name: string): Promise<CpuCap> {
  if (!(share > 0 && share <= 64)) throw new Error(`a CPU share must be in (0, 64] cores, not ${share}`)
  if (process.getuid?.() !== 0) throw new Error('--tracker-cpu needs root (it writes CPU cgroups)')
  const root = cgroupRoot()
  const dir = join(root.dir, `shoal-bench-${name}-${process.pid}`)
  await mkdir(dir, { recursive: true })
  const quota = Math.round(share * PERIOD_US)
  if (root.v2) await writeFile(join(dir, 'cpu.max'), `${quota} ${PERIOD_US}`)
  else {
    await writeFile(join(dir, 'cpu.cfs_period_us'), String(PERIOD_US))
    await writeFile(join(dir, 'cpu.cfs_quota_us'), String(quota))
  }
  // cgroup.procs moves every thread of the process (V8's and libuv's too), not just the main one.
  await writeFile(join(dir, 'cgroup.procs'), String(pid))
  return {
    async release() {
      try {
        await writeFile(join(root.dir, 'cgroup.procs'), String(pid))
      } catch {
        // the process has exited: its group is empty already
      }
      await rmdir(dir)
    }
  }
}
