import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { ClientJob, ClientLine, ClientResult } from './protocol.ts'

const CLIENT_RUN = fileURLToPath(new URL('./client-run.ts', import.meta.url))

export interface ClientProcess {
  /** Resolves with the client's result line; rejects if it exits without one or overruns its bound. */
  result: Promise<ClientResult>
  /** Sends a mark: the client records how many bytes it had moved when it arrived. */
  mark(text: string): void
}

/**
 * Runs client-run.ts on this Node binary with one job. `onProgress` sees the client's progress lines as they
 * come, so the harness can act mid-transfer (kill nodes at half way).
 */
export function startClient(job: ClientJob, onProgress?: (bytes: number, total: number) => void): ClientProcess {
  // `--client-profile DIR`: V8 CPU profiles of the client (one per thread), to see where its time goes.
  const profile = job.profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${job.profileDir}`]
  const child = spawn(process.execPath, [...profile, CLIENT_RUN], { stdio: ['pipe', 'pipe', 'pipe'] })
  const stderr: string[] = []
  child.stderr.on('data', (chunk: Buffer) => {
    stderr.push(chunk.toString())
    if (stderr.length > 50) stderr.shift()
  })
  child.stdin.on('error', () => {})
  child.stdin.write(`${JSON.stringify(job)}\n`)
  const result = new Promise<ClientResult>((resolve, reject) => {
    let settled: ClientResult | undefined
    const timer = setTimeout(() => child.kill('SIGKILL'), job.timeoutMs + 30_000)
    createInterface({ input: child.stdout }).on('line', (text) => {
      if (!text.startsWith('{')) return
      let line: ClientLine
      try {
        line = JSON.parse(text) as ClientLine
      } catch {
        return
      }
      if (line.type === 'progress') onProgress?.(line.bytes, line.total)
      else if (line.type === 'result') settled = line
    })
    child.once('error', reject)
    child.once('exit', () => child.stdin.destroy())
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      if (settled !== undefined) resolve(settled)
      else {
        reject(
          new Error(
            `client ${job.mode} of ${job.name} exited (${code ?? signal}) without a result:\n${stderr.join('').slice(-2000)}`
          )
        )
      }
    })
  })
  return {
    result,
    mark: (text) => {
      if (child.stdin.writable) child.stdin.write(`${text}\n`)
    }
  }
}

export function runClient(job: ClientJob): Promise<ClientResult> {
  return startClient(job).result
}
