#!/usr/bin/env node
import { reexecWithRuntimeTuning } from '@shoal/core/runtime-tuning'
import { freshBundle } from './bundle.js'

// Only the commands that move file data: a second start costs ~40 ms, which a `shoal ls` would only lose. A
// 4 MB young generation frees the dead noise buffers of a transfer sooner (runtime-tuning.js).
if (['put', 'get', 'backup'].includes(process.argv[2] ?? '')) reexecWithRuntimeTuning({ semiSpaceMB: 4 })
await import(freshBundle() ?? '../src/bin.ts')
