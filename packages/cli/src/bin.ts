import { describeError } from '@shoal/core'
import { runCli } from './cli.ts'

const controller = new AbortController()
let interrupted = false
process.once('SIGINT', () => {
  interrupted = true
  controller.abort(new Error('interrupted'))
})
runCli(process.argv.slice(2), {
  env: process.env,
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
  signal: controller.signal
}).then(
  (code) => finish(interrupted ? 130 : code),
  (err: unknown) => {
    process.stderr.write(`shoal: ${describeError(err)}\n`)
    finish(1)
  }
)

// Sockets or timers left behind in libp2p must not keep a finished command alive (the bench once saw a
// `shoal get` wait 14 minutes after printing its error): exit once standard output has drained.
function finish(code: number): void {
  process.exitCode = code
  process.stdout.write('', () => process.exit())
}
