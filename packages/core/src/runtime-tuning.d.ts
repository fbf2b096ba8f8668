/** See runtime-tuning.js. */
export interface NodeLikeProcess {
  platform: string
  env: Record<string, string | undefined>
  execPath: string
  execArgv: string[]
  argv: string[]
  execve?: (file: string, args: string[], env: Record<string, string | undefined>) => never
}

export interface RuntimeTuningOptions {
  /** Largest young-generation semi-space in MB (`--max-semi-space-size`); V8's default when absent. */
  semiSpaceMB?: number
}

/** Runs this process again in place with the memory settings for moving gigabytes (Linux, once). */
export function reexecWithRuntimeTuning(options?: RuntimeTuningOptions): void

/** The command line and environment of the tuned run, or undefined when this run should stay as it is. */
export function tunedLaunch(
  proc: Omit<NodeLikeProcess, 'execve'>,
  options?: RuntimeTuningOptions
): { args: string[]; env: Record<string, string | undefined> } | undefined
