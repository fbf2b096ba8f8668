/**
 * Runs this Node process again, in place (same pid, same file descriptors), with glibc's malloc told to keep
 * freed memory instead of returning it to the kernel. Imports nothing: a bin calls it before loading anything.
 *
 * Why: pieces, segments and sliced disk reads are 64 KiB-8 MiB buffers, allocated and freed by the GB. Above
 * glibc's mmap threshold each one is fresh memory from the kernel, and on this VM memory touched for the first
 * time costs about 1 CPU-second per GB (bench/RESULTS.md, 2026-12-03): in a client's codec worker that was 1.3 of
 * 4.2 CPU-seconds for 256 MiB, and it fell to 0.45 with these settings. Raising the mmap and trim thresholds makes
 * those buffers come from memory the process already touched.
 *
 * Only on Linux with `process.execve` (Node >= 22.15), only once (the variables mark the second run), and never
 * when the caller set either variable itself.
 */
export function reexecWithTunedMalloc(): void {
  const proc = (globalThis as { process?: NodeLikeProcess }).process
  if (proc === undefined || proc.platform !== 'linux' || typeof proc.execve !== 'function') return
  const env = proc.env
  if (env.MALLOC_MMAP_THRESHOLD_ !== undefined || env.MALLOC_TRIM_THRESHOLD_ !== undefined) return
  if (env.SHOAL_MALLOC_TUNING === '0') return
  try {
    proc.execve(proc.execPath, [proc.execPath, ...proc.execArgv, ...proc.argv.slice(1)], {
      ...env,
      MALLOC_MMAP_THRESHOLD_: String(MMAP_THRESHOLD_BYTES),
      MALLOC_TRIM_THRESHOLD_: String(TRIM_THRESHOLD_BYTES)
    })
  } catch {
    // No execve here (a sandbox, an old kernel): run untuned rather than not at all.
  }
}

/** Buffers up to this size come from the heap (glibc's ceiling for the dynamic threshold is 32 MiB). */
const MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024
/** Free memory kept at the top of the heap before it goes back to the kernel. */
const TRIM_THRESHOLD_BYTES = 256 * 1024 * 1024

interface NodeLikeProcess {
  platform: string
  env: Record<string, string | undefined>
  execPath: string
  execArgv: string[]
  argv: string[]
  execve?: (file: string, args: string[], env: Record<string, string | undefined>) => never
}
