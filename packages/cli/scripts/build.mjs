// Builds dist/: the shoal command as one ESM bundle (plus its codec worker and the erasure codec's WebAssembly).
// Why: run from source, `shoal get` spent ~0.5 s of its first second resolving and type-stripping 619 modules
// before it sent a byte (docs/transport-tuning.md, "Start-up"); the bundle loads in one read and parse.
// bin/shoal.js runs the bundle only while dist/inputs.json still matches every workspace file it was built
// from, and the source otherwise, so an edit is never hidden by a stale build.
// Plain JavaScript: `node scripts/bootstrap.mjs` runs it right after installing, before anything else.
import { copyFileSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { rolldown } from 'rolldown'

const cli = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const root = resolve(cli, '../..')
const dist = join(cli, 'dist')
const client = join(root, 'packages/client/src')
const core = join(root, 'packages/core/src')
const WASM = 'reed-solomon-erasure.wasm'

/** Source text the bundle must change, each checked to be there so that a refactor fails the build, not a run. */
const rewrites = [
  {
    file: join(client, 'codec/worker-engine.ts'),
    from: "new URL('./codec-worker.ts', import.meta.url)",
    to: "new URL('./codec-worker.mjs', import.meta.url)"
  },
  {
    file: join(core, 'erasure/load-wasm.node.ts'),
    from: "createRequire(import.meta.url).resolve('@digitaldefiance/reed-solomon-erasure.wasm/wasm')",
    to: `new URL('./${WASM}', import.meta.url)`
  }
]

/**
 * node:http and node:https, required rather than imported. An ESM import of a built-in reads every export, and
 * node:http's WebSocket export loads undici (Node's fetch): 40-60 ms of every command's start, for a class
 * nothing here uses (libp2p's WebSockets transport imports node:http). The module below exports what the
 * built-in exports as plain values, not its lazy getters; an import of a name it lacks fails the build.
 */
const REQUIRED_BUILTINS = new Set(['http', 'https', 'node:http', 'node:https'])
const requireBuiltin = createRequire(import.meta.url)
function requiredBuiltinModule(name) {
  const exports = requireBuiltin(`node:${name}`)
  const plain = Object.keys(exports).filter(
    (key) => /^[A-Za-z_$][\w$]*$/.test(key) && Object.getOwnPropertyDescriptor(exports, key)?.get === undefined
  )
  return [
    "import { createRequire } from 'node:module'",
    `const m = createRequire(import.meta.url)('node:${name}')`,
    'export default m',
    `export const { ${plain.join(', ')} } = m`
  ].join('\n')
}

const started = Date.now()
rmSync(dist, { recursive: true, force: true })
const bundle = await rolldown({
  input: { shoal: join(cli, 'src/bin.ts'), 'codec-worker': join(client, 'codec/codec-worker.ts') },
  platform: 'node',
  logLevel: 'warn',
  plugins: [
    {
      name: 'shoal-required-builtins',
      resolveId(source) {
        return REQUIRED_BUILTINS.has(source) ? `\0required:${source.replace(/^node:/, '')}` : null
      },
      load(id) {
        return id.startsWith('\0required:') ? requiredBuiltinModule(id.slice('\0required:'.length)) : null
      }
    },
    {
      name: 'shoal-bundle-paths',
      transform(code, id) {
        const rewrite = rewrites.find((r) => r.file === id)
        if (rewrite === undefined) return null
        if (!code.includes(rewrite.from)) throw new Error(`${relative(root, id)} no longer has ${rewrite.from}`)
        return code.replace(rewrite.from, rewrite.to)
      }
    }
  ]
})
const { output } = await bundle.write({
  dir: dist,
  format: 'esm',
  entryFileNames: '[name].mjs',
  chunkFileNames: '[name]-[hash].mjs'
})
await bundle.close()
const wasmSource = createRequire(join(core, 'erasure/load-wasm.node.ts')).resolve(
  '@digitaldefiance/reed-solomon-erasure.wasm/wasm'
)
copyFileSync(wasmSource, join(dist, WASM))

// What the bundle was built from: every workspace source file, and the install (a reinstall or a patched
// dependency rebuilds). Size and mtime, not content: checking ~200 stats costs ~2 ms at every start.
const files = new Set([join(root, 'node_modules/.modules.yaml'), join(cli, 'scripts/build.mjs')])
for (const chunk of output) {
  for (const id of chunk.type === 'chunk' ? chunk.moduleIds : []) {
    if (!id.includes('/node_modules/') && id.startsWith(root)) files.add(id)
  }
}
const inputs = [...files].sort().map((file) => {
  const stat = statSync(file)
  return [relative(cli, file), stat.size, stat.mtimeMs]
})
mkdirSync(dist, { recursive: true })
writeFileSync(join(dist, 'inputs.json'), `${JSON.stringify({ inputs })}\n`)
const kb = Math.round(statSync(join(dist, 'shoal.mjs')).size / 1024)
const version = JSON.parse(readFileSync(join(cli, 'package.json'), 'utf8')).version
console.error(
  `shoal ${version}: built dist/shoal.mjs (${kb} KiB, ${inputs.length} inputs) in ${Date.now() - started} ms`
)
