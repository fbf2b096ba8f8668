import { parseArgs } from 'node:util'
import { parseBytes, parseDuration } from '@shoal/core'
import { Testnet } from './testnet.ts'

const usage = `usage: shoal-testnet [--nodes N] [--dir DIR] [--port PORT] [--k K] [--m M] [--egress-limit RATE] [--capacity SIZE] [--web-ui PORT]
                     [--heartbeat-interval TIME] [--hosts [--uplink RATE[,RATE...]] [--require-hosts]]

Starts a tracker and N storage nodes on 127.0.0.1, prints one JSON line describing them, and runs until
interrupted (Ctrl-C). With --dir the network keeps its data there across runs; otherwise it uses a
temporary folder that is removed at exit. Without --k and --m the tracker chooses each upload's layout from the
nodes online, as a release tracker does.

  --heartbeat-interval TIME  how often nodes report to the tracker (default 30s, a release tracker's; tests
                    use 1s). A node silent for six intervals counts as offline.

  --hosts           each node on a simulated host: its own network namespace and address in its own /24
                    (10.A.<i+1>.2), joined to this machine by veth pairs and a router namespace; the tracker
                    listens on 10.A.0.1. Needs root and iproute2; otherwise falls back to loopback with a warning
                    ("mode" and "fallback" in the JSON line say which ran). See docs/testbed.md.
  --uplink RATES    with --hosts: the kernel's cap (tc tbf) on each node host's upload, e.g. 10MB/s, or one rate
                    per node: 3MB/s,5MB/s,8MB/s (the last repeats). "none" for uncapped.
  --require-hosts   with --hosts: fail instead of falling back to loopback.`

/** '10MB/s' or '10MB' to bytes per second; 'none' to null. */
function parseRate(text: string): number | null {
  if (text.trim() === 'none') return null
  const n = parseBytes(text.trim().replace(/\/s$/, ''))
  if (!(n > 0)) throw new TypeError(`--uplink: "${text}" is not a positive rate`)
  return n
}

let values: ReturnType<typeof read>
function read() {
  return parseArgs({
    options: {
      nodes: { type: 'string', default: '6' },
      dir: { type: 'string' },
      port: { type: 'string' },
      k: { type: 'string' },
      m: { type: 'string' },
      'egress-limit': { type: 'string' },
      capacity: { type: 'string' },
      'web-ui': { type: 'string' },
      hosts: { type: 'boolean' },
      uplink: { type: 'string' },
      'require-hosts': { type: 'boolean' },
      'heartbeat-interval': { type: 'string', default: '30s' },
      quiet: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' }
    }
  }).values
}
try {
  values = read()
} catch (err) {
  process.stderr.write(`shoal-testnet: ${(err as Error).message}\n${usage}\n`)
  process.exit(2)
}
if (values.help === true) {
  process.stdout.write(`${usage}\n`)
  process.exit(0)
}
const nodes = Number(values.nodes)
if (!Number.isInteger(nodes) || nodes < 1 || nodes > 64) {
  process.stderr.write('shoal-testnet: --nodes must be between 1 and 64\n')
  process.exit(2)
}

let uplinks: (number | null)[] = []
try {
  uplinks = values.uplink === undefined ? [] : values.uplink.split(',').map(parseRate)
} catch (err) {
  process.stderr.write(`shoal-testnet: ${(err as Error).message}\n`)
  process.exit(2)
}
if (values.uplink !== undefined && values.hosts !== true) {
  process.stderr.write('shoal-testnet: --uplink needs --hosts (on loopback use --egress-limit)\n')
  process.exit(2)
}

let heartbeatMs: number
try {
  heartbeatMs = parseDuration(values['heartbeat-interval'])
} catch (err) {
  process.stderr.write(`shoal-testnet: --heartbeat-interval: ${(err as Error).message}\n`)
  process.exit(2)
}

let net: Testnet
try {
  net = await Testnet.start({
    nodes,
    // A network to use, not a test fixture: it audits and repairs itself like a real one, and its nodes report
    // as often as a release's (the test default, every second, was most of what an idle network did).
    ops: true,
    heartbeatInterval: values['heartbeat-interval'],
    offlineAfter: `${6 * heartbeatMs}ms`,
    ...(values.dir === undefined ? {} : { dir: values.dir }),
    ...(values.port === undefined ? {} : { trackerPort: Number(values.port) }),
    k: values.k === undefined && values.m === undefined ? 'auto' : Number(values.k),
    ...(values.m === undefined ? {} : { m: Number(values.m) }),
    ...(values['egress-limit'] === undefined ? {} : { egressLimit: values['egress-limit'] }),
    ...(values.capacity === undefined ? {} : { nodeCapacity: values.capacity }),
    ...(values.hosts === true
      ? {
          hosts: {
            uplink: (i: number) => (uplinks.length === 0 ? null : (uplinks[Math.min(i, uplinks.length - 1)] ?? null)),
            required: values['require-hosts'] === true
          }
        }
      : {})
  })
} catch (err) {
  process.stderr.write(`shoal-testnet: could not start the network: ${(err as Error).message}\n`)
  process.exit(1)
}

// The web UI (built on first use, then only when its sources change) talks to this tracker and these nodes.
let webUi: { url: string; close(): Promise<void> } | undefined
if (values['web-ui'] !== undefined) {
  try {
    const { ensureWebUiBuilt, startWebUiServer } = await import('@shoal/web-ui')
    await ensureWebUiBuilt()
    webUi = await startWebUiServer({ tracker: net.tracker.url, port: Number(values['web-ui']) })
  } catch (err) {
    process.stderr.write(`shoal-testnet: could not serve the web UI: ${(err as Error).message}\n`)
    await net.stop()
    process.exit(1)
  }
}

process.stdout.write(
  `${JSON.stringify({
    ...(webUi === undefined ? {} : { webUi: webUi.url }),
    mode: net.mode,
    ...(net.fallback === undefined ? {} : { fallback: net.fallback }),
    tracker: { url: net.tracker.url, pid: net.tracker.pid },
    nodes: net.nodes.map((n) => ({
      pid: n.pid,
      peerId: n.peerId,
      addrs: n.addrs,
      ...(n.host === undefined
        ? {}
        : { namespace: n.host.namespace, address: n.host.address, uplinkBytesPerSecond: n.host.uplink })
    })),
    dir: net.dir
  })}\n`
)
if (values.quiet !== true) {
  process.stderr.write(`
Shoal is running: a tracker at ${net.tracker.url} and ${nodes} storage nodes (data and logs in ${net.dir}).
${net.mode === 'hosts' ? `Hosts mode: node i runs in namespace ${net.hosts?.host(0).namespace.replace(/0$/, 'i')} (ip netns exec NAME ...).\n` : net.fallback === undefined ? '' : `LOOPBACK FALLBACK: hosts mode unavailable (${net.fallback}).\n`}
${webUi === undefined ? '' : `\n  Open ${webUi.url} in a browser to sign up, upload and download.\n`}
${webUi === undefined ? 'In another terminal' : 'Or use the command line in another terminal'}, from this folder:
  export SHOAL_TRACKER=${net.tracker.url}
  npx shoal signup                 # asks for an email and a password
  npx shoal put ./some-file
  npx shoal ls
  npx shoal get some-file ./copy-of-some-file

Press Ctrl-C to stop the network.
`)
}

let stopping = false
const shutdown = async (): Promise<void> => {
  if (stopping) return
  stopping = true
  process.stderr.write('\nStopping the network...\n')
  await webUi?.close()
  await net.stop()
  process.exit(0)
}
process.on('SIGINT', () => void shutdown())
process.on('SIGTERM', () => void shutdown())
