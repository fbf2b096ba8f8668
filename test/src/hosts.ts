import { spawn } from 'node:child_process'
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { TestbedError } from './errors.ts'

/**
 * Simulated hosts on one machine: each host is a network namespace with its own address in its own /24, joined
 * to a router namespace by a veth pair; the router joins the root namespace (where the tracker, the client and
 * the bench run) by one more veth pair. A host's upload can be capped by the kernel (tc tbf on its side of the
 * veth, egress), as a home uplink would be. See docs/testbed.md.
 *
 *   root ns: shoal<A> 10.A.0.1/24, route 10.A.0.0/16 via 10.A.0.2
 *     | veth
 *   shoal-<A>-r (router, forwarding on): up0 10.A.0.2/24, h<i> 10.A.<i+1>.1/24
 *     | veth per host
 *   shoal-<A>-n<i>: eth0 10.A.<i+1>.2/24, default via 10.A.<i+1>.1, tbf on eth0 egress
 *
 * Every address is inside 10.A.0.0/16, a range no route of this machine covers when it is claimed, and every
 * address in it belongs to these namespaces: nothing here sends traffic anywhere else. A forwarding router
 * namespace (instead of a bridge in the root namespace) keeps the root namespace's sysctls untouched.
 */

export interface HostNetworkInit {
  hosts: number
  /** Kernel cap on each host's upload in bytes per second; null or omitted: uncapped. */
  uplink?: number | null | ((index: number) => number | null)
}

export interface Host {
  index: number
  /** Network namespace the host's processes run in (`ip netns exec NAME ...`). */
  namespace: string
  /** The host's address, e.g. 10.200.1.2. */
  address: string
  /** The host's /24, e.g. 10.200.1.0/24: one failure domain for the tracker's placement. */
  subnet: string
  /** Its upload cap in bytes per second, or null. */
  uplink: number | null
}

/** Ranges tried: 10.100.0.0/16 to 10.249.0.0/16, starting at an offset derived from the pid. */
const FIRST_RANGE = 100
const RANGES = 150
/** Where each claimed range records the pid of its owner, so a crashed owner's namespaces can be reaped. */
const OWNERS_DIR = '/run/shoal-testnet'
/** Queueing a tbf allows before it drops: a home uplink's buffer, and room for TCP to fill the cap. */
const TBF_LATENCY = '100ms'

interface RunResult {
  code: number
  stdout: string
  stderr: string
}

function run(command: string, args: string[], input?: string): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString()
    })
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString()
    })
    child.once('error', (err) => resolve({ code: -1, stdout, stderr: err.message }))
    child.once('close', (code) => resolve({ code: code ?? -1, stdout, stderr }))
    child.stdin.on('error', () => {})
    child.stdin.end(input ?? '')
  })
}

/** Runs a setup command; a failure is ERR_HOSTS_SETUP with the command and its first error line. */
async function must(command: string, args: string[], input?: string): Promise<string> {
  const r = await run(command, args, input)
  if (r.code !== 0) {
    const line = r.stderr.trim().split('\n')[0] ?? ''
    throw new TestbedError('ERR_HOSTS_SETUP', `${command} ${args.join(' ')} failed (${r.code}): ${line}`)
  }
  return r.stdout
}

function ipToInt(ip: string): number {
  return ip.split('.').reduce((n, part) => n * 256 + Number(part), 0)
}

/** Whether a route destination ("default", "10.1.0.0/16", "192.0.2.7") overlaps 10.A.0.0/16. */
function overlaps(dst: string, range: number): boolean {
  if (dst === 'default') return false
  const [ip = '', bitsText] = dst.split('/')
  const bits = Math.min(bitsText === undefined ? 32 : Number(bitsText), 16)
  if (bits === 0) return false
  const mask = bits === 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0
  return (ipToInt(ip) & mask) >>> 0 === (ipToInt(`10.${range}.0.0`) & mask) >>> 0
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Bits per second for tc, and a burst of 20 ms at the rate (at least 32 KiB, a few full-size frames). */
function tbfArgs(rate: number): string[] {
  const burst = Math.max(32 * 1024, Math.round(rate / 50))
  return ['rate', `${Math.round(rate * 8)}bit`, 'burst', String(burst), 'latency', TBF_LATENCY]
}

export class HostNetwork {
  /** The A of 10.A.0.0/16. */
  readonly range: number
  /** The root namespace's address on the router link: the tracker listens here, and nodes reach it. */
  readonly hubAddress: string
  readonly hosts: Host[]
  readonly #router: string
  readonly #rootLink: string
  /** Namespaces created so far (teardown deletes them, even after a failed start). */
  readonly #created: string[] = []
  #stopped = false

  private constructor(range: number, hosts: number, uplink: HostNetworkInit['uplink']) {
    this.range = range
    this.hubAddress = `10.${range}.0.1`
    this.#router = `shoal-${range}-r`
    this.#rootLink = `shoal${range}`
    const rate = (i: number): number | null => (typeof uplink === 'function' ? uplink(i) : (uplink ?? null))
    this.hosts = Array.from({ length: hosts }, (_, i) => ({
      index: i,
      namespace: `shoal-${range}-n${i}`,
      address: `10.${range}.${i + 1}.2`,
      subnet: `10.${range}.${i + 1}.0/24`,
      uplink: rate(i)
    }))
  }

  /**
   * Why hosts mode cannot run here (not root, no `ip` or `tc`, namespaces refused), or undefined when it can.
   * Creates and deletes one namespace to be sure.
   */
  static async unavailable(): Promise<string | undefined> {
    if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`
    if (process.getuid?.() !== 0) return 'network namespaces need root (run as root, or use loopback mode)'
    for (const tool of ['ip', 'tc']) {
      const r = await run(tool, ['-V'])
      if (r.code !== 0) return `the "${tool}" command (iproute2) is missing: ${r.stderr.trim().split('\n')[0]}`
    }
    const probe = `shoal-probe-${process.pid}`
    const add = await run('ip', ['netns', 'add', probe])
    if (add.code !== 0) return `ip netns add failed: ${add.stderr.trim().split('\n')[0]}`
    const up = await run('ip', ['-n', probe, 'link', 'set', 'lo', 'up'])
    await run('ip', ['netns', 'del', probe])
    if (up.code !== 0) return `cannot configure a network namespace: ${up.stderr.trim().split('\n')[0]}`
    return undefined
  }

  /** Builds the network. On any failure, what was built is removed before the error is thrown. */
  static async create(init: HostNetworkInit): Promise<HostNetwork> {
    if (!Number.isInteger(init.hosts) || init.hosts < 1 || init.hosts > 250) {
      throw new TypeError(`hosts must be an integer from 1 to 250, not ${init.hosts}`)
    }
    await HostNetwork.reapStale()
    const range = await HostNetwork.#claim()
    const net = new HostNetwork(range, init.hosts, init.uplink)
    net.#created.push(net.#router)
    try {
      await net.#build()
    } catch (err) {
      await net.stop()
      throw err
    }
    return net
  }

  /** Claims a free 10.A.0.0/16: the router namespace's name is the lock (`ip netns add` fails if it exists). */
  static async #claim(): Promise<number> {
    const routes = (await must('ip', ['-4', 'route', 'show', 'table', 'all']))
      .split('\n')
      .map((line) => line.trim().split(/\s+/)[0] ?? '')
      .filter((dst) => /^\d+\.\d+\.\d+\.\d+(\/\d+)?$/.test(dst))
    await mkdir(OWNERS_DIR, { recursive: true })
    const start = process.pid % RANGES
    for (let i = 0; i < RANGES; i++) {
      const range = FIRST_RANGE + ((start + i) % RANGES)
      if (routes.some((dst) => overlaps(dst, range))) continue
      const added = await run('ip', ['netns', 'add', `shoal-${range}-r`])
      if (added.code !== 0) continue
      await writeFile(join(OWNERS_DIR, `${range}.pid`), String(process.pid))
      return range
    }
    throw new TestbedError(
      'ERR_HOSTS_EXHAUSTED',
      `no free 10.A.0.0/16 range from 10.${FIRST_RANGE} to 10.${FIRST_RANGE + RANGES - 1}`
    )
  }

  /** Removes the namespaces of testnets whose owning process is gone (killed before it could clean up). */
  static async reapStale(): Promise<number[]> {
    const list = await run('ip', ['netns', 'list'])
    const names = list.stdout.split('\n').map((line) => line.trim().split(/\s+/)[0] ?? '')
    const reaped: number[] = []
    for (const name of names) {
      const match = /^shoal-(\d+)-r$/.exec(name)
      if (match === null) continue
      const range = Number(match[1])
      let owner: number
      try {
        owner = Number(await readFile(join(OWNERS_DIR, `${range}.pid`), 'utf8'))
      } catch {
        continue // being claimed right now, or not ours to judge
      }
      if (alive(owner)) continue
      await HostNetwork.#remove(
        range,
        names.filter((n) => n.startsWith(`shoal-${range}-`))
      )
      reaped.push(range)
    }
    return reaped
  }

  /** Ranges whose owner is `pid` (default: this process), i.e. host networks it has built and not yet removed. */
  static async owned(pid = process.pid): Promise<number[]> {
    let files: string[]
    try {
      files = await readdir(OWNERS_DIR)
    } catch {
      return []
    }
    const ranges: number[] = []
    for (const file of files) {
      const match = /^(\d+)\.pid$/.exec(file)
      if (match === null) continue
      const owner = await readFile(join(OWNERS_DIR, file), 'utf8').catch(() => '')
      if (Number(owner) === pid) ranges.push(Number(match[1]))
    }
    return ranges
  }

  static async #remove(range: number, namespaces: string[]): Promise<void> {
    // The root end first, synchronously: deleting a namespace frees its veths only later, in the kernel's
    // cleanup work, and the next claim of this range must find the name free.
    await run('ip', ['link', 'del', `shoal${range}`])
    const lines = namespaces.map((ns) => `netns del ${ns}`).join('\n')
    await run('ip', ['-force', '-batch', '-'], `${lines}\n`)
    await rm(join(OWNERS_DIR, `${range}.pid`), { force: true })
  }

  async #build(): Promise<void> {
    const a = this.range
    for (const host of this.hosts) this.#created.push(host.namespace)
    await must('ip', ['-batch', '-'], `${this.hosts.map((h) => `netns add ${h.namespace}`).join('\n')}\n`)
    await must('ip', ['link', 'add', this.#rootLink, 'type', 'veth', 'peer', 'name', 'up0', 'netns', this.#router])
    const router = [
      'link set lo up',
      `addr add 10.${a}.0.2/24 dev up0`,
      'link set up0 up',
      ...this.hosts.flatMap((h) => [
        `link add h${h.index} type veth peer name eth0 netns ${h.namespace}`,
        `addr add 10.${a}.${h.index + 1}.1/24 dev h${h.index}`,
        `link set h${h.index} up`
      ])
    ]
    await must('ip', ['-n', this.#router, '-batch', '-'], `${router.join('\n')}\n`)
    await must('ip', ['netns', 'exec', this.#router, 'sysctl', '-qw', 'net.ipv4.ip_forward=1'])
    await Promise.all(
      this.hosts.map(async (h) => {
        const lines = [
          'link set lo up',
          `addr add ${h.address}/24 dev eth0`,
          'link set eth0 up',
          `route add default via 10.${a}.${h.index + 1}.1`
        ]
        await must('ip', ['-n', h.namespace, '-batch', '-'], `${lines.join('\n')}\n`)
        if (h.uplink !== null) await this.setUplink(h.index, h.uplink)
      })
    )
    await must('ip', ['addr', 'add', `${this.hubAddress}/24`, 'dev', this.#rootLink])
    await must('ip', ['link', 'set', this.#rootLink, 'up'])
    await must('ip', ['route', 'add', `10.${a}.0.0/16`, 'via', `10.${a}.0.2`, 'dev', this.#rootLink])
  }

  host(index: number): Host {
    const host = this.hosts[index]
    if (host === undefined) throw new RangeError(`no host ${index} (there are ${this.hosts.length})`)
    return host
  }

  /** The command line that runs `command args` inside host `index`'s namespace. */
  wrap(index: number, command: string, args: readonly string[]): { command: string; args: string[] } {
    return { command: 'ip', args: ['netns', 'exec', this.host(index).namespace, command, ...args] }
  }

  /** Sets (or, with null, removes) the kernel cap on host `index`'s upload, in bytes per second. */
  async setUplink(index: number, rate: number | null): Promise<void> {
    const host = this.host(index)
    if (rate === null) {
      await run('tc', ['-n', host.namespace, 'qdisc', 'del', 'dev', 'eth0', 'root'])
    } else {
      if (!(rate > 0)) throw new TypeError(`an uplink cap must be positive bytes per second, not ${rate}`)
      await must('tc', ['-n', host.namespace, 'qdisc', 'replace', 'dev', 'eth0', 'root', 'tbf', ...tbfArgs(rate)])
    }
    host.uplink = rate
  }

  /** Bytes host `index` has sent on its link so far (every protocol, headers included), from the kernel. */
  async txBytes(index: number): Promise<number> {
    const out = await must('ip', ['-n', this.host(index).namespace, '-s', '-j', 'link', 'show', 'eth0'])
    const [link] = JSON.parse(out) as { stats64?: { tx?: { bytes?: number } } }[]
    const bytes = link?.stats64?.tx?.bytes
    if (typeof bytes !== 'number') throw new TestbedError('ERR_HOSTS_SETUP', `no tx counter for host ${index}`)
    return bytes
  }

  /** Removes every namespace and link this network created. Idempotent; stop processes inside it first. */
  async stop(): Promise<void> {
    if (this.#stopped) return
    this.#stopped = true
    await HostNetwork.#remove(this.range, [...this.#created].reverse())
  }
}
