#!/usr/bin/env node
import { reexecWithTunedMalloc } from '@shoal/core/malloc-tuning'

// Only the commands that move file data: a second start costs ~40 ms, which a `shoal ls` would only lose.
if (['put', 'get', 'backup'].includes(process.argv[2] ?? '')) reexecWithTunedMalloc()
await import('../src/bin.ts')
