import type { ObjectEntry, ShoalClient } from '@shoal/client'
import { entriesUnder, freeName, isTrashed, TRASH_PREFIX } from './tree.ts'

/**
 * Folder-level operations are many object renames: a folder is only a prefix of sealed names. Each rename is
 * atomic on the tracker; a folder move that fails half-way leaves every file whole, some at the old path and
 * some at the new one, and can simply be repeated.
 */

function randomTag(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(6)), (b) => b.toString(16).padStart(2, '0')).join('')
}

function baseName(path: string): string {
  const trimmed = path.endsWith('/') ? path.slice(0, -1) : path
  return trimmed.slice(trimmed.lastIndexOf('/') + 1)
}

function parentPath(path: string): string {
  const trimmed = path.endsWith('/') ? path.slice(0, -1) : path
  return trimmed.slice(0, trimmed.lastIndexOf('/') + 1)
}

/** Moves a file or folder (and everything in it) to a new path. */
export async function movePath(client: ShoalClient, entries: readonly ObjectEntry[], from: string, to: string) {
  if (from === to) return
  if (from.endsWith('/') && to.startsWith(from)) throw new Error('A folder cannot be moved into itself.')
  const taken = new Set(entries.map((e) => e.name))
  const targets = entriesUnder(entries, from)
  for (const e of targets) {
    const next = to + e.name.slice(from.length)
    if (taken.has(next)) throw new Error(`"${next}" already exists.`)
  }
  for (const e of targets) await client.rename(e.name, to + e.name.slice(from.length))
}

/** Renames in place: same folder, new last name. */
export function renamedPath(path: string, name: string): string {
  return `${parentPath(path)}${name}${path.endsWith('/') ? '/' : ''}`
}

/** Moves into another folder, keeping the name. */
export function movedPath(path: string, folder: string): string {
  return `${folder}${baseName(path)}${path.endsWith('/') ? '/' : ''}`
}

/**
 * Trash: each item moves under `.trash/<tag>/` (so its name is free again) and remembers where it was, in its
 * sealed metadata. It keeps counting against the quota until it is deleted for good.
 */
export async function moveToTrash(
  client: ShoalClient,
  entries: readonly ObjectEntry[],
  path: string,
  tag = randomTag()
): Promise<string> {
  const at = Date.now()
  const base = parentPath(path)
  for (const e of entriesUnder(entries, path)) {
    await client.rename(e.name, `${TRASH_PREFIX}${tag}/${e.name.slice(base.length)}`, { trash: { from: e.name, at } })
  }
  return tag
}

/**
 * Trashes several items under one tag, so one Undo puts them all back. Returns the tag (for `undoTrash`).
 */
export async function moveAllToTrash(client: ShoalClient, entries: readonly ObjectEntry[], paths: readonly string[]) {
  const tag = randomTag()
  for (const path of paths) await moveToTrash(client, entries, path, tag)
  return tag
}

/** Undo: puts back everything trashed under `tag`, from a fresh listing (the one on screen may be stale). */
export async function undoTrash(client: ShoalClient, tag: string): Promise<void> {
  const entries = await client.list()
  for (const item of trashItems(entries).filter((i) => i.path.startsWith(`${TRASH_PREFIX}${tag}/`))) {
    await restore(client, entries, item)
  }
}

export interface TrashItem {
  /** `.trash/<tag>/<name>` (folders end in "/"). */
  path: string
  name: string
  kind: 'file' | 'folder'
  from: string
  at: number
  size: number
  entries: ObjectEntry[]
  mime?: string
}

/** What the trash shows: one item per trashed file or folder. */
export function trashItems(entries: readonly ObjectEntry[]): TrashItem[] {
  const items = new Map<string, TrashItem>()
  for (const e of entries) {
    if (!isTrashed(e)) continue
    const rest = e.name.slice(TRASH_PREFIX.length)
    const tagEnd = rest.indexOf('/')
    const inner = rest.slice(tagEnd + 1)
    const slash = inner.indexOf('/')
    const top = slash === -1 ? inner : inner.slice(0, slash + 1)
    const path = `${TRASH_PREFIX}${rest.slice(0, tagEnd + 1)}${top}`
    const trash = e.meta.trash
    let item = items.get(path)
    if (item === undefined) {
      const from = trash?.from ?? inner
      item = {
        path,
        name: top.endsWith('/') ? top.slice(0, -1) : top,
        kind: top.endsWith('/') ? 'folder' : 'file',
        from: top.endsWith('/') ? from.slice(0, from.length - inner.length) + top : from,
        at: trash?.at ?? e.createdAt,
        size: 0,
        entries: [],
        ...(e.mime === undefined || top.endsWith('/') ? {} : { mime: e.mime })
      }
      items.set(path, item)
    }
    item.size += e.size
    item.entries.push(e)
  }
  return [...items.values()].sort((a, b) => b.at - a.at)
}

/** Puts an item back where it was; a name taken meanwhile gets a free variant ("name (2)"). */
export async function restore(client: ShoalClient, entries: readonly ObjectEntry[], item: TrashItem) {
  const taken = new Set(entries.filter((e) => !isTrashed(e)).map((e) => e.name))
  let target = item.from
  if (item.kind === 'file') target = freeName(target, taken)
  else if ([...taken].some((n) => n.startsWith(target))) target = `${freeName(target.slice(0, -1), taken)}/`
  for (const e of item.entries) {
    await client.rename(e.name, target + e.name.slice(item.path.length), { trash: null })
  }
}

/** How long an item stays in the trash before the app deletes it for good (it is billed while it is there). */
export const TRASH_KEEP_MS = 30 * 24 * 3_600_000

/** Trash items older than TRASH_KEEP_MS at `now`. */
export function expiredTrash(entries: readonly ObjectEntry[], now: number): TrashItem[] {
  return trashItems(entries).filter((item) => item.at <= now - TRASH_KEEP_MS)
}

export async function deleteForever(client: ShoalClient, items: readonly TrashItem[]) {
  for (const item of items) for (const e of item.entries) await client.remove(e.name)
}
