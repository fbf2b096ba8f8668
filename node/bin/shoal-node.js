#!/usr/bin/env node
import { reexecWithTunedMalloc } from '@shoal/core/malloc-tuning'

reexecWithTunedMalloc()
await import('../src/bin.ts')
