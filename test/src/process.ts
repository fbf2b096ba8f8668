import { type ChildProcess, spawn } from 'node:child_process'
import { createWriteStream } from 'node:fs'
import { createInterface } from 'node:readline'

export interface ReadyProcess {
  child: ChildProcess
  /** The JSON line in which the process said it is ready. */
  ready: Record<string, unknown>
  /** Resolves with the exit code (or signal name) when the process ends. */
  exited: Promise<number | string>
}

/**
 * Starts a Shoal service as a child process on the same Node binary, copies its output to a log file, and
 * resolves once it prints a JSON line with `"msg":"ready"`. Fails with the tail of its log if it exits first.
 */
export async function spawnReady(
  script: string,
  args: string[],
  options: {
    logFile: string
    env?: NodeJS.ProcessEnv
    timeoutMs?: number
    label: string
    /**
     * Runs the process through another command, e.g. `ip netns exec NAME` (hosts mode). The wrapper must exec
     * the process in place (same pid), as `ip netns exec` does, so signals and /proc reach it.
     */
    wrap?: (command: string, args: string[]) => { command: string; args: string[] }
  }
): Promise<ReadyProcess> {
  const log = createWriteStream(options.logFile, { flags: 'a' })
  const cmd = options.wrap?.(process.execPath, [script, ...args]) ?? {
    command: process.execPath,
    args: [script, ...args]
  }
  const child = spawn(cmd.command, cmd.args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...options.env }
  })
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'))
  })
  const tail: string[] = []
  const remember = (line: string): void => {
    tail.push(line)
    if (tail.length > 20) tail.shift()
  }
  child.stderr!.on('data', (chunk: Buffer) => {
    log.write(chunk)
    remember(chunk.toString().trimEnd())
  })
  // 'close', not 'exit': output still in the pipes when the process exits is read (and logged) afterwards, and a
  // log ended at 'exit' threw ERR_STREAM_WRITE_AFTER_END on it (CI, a node restarted mid-repair).
  child.once('close', () => log.end())
  const lines = createInterface({ input: child.stdout! })
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(
        new Error(`${options.label} did not become ready in ${options.timeoutMs ?? 60_000} ms:\n${tail.join('\n')}`)
      )
    }, options.timeoutMs ?? 60_000)
    lines.on('line', (line) => {
      log.write(`${line}\n`)
      remember(line)
      if (!line.startsWith('{')) return
      try {
        const value = JSON.parse(line) as Record<string, unknown>
        if (value.msg === 'ready') {
          clearTimeout(timer)
          resolve(value)
        }
      } catch {
        // not a JSON log line
      }
    })
    void exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`${options.label} exited (${code}) before it was ready:\n${tail.join('\n')}`))
    })
  })
  return { child, ready, exited }
}

/** Stops a child: SIGTERM (clean shutdown) or SIGKILL (a crash), and waits until it is gone. */
export async function stopProcess(p: ReadyProcess, signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM', graceMs = 10_000) {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return p.exited
  p.child.kill(signal)
  const timer = setTimeout(() => p.child.kill('SIGKILL'), graceMs)
  try {
    return await p.exited
  } finally {
    clearTimeout(timer)
  }
}
