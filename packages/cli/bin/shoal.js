#!/usr/bin/env node
import { reexecWithRuntimeTuning } from '@shoal/core/runtime-tuning'
import { freshBundle } from './bundle.js'

// Only the commands that move file data: a second start costs ~40 ms, which a `shoal ls` would only lose.
if (['put', 'get', 'backup'].includes(process.argv[2] ?? '')) reexecWithRuntimeTuning()
await import(freshBundle() ?? '../src/bin.ts')
