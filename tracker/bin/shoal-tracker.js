#!/usr/bin/env node
import { reexecWithRuntimeTuning } from '@shoal/core/runtime-tuning'

reexecWithRuntimeTuning()
await import('../src/bin.ts')
