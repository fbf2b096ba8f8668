import type { ObjectEntry } from '@shoal/client'

/**
 * Folders exist only inside sealed names: a file's name is its full path ("Photos/2024/beach.jpg"), and an
 * empty folder is a zero-byte marker whose name ends in "/". The tracker sees keyed hashes of these names and
 * sealed metadata, never the folder structure.
 */
export const TRASH_PREFIX = '.trash/'

export interface Item {
  kind: 'file' | 'folder'
  /** Full path; folders end in "/". */
  path: string
  name: string
  size: number
  createdAt: number
  mime?: string
  entry?: ObjectEntry
  /** In search results: the folder the item is in ("My files" for the root). */
  location?: string
}

export type SortKey = 'name' | 'size' | 'modified'
export type SortOrder = 'asc' | 'desc'

export function isTrashed(entry: ObjectEntry): boolean {
  return entry.name.startsWith(TRASH_PREFIX)
}

/** The direct children of `folder` ("" is the root; others end in "/"), folders first. */
export function itemsIn(entries: readonly ObjectEntry[], folder: string): Item[] {
  const folders = new Map<string, Item>()
  const files: Item[] = []
  for (const entry of entries) {
    if (isTrashed(entry) || !entry.name.startsWith(folder) || entry.name === folder) continue
    const rest = entry.name.slice(folder.length)
    const slash = rest.indexOf('/')
    if (slash === -1) {
      files.push({
        kind: 'file',
        path: entry.name,
        name: rest,
        size: entry.size,
        createdAt: entry.createdAt,
        entry,
        ...(entry.mime === undefined ? {} : { mime: entry.mime })
      })
      continue
    }
    const name = rest.slice(0, slash)
    const path = `${folder}${name}/`
    const existing = folders.get(path)
    if (existing === undefined) {
      folders.set(path, { kind: 'folder', path, name, size: entry.size, createdAt: entry.createdAt })
    } else {
      existing.size += entry.size
      existing.createdAt = Math.max(existing.createdAt, entry.createdAt)
    }
  }
  return [...[...folders.values()].sort(byName), ...files.sort(byName)]
}

/** Every entry at or below `path` (a file's own entry, or a folder's marker and contents). */
export function entriesUnder(entries: readonly ObjectEntry[], path: string): ObjectEntry[] {
  return path.endsWith('/') ? entries.filter((e) => e.name.startsWith(path)) : entries.filter((e) => e.name === path)
}

/** "report.pdf" -> "report (2).pdf" until the name is free in `taken`. */
export function freeName(path: string, taken: ReadonlySet<string>): string {
  if (!taken.has(path)) return path
  const slash = path.lastIndexOf('/')
  const dir = path.slice(0, slash + 1)
  const base = path.slice(slash + 1)
  const dot = base.lastIndexOf('.')
  const stem = dot > 0 ? base.slice(0, dot) : base
  const ext = dot > 0 ? base.slice(dot) : ''
  for (let n = 2; ; n++) {
    const candidate = `${dir}${stem} (${n})${ext}`
    if (!taken.has(candidate)) return candidate
  }
}

export function crumbs(folder: string): { name: string; path: string }[] {
  const parts = folder.split('/').filter((p) => p.length > 0)
  return parts.map((name, i) => ({ name, path: `${parts.slice(0, i + 1).join('/')}/` }))
}

/** Every folder that exists (as a marker or as a prefix of a file), sorted, each ending in "/". */
export function allFolders(entries: readonly ObjectEntry[]): string[] {
  const folders = new Set<string>()
  for (const e of entries) {
    if (isTrashed(e)) continue
    const parts = e.name.split('/')
    for (let i = 1; i < parts.length; i++) folders.add(`${parts.slice(0, i).join('/')}/`)
  }
  return [...folders].sort((a, b) => a.localeCompare(b, undefined, { numeric: true }))
}

const byName = (a: Item, b: Item) => a.name.localeCompare(b.name, undefined, { numeric: true })

/** Folders stay above files whatever the order; ties keep name order so the list does not jump. */
export function sortItems(items: readonly Item[], key: SortKey, order: SortOrder): Item[] {
  const sign = order === 'asc' ? 1 : -1
  const compare = (a: Item, b: Item): number => {
    if (a.kind !== b.kind) return a.kind === 'folder' ? -1 : 1
    const primary = key === 'size' ? a.size - b.size : key === 'modified' ? a.createdAt - b.createdAt : byName(a, b)
    return primary !== 0 ? sign * primary : byName(a, b)
  }
  return [...items].sort(compare)
}

/**
 * Search by name over every live file and folder (the names are decrypted in this browser; the tracker only
 * ever sees keyed hashes, so there is nothing to ask it). Case- and accent-insensitive substring match.
 */
export function searchItems(entries: readonly ObjectEntry[], query: string): Item[] {
  const fold = (s: string) => s.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase()
  const needle = fold(query.trim())
  if (needle === '') return []
  const where = (path: string) => {
    const trimmed = path.endsWith('/') ? path.slice(0, -1) : path
    const parent = trimmed.slice(0, trimmed.lastIndexOf('/') + 1)
    return parent === '' ? 'My files' : parent.slice(0, -1)
  }
  const found: Item[] = []
  for (const folder of allFolders(entries)) {
    const name = folder.slice(0, -1).slice(folder.slice(0, -1).lastIndexOf('/') + 1)
    if (!fold(name).includes(needle)) continue
    const inside = entries.filter((e) => !isTrashed(e) && e.name.startsWith(folder))
    found.push({
      kind: 'folder',
      path: folder,
      name,
      size: inside.reduce((sum, e) => sum + e.size, 0),
      createdAt: Math.max(0, ...inside.map((e) => e.createdAt)),
      location: where(folder)
    })
  }
  for (const entry of entries) {
    if (isTrashed(entry) || entry.name.endsWith('/')) continue
    const name = entry.name.slice(entry.name.lastIndexOf('/') + 1)
    if (!fold(name).includes(needle)) continue
    found.push({
      kind: 'file',
      path: entry.name,
      name,
      size: entry.size,
      createdAt: entry.createdAt,
      entry,
      location: where(entry.name),
      ...(entry.mime === undefined ? {} : { mime: entry.mime })
    })
  }
  return found
}
