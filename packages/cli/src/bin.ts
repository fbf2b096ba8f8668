import { runCli } from './cli.ts'

const controller = new AbortController()
let interrupted = false
process.once('SIGINT', () => {
  interrupted = true
  controller.abort(new Error('interrupted'))
})
process.exitCode = await runCli(process.argv.slice(2), {
  env: process.env,
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
  signal: controller.signal
})
if (interrupted) process.exitCode = 130
// Sockets or timers left behind in libp2p must not keep a finished command alive (the bench once saw a
// `shoal get` wait 14 minutes after printing its error): exit once standard output has drained.
process.stdout.write('', () => process.exit())
