/** See runtime-tuning.js. */
export interface NodeLikeProcess {
  platform: string
  env: Record<string, string | undefined>
  execPath: string
  execArgv: string[]
  argv: string[]
  execve?: (file: string, args: string[], env: Record<string, string | undefined>) => never
}

/** Runs this process again in place with the memory settings for moving gigabytes (Linux, once). */
export function reexecWithRuntimeTuning(): void

/** The command line and environment of the tuned run, or undefined when this run should stay as it is. */
export function tunedLaunch(
  proc: Omit<NodeLikeProcess, 'execve'>
): { args: string[]; env: Record<string, string | undefined> } | undefined
