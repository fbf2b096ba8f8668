// Serves the built web UI from a process of its own, so a multi-host test can run it inside its own host's
// network namespace (`ip netns exec`), apart from the tracker and the nodes. Prints one JSON line
// `{"msg":"ready","url":...}` (what spawnReady waits for) and serves until SIGTERM.
import { readFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { startWebUiServer } from '@shoal/web-ui'

const { values } = parseArgs({
  options: {
    tracker: { type: 'string' },
    host: { type: 'string' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' }
  }
})
if (values.tracker === undefined || values.host === undefined) {
  process.stderr.write('web-ui-host: --tracker URL and --host ADDRESS are required\n')
  process.exit(2)
}
const tls =
  values['tls-cert'] === undefined || values['tls-key'] === undefined
    ? undefined
    : { cert: await readFile(values['tls-cert'], 'utf8'), key: await readFile(values['tls-key'], 'utf8') }
const server = await startWebUiServer({
  tracker: values.tracker,
  host: values.host,
  ...(tls === undefined ? {} : { tls })
})
process.stdout.write(`${JSON.stringify({ msg: 'ready', url: server.url })}\n`)
process.once('SIGTERM', () => {
  void server.close().then(() => process.exit(0))
})
