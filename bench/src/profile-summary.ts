/**
 * Summarises V8 CPU profiles written by `pnpm bench -- --client-profile DIR`: self time by function and by
 * package, per profile file (one per thread).
 *
 *   node bench/src/profile-summary.ts DIR [--top 25]
 */
import { readdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { parseArgs } from 'node:util'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  children?: number[]
}

interface CpuProfile {
  nodes: ProfileNode[]
  startTime: number
  endTime: number
  samples: number[]
  timeDeltas: number[]
}

async function profiles(dir: string): Promise<string[]> {
  const out: string[] = []
  for (const entry of await readdir(dir)) {
    const path = join(dir, entry)
    if ((await stat(path)).isDirectory()) out.push(...(await profiles(path)))
    else if (entry.endsWith('.cpuprofile')) out.push(path)
  }
  return out.sort()
}

/** 'libp2p-yamux', 'shoal-client', 'node:internal' ... from a script URL. */
function packageOf(url: string): string {
  if (url === '') return '(native / VM)'
  const pnpm = /node_modules\/\.pnpm\/[^/]+\/node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (pnpm !== null) return pnpm[1]!
  const plain = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (plain !== null) return plain[1]!
  const ours = /\/work\/main\/(packages\/[^/]+|node|tracker|bench|test)\//.exec(url)
  if (ours !== null) return `shoal ${ours[1]}`
  if (url.startsWith('node:')) return url.split('/')[0]!
  return url
}

function summarize(profile: CpuProfile, top: number): string {
  const selfUs = new Map<number, number>()
  profile.samples.forEach((id, i) => {
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0))
  })
  const byNode = new Map(profile.nodes.map((n) => [n.id, n]))
  const byFunction = new Map<string, number>()
  const byPackage = new Map<string, number>()
  let total = 0
  for (const [id, us] of selfUs) {
    const node = byNode.get(id)
    if (node === undefined) continue
    const { functionName, url, lineNumber } = node.callFrame
    if (functionName === '(idle)') continue
    total += us
    const key = `${functionName || '(anonymous)'} ${url === '' ? '' : `${url.split('/').slice(-2).join('/')}:${lineNumber + 1}`}`
    byFunction.set(key, (byFunction.get(key) ?? 0) + us)
    const pkg = functionName === '(garbage collector)' ? '(garbage collector)' : packageOf(url)
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + us)
  }
  const lines = [`busy ${(total / 1e6).toFixed(2)} s of ${((profile.endTime - profile.startTime) / 1e6).toFixed(2)} s`]
  const list = (title: string, map: Map<string, number>) => {
    lines.push(`  ${title}:`)
    for (const [key, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top)) {
      lines.push(`    ${((us / total) * 100).toFixed(1).padStart(5)}%  ${(us / 1e3).toFixed(0).padStart(6)} ms  ${key}`)
    }
  }
  list('by package', byPackage)
  list('by function (self time)', byFunction)
  return lines.join('\n')
}

// `... | head` closes the pipe early: that is not an error.
process.stdout.on('error', () => process.exit(0))
const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string' } } })
const dir = positionals[0]
if (dir === undefined) {
  process.stderr.write('usage: node bench/src/profile-summary.ts DIR [--top N]\n')
  process.exit(2)
}
for (const path of await profiles(dir)) {
  const profile = JSON.parse(await readFile(path, 'utf8')) as CpuProfile
  process.stdout.write(`\n${path}\n${summarize(profile, Number(values.top ?? 20))}\n`)
}
