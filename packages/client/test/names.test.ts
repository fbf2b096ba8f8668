import { ErrorCode } from '@shoal/core'
import { describe, expect, it } from 'vitest'
import { checkName, checkPath, joinPath } from '../src/names.ts'

const refused = (fn: () => unknown) => expect(fn).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_INPUT }))

describe('names', () => {
  it('a single name refuses "/", empty, dot names, control characters and over-long names', () => {
    expect(checkName('report (2).pdf')).toBe('report (2).pdf')
    refused(() => checkName('a/b'))
    refused(() => checkName('  '))
    refused(() => checkName('..'))
    refused(() => checkName('bell\u0007'))
    refused(() => checkName('é'.repeat(128)))
  })

  it('a path refuses empty folder names and bad parts, and allows folder markers', () => {
    expect(checkPath('Photos/2024/beach.jpg')).toBe('Photos/2024/beach.jpg')
    expect(checkPath('Photos/')).toBe('Photos/')
    refused(() => checkPath('/etc'))
    refused(() => checkPath('a//b'))
    refused(() => checkPath('a/../b'))
    refused(() => checkPath(''))
  })

  it('joins a folder and a name', () => {
    expect(joinPath('', 'a.txt')).toBe('a.txt')
    expect(joinPath('Backups/phone/', 'a.txt')).toBe('Backups/phone/a.txt')
    refused(() => joinPath('Backups', 'x/y'))
  })
})
