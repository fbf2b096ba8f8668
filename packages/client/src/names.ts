import { ErrorCode, ShoalError } from '@shoal/core'

/**
 * File names and paths. A stored name is a path whose folders are separated by "/" ("Photos/2024/beach.jpg"),
 * so a "/" inside one name would silently make a folder. Every place that takes a name from a person or a
 * script (the web UI's rename and new folder, `shoal put`, `shoal backup`) checks it here first.
 */

/** Longest single name, in UTF-8 bytes: what common file systems accept, so a download can always be saved. */
export const MAX_NAME_BYTES = 255
/** Longest whole path the tracker accepts. */
export const MAX_PATH_CHARS = 1024

// Control characters make names that cannot be typed or shown; "." and ".." would escape folders on download.
// biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/

function invalid(message: string): ShoalError {
  return new ShoalError(ErrorCode.INVALID_INPUT, message, { details: { reason: 'invalid-name' } })
}

/** One name (a file or a folder, no path): refuses "/", empty, "." and "..", control characters, over-long. */
export function checkName(name: string): string {
  if (name.trim().length === 0) throw invalid('a name cannot be empty')
  if (name.includes('/')) throw invalid(`"${name}": names cannot contain "/"`)
  if (name === '.' || name === '..') throw invalid(`"${name}" is not a usable name`)
  if (CONTROL.test(name)) throw invalid(`"${printable(name)}": names cannot contain control characters`)
  if (new TextEncoder().encode(name).length > MAX_NAME_BYTES)
    throw invalid(`"${name.slice(0, 40)}…": a name can have at most ${MAX_NAME_BYTES} bytes`)
  return name
}

/**
 * A stored path ("a/b/c.txt", or a folder marker "a/b/"): each part must be a valid name, so "a//b", "/a" and
 * "a/../b" are refused instead of making empty or unreachable folders.
 */
export function checkPath(path: string): string {
  if (path.length === 0) throw invalid('a name cannot be empty')
  if (path.length > MAX_PATH_CHARS) throw invalid(`a path can have at most ${MAX_PATH_CHARS} characters`)
  const parts = (path.endsWith('/') ? path.slice(0, -1) : path).split('/')
  for (const part of parts) {
    if (part.length === 0) throw invalid(`"${path}": a path cannot have an empty folder name (leading "/" or "//")`)
    checkName(part)
  }
  return path
}

/** Joins a folder ("" or "a/b" or "a/b/") and a name into a checked path. */
export function joinPath(folder: string, name: string): string {
  checkName(name)
  const trimmed = folder.replace(/^\/+|\/+$/g, '')
  return checkPath(trimmed === '' ? name : `${trimmed}/${name}`)
}

function printable(name: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: shown as "?" in the message
  return name.replace(/[\u0000-\u001f\u007f]/g, '?')
}
