// Entry point of `npm start` and `npm test` on a machine that has only Node (>= 20) and npm.
// It installs the workspace with a pinned pnpm, which also brings Node 22 (libp2p 3 needs it) into
// node_modules/.bin, then runs the real command on that Node. Plain JavaScript: it runs on the system Node.
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const PNPM = 'pnpm@10.34.9'
const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const bin = (name) => join(root, 'node_modules', '.bin', name)

function run(command, args, env = {}) {
  const result = spawnSync(command, args, {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, PATH: `${join(root, 'node_modules', '.bin')}:${process.env.PATH}`, ...env }
  })
  if (result.error) {
    console.error(`shoal: could not run ${command}: ${result.error.message}`)
    process.exit(1)
  }
  return result.status ?? 1
}

function installed() {
  const marker = join(root, 'node_modules', '.modules.yaml')
  if (!existsSync(bin('node')) || !existsSync(bin('pnpm')) || !existsSync(marker)) return false
  // Reinstall when the lockfile changed since the last install.
  return statSync(join(root, 'pnpm-lock.yaml')).mtimeMs <= statSync(marker).mtimeMs
}

function install() {
  if (installed()) return
  console.error('shoal: installing dependencies (first run only)...')
  const npx = process.platform === 'win32' ? 'npx.cmd' : 'npx'
  const status = run(npx, ['-y', PNPM, 'install', '--frozen-lockfile'])
  if (status !== 0) {
    console.error('shoal: installing dependencies failed (see above)')
    process.exit(status)
  }
}

// The shoal command runs from a bundle built from the workspace (packages/cli/scripts/build.mjs): it starts
// ~0.5 s sooner than from source. Rebuilt whenever a file it was built from changed; a failed build fails here.
async function buildCli() {
  const { freshBundle } = await import('../packages/cli/bin/bundle.js')
  if (freshBundle({ env: {} }) !== undefined) return
  const status = run(bin('node'), [join(root, 'packages', 'cli', 'scripts', 'build.mjs')])
  if (status !== 0) {
    console.error('shoal: building the shoal command failed (see above)')
    process.exit(status)
  }
}

// Browser tests drive Debian's Chromium (Playwright cannot download its own browser here). Install it when
// missing; a machine where that fails still runs every other test, and the browser tests say what is missing.
const CHROMIUM = '/usr/bin/chromium'
function ensureChromium() {
  if (existsSync(CHROMIUM) || process.platform !== 'linux') return
  console.error('shoal: installing Chromium for the browser tests (apt-get install chromium)...')
  const env = { DEBIAN_FRONTEND: 'noninteractive' }
  const sudo = process.getuid?.() === 0 ? [] : ['sudo', '-n']
  const apt = (args) => {
    const [command, ...rest] = [...sudo, 'apt-get', ...args]
    return spawnSync(command, rest, { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ...env } })
  }
  let result = apt(['install', '-y', '--no-install-recommends', 'chromium'])
  if (result.status !== 0) {
    apt(['update'])
    result = apt(['install', '-y', '--no-install-recommends', 'chromium'])
  }
  if (result.status !== 0 || !existsSync(CHROMIUM)) {
    const why =
      result.error?.message ??
      (result.status === 0
        ? `apt-get succeeded but ${CHROMIUM} is still missing`
        : `apt-get exited with ${result.status}`)
    console.error(
      `shoal: could not install Chromium (${why}); the browser tests will fail until \`apt-get install -y chromium\` succeeds`
    )
  }
}

// One closing line in the plain form CI readers understand, whatever the runner prints above it.
function summarize(report, status) {
  let result
  try {
    result = JSON.parse(readFileSync(report, 'utf8'))
  } catch {
    console.log(`0 passed, ${status === 0 ? 0 : 1} failed`)
    return
  }
  const skipped = (result.numPendingTests ?? 0) + (result.numTodoTests ?? 0)
  const failed = (result.numFailedTests ?? 0) + (status !== 0 && (result.numFailedTests ?? 0) === 0 ? 1 : 0)
  console.log(`\n${result.numPassedTests ?? 0} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}`)
}

const [command, ...rest] = process.argv.slice(2)
install()
await buildCli()
let status
switch (command) {
  case 'start':
    status = run(bin('node'), [
      join(root, 'test', 'bin', 'shoal-testnet.js'),
      '--nodes',
      '6',
      '--dir',
      join(root, '.shoal-dev'),
      '--port',
      '7070',
      '--web-ui',
      '7080',
      ...rest
    ])
    break
  case 'test': {
    ensureChromium()
    status = run(bin('pnpm'), ['run', 'check'])
    if (status !== 0) break
    const report = join(root, 'node_modules', '.cache', 'vitest-report.json')
    rmSync(report, { force: true })
    status = run(bin('pnpm'), [
      'exec',
      'vitest',
      'run',
      '--reporter=default',
      '--reporter=json',
      `--outputFile.json=${report}`,
      ...rest
    ])
    summarize(report, status)
    break
  }
  case 'install':
    status = 0
    break
  default:
    console.error('usage: node scripts/bootstrap.mjs start|test|install')
    status = 2
}
process.exit(status)
