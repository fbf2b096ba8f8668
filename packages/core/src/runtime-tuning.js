// Plain JavaScript on purpose: a bin imports this before anything else, and a .ts file would make Node load its
// TypeScript stripper (~0.3 CPU-s) in the process that is about to be replaced. Types: runtime-tuning.d.ts.

/**
 * Runs this Node process again, in place (same pid, same file descriptors), with the memory settings a process
 * that moves gigabytes through buffers needs. Imports nothing: a bin calls it before loading anything.
 *
 * - glibc's malloc keeps freed memory instead of returning it to the kernel. Pieces, segments and sliced disk
 *   reads are 64 KiB-8 MiB buffers, allocated and freed by the GB; above glibc's mmap threshold each one is
 *   fresh memory from the kernel, and on this VM memory touched for the first time costs about 1 CPU-second per
 *   GB (bench/RESULTS.md, 2026-12-03): in a client's codec worker that was 1.3 of 4.2 CPU-seconds for 256 MiB,
 *   0.45 with these settings.
 * - V8 starts with a larger old generation (`--initial-old-space-size`). A transfer keeps ~25 MB of JS objects
 *   alive while chunks queue in streams; V8 sizes the old generation's limit at about twice what survived and
 *   starts marking as soon as the space left is below the young generation's size, which it then always is: a
 *   `shoal get` of 256 MiB ran 55-65 full mark-compacts (concurrent marking was ~15% of the client's CPU and of
 *   every node's), 11 with this setting (bench/RESULTS.md, 2026-12-04). It costs up to that many MB of heap
 *   before the first full collection, never more than the heap would otherwise reach at `--max-old-space-size`.
 *
 * - glibc gives each thread that allocates its own arena (the main thread, codec workers, libuv's and V8's
 *   helper threads), and each keeps what was freed in it: two arenas at most (`MALLOC_ARENA_MAX`). A 2 GiB
 *   `shoal get` peaked at 320 MB RSS instead of 357 MB, at the same CPU (bench/RESULTS.md, session 8).
 *
 * - `semiSpaceMB` (the `shoal` command's transfers): a smaller young generation. V8 frees a dead buffer's memory
 *   when it collects the young generation, which it does when that fills or when the buffers allocated since the
 *   last collection reach twice its size; a download allocates a 64 KiB buffer per noise message, so with the
 *   default (16 MB semi-spaces) tens of MB of dead buffers waited. A 1 GiB `shoal get` peaked at 300-312 MB RSS
 *   with the default, 274-278 with 4 MB, at the same CPU (bench/RESULTS.md, session 11).
 *
 * Only on Linux with `process.execve` (Node >= 22.15), only once (SHOAL_RUNTIME_TUNED marks the second run),
 * and never when the caller chose any of these settings itself, or set SHOAL_RUNTIME_TUNING=0.
 */
export function reexecWithRuntimeTuning(options = {}) {
  const proc = globalThis.process
  if (proc === undefined || typeof proc.execve !== 'function') return
  const launch = tunedLaunch(proc, options)
  if (launch === undefined) return
  try {
    proc.execve(proc.execPath, launch.args, launch.env)
  } catch {
    // No execve here (a sandbox, an old kernel): run untuned rather than not at all.
  }
}

/** The command line and environment of the tuned run, or undefined when this run should stay as it is. */
export function tunedLaunch(proc, options = {}) {
  const env = proc.env
  if (proc.platform !== 'linux') return undefined
  if (env.SHOAL_RUNTIME_TUNED !== undefined || env.SHOAL_RUNTIME_TUNING === '0') return undefined
  const tuned = { ...env, SHOAL_RUNTIME_TUNED: '1' }
  if (env.MALLOC_MMAP_THRESHOLD_ === undefined && env.MALLOC_TRIM_THRESHOLD_ === undefined) {
    tuned.MALLOC_MMAP_THRESHOLD_ = String(MMAP_THRESHOLD_BYTES)
    tuned.MALLOC_TRIM_THRESHOLD_ = String(TRIM_THRESHOLD_BYTES)
  }
  if (env.MALLOC_ARENA_MAX === undefined) tuned.MALLOC_ARENA_MAX = String(ARENA_MAX)
  const flags = [...proc.execArgv, ...(env.NODE_OPTIONS ?? '').split(/\s+/)]
  const chosenHeap = flags.some((flag) => /^--(initial|max)-(old-space|heap)-size/.test(flag))
  const chosenYoung = flags.some((flag) => /^--(min|max)-semi-space-size/.test(flag))
  const heapFlags = chosenHeap ? [] : [`--initial-old-space-size=${INITIAL_OLD_SPACE_MB}`]
  if (options.semiSpaceMB !== undefined && !chosenYoung && !chosenHeap) {
    heapFlags.push(`--max-semi-space-size=${options.semiSpaceMB}`)
  }
  return { args: [proc.execPath, ...heapFlags, ...proc.execArgv, ...proc.argv.slice(1)], env: tuned }
}

/** Buffers up to this size come from the heap (glibc's ceiling for the dynamic threshold is 32 MiB). */
const MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024
/** Free memory kept at the top of the heap before it goes back to the kernel. */
const TRIM_THRESHOLD_BYTES = 256 * 1024 * 1024
/** Arenas glibc may create for all threads together. */
const ARENA_MAX = 2
/** Old generation size before V8's first full collection (it can still grow to --max-old-space-size). */
const INITIAL_OLD_SPACE_MB = 128
