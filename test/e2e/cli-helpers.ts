import { type ChildProcess, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export const SHOAL = fileURLToPath(new URL('../../packages/cli/bin/shoal.js', import.meta.url))

export interface ShoalRun {
  code: number
  stdout: string
  stderr: string
}

/**
 * Starts `shoal ARGS` as its own process, as a user runs it. `stderr()` is what it printed so far (to wait for
 * a progress line before killing it); `done` resolves with the exit code (128 + n for a signal's death is
 * reported as 128) and the whole output.
 */
export function startShoal(
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv }
): { child: ChildProcess; done: Promise<ShoalRun>; stderr: () => string } {
  const child = spawn(process.execPath, [SHOAL, ...args], {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (c: Buffer) => {
    stdout += c.toString()
  })
  child.stderr?.on('data', (c: Buffer) => {
    stderr += c.toString()
  })
  const done = new Promise<ShoalRun>((resolve, reject) => {
    child.once('error', reject)
    child.once('exit', (code, signal) => resolve({ code: code ?? (signal === null ? -1 : 128), stdout, stderr }))
  })
  return { child, done, stderr: () => stderr }
}
