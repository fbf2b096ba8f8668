/**
 * A WebTorrent peer in a process of its own, for the side-by-side runs of the hosts part (hosts.ts). One JSON job
 * as argv[2]:
 *
 *   {"mode":"seed","torrent":T,"dir":D,"uploadLimit":N?}         seed D/<name> (already complete), print
 *                                                                {"msg":"ready","port":P}, run until SIGTERM
 *   {"mode":"leech","torrent":T,"dir":D,"peers":["ip:port"]}     download into D from exactly these peers,
 *                                                                print {"type":"result",...}, exit
 *
 * Nothing here may reach the internet: no DHT, no trackers, no local service discovery, no UPnP or NAT-PMP, no PEX,
 * no web seeds; peers are only the ones given. WebRTC is never used, so its native module (node-datachannel,
 * whose prebuilt binary an offline install cannot fetch) is replaced by a stub before WebTorrent loads.
 *
 * Plain JavaScript, as the `shoal` processes' meter (cli-meter.mjs): a .ts file would make Node load its
 * TypeScript stripper, and the leecher is timed from its process start.
 */
import { readFileSync } from 'node:fs'
import { registerHooks } from 'node:module'

const WEBRTC_STUB = `data:text/javascript,${encodeURIComponent(
  'class Unavailable { constructor () { throw new Error("WebRTC is not used by the bench") } }\n' +
    'export { Unavailable as RTCPeerConnection, Unavailable as RTCSessionDescription, Unavailable as RTCIceCandidate }'
)}`
registerHooks({
  resolve: (specifier, context, next) =>
    specifier === 'webrtc-polyfill' ? { url: WEBRTC_STUB, shortCircuit: true } : next(specifier, context)
})

/** Everything that could look for peers on its own, or listen for them on other ports, is off. */
const OFFLINE = {
  dht: false,
  tracker: false,
  lsd: false,
  natUpnp: false,
  natPmp: false,
  utPex: false,
  webSeeds: false,
  utp: false
}

/**
 * @typedef {{ mode: 'seed', torrent: string, dir: string, uploadLimit?: number }
 *   | { mode: 'leech', torrent: string, dir: string, peers: string[], timeoutMs: number }} Job
 */

/** @param {unknown} value */
function print(value) {
  process.stdout.write(`${JSON.stringify(value)}\n`)
}

/** @type {Job} */
const job = JSON.parse(process.argv[2] ?? '{}')
// Imported only now, after the hook above is in place.
const { default: WebTorrent } = await import('webtorrent')
/** @param {Error | string} err @returns {never} */
const fail = (err) => {
  process.stderr.write(`webtorrent-peer ${job.mode}: ${typeof err === 'string' ? err : err.message}\n`)
  process.exit(1)
}

if (job.mode === 'seed') {
  const client = new WebTorrent({
    ...OFFLINE,
    ...(job.uploadLimit === undefined ? {} : { uploadLimit: job.uploadLimit })
  })
  client.on('error', fail)
  // The file is already in place and complete: skip re-hashing it (each seeder holds the whole file).
  const torrent = client.add(readFileSync(job.torrent), { path: job.dir, skipVerify: true })
  torrent.on('error', fail)
  torrent.on('ready', () => print({ msg: 'ready', port: client.torrentPort }))
  // Nothing to flush: a seeder only reads. (WebTorrent's destroy() did not always call back.)
  process.on('SIGTERM', () => process.exit(0))
} else if (job.mode === 'leech') {
  const client = new WebTorrent(OFFLINE)
  client.on('error', fail)
  const start = performance.now()
  const torrent = client.add(readFileSync(job.torrent), { path: job.dir })
  torrent.on('error', fail)
  torrent.on('infoHash', () => {
    for (const peer of job.peers) torrent.addPeer(peer)
  })
  setTimeout(() => fail(`not done after ${job.timeoutMs} ms`), job.timeoutMs).unref()
  torrent.on('done', () => {
    // The whole process, start-up included, as the harness meters `shoal get` (cli-meter.mjs).
    const cpu = process.cpuUsage()
    print({
      type: 'result',
      // From this process's start (performance.now() counts from it), as `shoal get` is timed by its harness.
      doneMs: performance.now(),
      addMs: start,
      cpuUserMs: cpu.user / 1000,
      cpuSystemMs: cpu.system / 1000,
      peakRssMB: (process.resourceUsage().maxRSS * 1024) / 1e6
    })
    client.destroy(() => process.exit(0))
  })
} else {
  fail(`unknown job ${JSON.stringify(job)}`)
}
