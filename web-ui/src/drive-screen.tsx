import { checkName, isResumable, joinPath, type ObjectEntry, type ShoalClient } from '@shoal/client'
import type { AccountView, UsageResponse } from '@shoal/core'
import { type DragEvent, useCallback, useEffect, useMemo, useRef, useState } from 'react'
import { AccountPage } from './account-view.tsx'
import {
  deleteForever,
  expiredTrash,
  moveAllToTrash,
  movedPath,
  movePath,
  renamedPath,
  restore,
  type TrashItem,
  undoTrash
} from './actions.ts'
import { PromptDialog } from './dialog.tsx'
import { explain, explained, uploadFile } from './drive.ts'
import { DRAG_TYPE, FilesTable } from './files-table.tsx'
import { formatBytes } from './format.ts'
import { Icon, Logo } from './icons.tsx'
import { MoveDialog } from './move-dialog.tsx'
import { PhotosView, photosInOrder } from './photos-view.tsx'
import { Preview } from './preview.tsx'
import { type NameClash, ReplaceDialog } from './replace-dialog.tsx'
import { type Section, useRoute } from './route.ts'
import { saveFile } from './save.ts'
import { ShareDialog } from './share-dialog.tsx'
import { SharesView } from './shares-view.tsx'
import { backfillThumbnails } from './thumb-backfill.ts'
import { type Transfer, Transfers } from './transfers.ts'
import { TransfersPanel } from './transfers-panel.tsx'
import { TrashView } from './trash-view.tsx'
import {
  allFolders,
  crumbs,
  entriesUnder,
  freeName,
  type Item,
  isTrashed,
  itemsIn,
  type SortKey,
  type SortOrder,
  searchItems,
  sortItems
} from './tree.ts'
import { VersionsDialog } from './versions-dialog.tsx'
import { zipSize, zipStream } from './zip.ts'

type DialogState =
  | { kind: 'new-folder' }
  | { kind: 'rename'; item: Item }
  | { kind: 'move'; items: Item[] }
  | { kind: 'share'; item: Item }
  | { kind: 'versions'; item: Item }
  | { kind: 'preview'; entry: ObjectEntry; siblings: readonly ObjectEntry[] }
  | { kind: 'replace'; clashes: NameClash[] }

interface Toast {
  id: number
  text: string
  kind: 'error' | 'info'
  action?: { label: string; run: () => void }
}

const SECTIONS: { id: Section; label: string; icon: string }[] = [
  { id: 'files', label: 'My files', icon: 'drive' },
  { id: 'photos', label: 'Photos', icon: 'image' },
  { id: 'shares', label: 'Shared links', icon: 'link' },
  { id: 'trash', label: 'Trash', icon: 'trash' },
  { id: 'account', label: 'Account', icon: 'user' }
]

/** How long Undo stays offered after a delete. */
const UNDO_MS = 10_000

export function DriveScreen({ client, onSignOut }: { client: ShoalClient; onSignOut: () => void }) {
  const transfers = useMemo(() => new Transfers(2), [])
  const [entries, setEntries] = useState<ObjectEntry[]>()
  const [usage, setUsage] = useState<AccountView>()
  const [month, setMonth] = useState<UsageResponse>()
  const { route, go, replace } = useRoute()
  const { section, folder, query } = route
  const setFolder = useCallback((f: string) => go({ section: 'files', folder: f, query: '' }), [go])
  const [selected, setSelected] = useState<Set<string>>(new Set())
  const [sort, setSort] = useState<{ key: SortKey; order: SortOrder }>({ key: 'name', order: 'asc' })
  const [dragging, setDragging] = useState(false)
  const [dialog, setDialog] = useState<DialogState>()
  const [toasts, setToasts] = useState<Toast[]>([])
  const [sharesVersion, setSharesVersion] = useState(0)
  const picker = useRef<HTMLInputElement>(null)
  const uploads = useRef(
    new Map<number, { file: File; name: string; overwrite: boolean; uploadId?: string; resumable?: boolean }>()
  )

  const toast = useCallback((text: string, kind: Toast['kind'] = 'error', action?: Toast['action']) => {
    const id = Date.now() + Math.random()
    setToasts((t) => [...t, { id, text, kind, ...(action === undefined ? {} : { action }) }])
    setTimeout(() => setToasts((t) => t.filter((x) => x.id !== id)), action === undefined ? 6000 : UNDO_MS)
  }, [])

  /**
   * Reloads the list and usage; `quiet` when a failure is already shown elsewhere (a failed transfer's row).
   * An answer older than one already shown is dropped: a call that answers late holds an older list (seen: the
   * trash purge's refresh overtaken by the first load's, so purged items came back on screen). A later call
   * that fails does not hide an earlier one's answer.
   */
  const refreshes = useRef({ started: 0, shown: 0 })
  const refresh = useCallback(
    async (quiet = false) => {
      const call = ++refreshes.current.started
      try {
        const [list, account, month] = await Promise.all([
          client.list(),
          client.usage(),
          // Metering is optional on a tracker: without it the panel shows storage only.
          client.tracker.usage().catch(() => undefined)
        ])
        if (call < refreshes.current.shown) return
        refreshes.current.shown = call
        setEntries(list)
        setUsage(account)
        setMonth(month)
      } catch (err) {
        if (!quiet) toast(explain(err))
      }
    },
    [client, toast]
  )

  useEffect(() => {
    void refresh()
    client.warm()
  }, [client, refresh])

  /**
   * Downloads finished in this tab that the tracker's figure may not include yet: storage nodes settle a
   * download's receipts a second or so after it ends (node/src/settlement.ts), so "downloaded this month" shows
   * them at once as still being counted, and asks the tracker again until its figure has caught up.
   */
  const [unsettled, setUnsettled] = useState<{ base: number; bytes: number }>()
  const monthRef = useRef(month)
  monthRef.current = month
  const downloaded = useCallback((bytes: number) => {
    if (monthRef.current === undefined) return
    const base = monthRef.current.egressBytes
    setUnsettled((u) => (u === undefined ? { base, bytes } : { base: u.base, bytes: u.bytes + bytes }))
  }, [])
  const pendingEgress =
    unsettled === undefined || month === undefined
      ? 0
      : Math.max(0, unsettled.bytes - (month.egressBytes - unsettled.base))
  useEffect(() => {
    if (unsettled === undefined) return
    if (pendingEgress === 0) {
      setUnsettled(undefined)
      return
    }
    let tries = 0
    const timer = setInterval(() => {
      // Give up after a minute: a node that cannot reach the tracker settles later, by itself.
      if (++tries > 30) {
        clearInterval(timer)
        setUnsettled(undefined)
        return
      }
      client.tracker
        .usage()
        .then(setMonth)
        .catch(() => undefined)
    }, 2_000)
    return () => clearInterval(timer)
  }, [client, unsettled, pendingEgress])

  // The trash empties itself: items trashed more than TRASH_KEEP_MS ago go for good, once per visit. The
  // tracker cannot do it (which objects are in the trash is sealed metadata), so the app does, on any device.
  const purged = useRef(false)
  useEffect(() => {
    if (entries === undefined || purged.current) return
    purged.current = true
    const expired = expiredTrash(entries, Date.now())
    if (expired.length === 0) return
    const gone = new Set(expired.flatMap((item) => item.entries.map((e) => e.name)))
    deleteForever(client, expired)
      .then(() => {
        setEntries((now) => now?.filter((e) => !gone.has(e.name)))
        return refresh(true)
      })
      .catch((err: unknown) => toast(explain(err)))
  }, [entries, client, refresh, toast])

  // The album fills in thumbnails that photos backed up from the command line arrived without.
  useEffect(() => {
    if (section !== 'photos' || entries === undefined) return
    const controller = new AbortController()
    void backfillThumbnails(client, photosInOrder(entries), controller.signal, () => void refresh(true))
    return () => controller.abort()
  }, [section, entries, client, refresh])

  const all = entries ?? []
  const live = useMemo(() => all.filter((e) => !isTrashed(e)), [all])
  const taken = useMemo(() => new Set(all.map((e) => e.name)), [all])
  const items = useMemo(
    () => sortItems(query.trim() === '' ? itemsIn(all, folder) : searchItems(all, query), sort.key, sort.order),
    [all, folder, query, sort]
  )
  const folders = useMemo(() => allFolders(all), [all])
  // A selection belongs to what is on screen: changing folder, search or section clears it.
  // biome-ignore lint/correctness/useExhaustiveDependencies: the dependencies are the triggers
  useEffect(() => setSelected(new Set()), [section, folder, query])
  const selectedItems = useMemo(() => items.filter((i) => selected.has(i.path)), [items, selected])

  /** Runs a change, then reloads the list; errors become a toast. */
  const act = useCallback(
    async (change: () => Promise<unknown>, done?: string) => {
      try {
        await change()
        if (done !== undefined) toast(done, 'info')
      } catch (err) {
        toast(explain(err))
      }
      await refresh()
    },
    [refresh, toast]
  )

  const startUpload = useCallback(
    (file: File, name: string, overwrite: boolean, resume?: string) => {
      const { id, done } = transfers.add(
        'upload',
        name.slice(name.lastIndexOf('/') + 1),
        file.size,
        ({ signal, progress }) =>
          uploadFile(
            client,
            { file, name, overwrite },
            {
              signal,
              progress,
              ...(resume === undefined ? {} : { resume }),
              onStarted: (uploadId) => {
                const u = uploads.current.get(id)
                if (u !== undefined) u.uploadId = uploadId
              }
            }
          ).catch((err: unknown) => {
            const u = uploads.current.get(id)
            if (u !== undefined) u.resumable = isResumable(err)
            throw explained(err)
          })
      )
      uploads.current.set(id, { file, name, overwrite })
      void done.then(() => refresh(true))
    },
    [client, transfers, refresh]
  )

  const uploadFiles = useCallback(
    (files: Iterable<File>, into?: string) => {
      const batch = [...files]
      const total = batch.reduce((sum, f) => sum + f.size, 0)
      // Refused before anything moves; the tracker checks again when each upload begins.
      if (usage !== undefined && usage.used + total > usage.quota) {
        toast(
          `Not enough space: ${batch.length === 1 ? 'this file needs' : 'these files need'} ${formatBytes(total)} and ${formatBytes(Math.max(0, usage.quota - usage.used))} is left.`
        )
        return
      }
      const target = into ?? (section === 'files' ? folder : '')
      const reserved = new Set(taken)
      const clashes: NameClash[] = []
      const asked = new Set<string>()
      for (const file of batch) {
        let name: string
        try {
          name = joinPath(target, file.name)
          // A file of this name is already in the drive: ask once, for all of them, before any is uploaded.
          if (taken.has(name) && !asked.has(name)) {
            asked.add(name)
            clashes.push({ file, name })
            continue
          }
          name = freeName(name, reserved)
        } catch (err) {
          toast(explain(err))
          continue
        }
        reserved.add(name)
        startUpload(file, name, false)
      }
      if (clashes.length > 0) setDialog({ kind: 'replace', clashes })
    },
    [folder, section, taken, usage, startUpload, toast]
  )

  /** The answer to ReplaceDialog: each clash as a new version of its file, or under a free name. */
  const resolveClashes = useCallback(
    (clashes: readonly NameClash[], replace: boolean) => {
      setDialog(undefined)
      const reserved = new Set(taken)
      for (const { file, name } of clashes) {
        const target = replace ? name : freeName(name, reserved)
        reserved.add(target)
        startUpload(file, target, replace)
      }
    },
    [taken, startUpload]
  )

  const retry = useCallback(
    (t: Transfer) => {
      const u = uploads.current.get(t.id)
      if (u === undefined) return
      uploads.current.delete(t.id)
      transfers.remove(t.id)
      startUpload(u.file, u.name, u.overwrite, u.uploadId)
    },
    [startUpload, transfers]
  )

  // Uploads cut off by a lost connection go on by themselves once the browser is back online; Retry does the
  // same by hand (and is the way for anything else that failed).
  useEffect(() => {
    const resumeInterrupted = (): void => {
      for (const t of transfers.snapshot()) {
        if (t.kind === 'upload' && t.state === 'failed' && uploads.current.get(t.id)?.resumable === true) retry(t)
      }
    }
    window.addEventListener('online', resumeInterrupted)
    return () => window.removeEventListener('online', resumeInterrupted)
  }, [transfers, retry])

  /** A file (or, with `version`, one of its versions: see versions-dialog.tsx) saved to disk. */
  const download = useCallback(
    (entry: ObjectEntry, version?: string) => {
      const name = entry.name.slice(entry.name.lastIndexOf('/') + 1)
      transfers.add('download', name, entry.size, async ({ signal, progress }) => {
        try {
          const { stream } = await client.get(entry.name, {
            signal,
            onProgress: (p) => progress(p.bytes),
            ...(version === undefined ? {} : { version })
          })
          await saveFile(
            { name, size: entry.size, ...(entry.mime === undefined ? {} : { mime: entry.mime }) },
            stream,
            signal
          )
          downloaded(entry.size)
        } catch (err) {
          throw explained(err)
        }
      })
    },
    [client, transfers, downloaded]
  )

  /**
   * Several files, or a folder, as one zip streamed to disk: each file is fetched and decrypted in turn while
   * the archive is written (stored, so the zip is the files' own bytes plus small headers).
   */
  const downloadZip = useCallback(
    (paths: readonly string[], archive: string) => {
      const files = paths.flatMap((p) => entriesUnder(all, p)).filter((e) => !e.name.endsWith('/'))
      if (files.length === 0) return toast('There is nothing to download in this selection.')
      const base = folder
      const zipEntries = files.map((e) => ({
        name: e.name.startsWith(base) ? e.name.slice(base.length) : e.name,
        size: e.size,
        modified: e.meta.taken ?? e.createdAt,
        open: async () => (await client.get(e.name)).stream
      }))
      const size = zipSize(zipEntries)
      transfers.add('download', archive, size, async ({ signal, progress }) => {
        let bytes = 0
        async function* counted(): AsyncGenerator<Uint8Array> {
          for await (const chunk of zipStream(zipEntries)) {
            signal.throwIfAborted()
            bytes += chunk.length
            progress(bytes)
            yield chunk
          }
        }
        try {
          await saveFile({ name: archive, size, mime: 'application/zip' }, counted(), signal)
          downloaded(files.reduce((sum, e) => sum + e.size, 0))
        } catch (err) {
          throw explained(err)
        }
      })
    },
    [all, client, folder, toast, transfers, downloaded]
  )

  const downloadItem = useCallback(
    (item: Item) => {
      if (item.kind === 'file' && item.entry !== undefined) download(item.entry)
      else downloadZip([item.path], `${item.name}.zip`)
    },
    [download, downloadZip]
  )

  /** Moves items to the trash under one tag and offers Undo, which puts all of them back. */
  const trash = useCallback(
    async (paths: readonly string[], label: string) => {
      try {
        const tag = await moveAllToTrash(client, all, paths)
        setSelected(new Set())
        toast(`Moved ${label} to the trash`, 'info', {
          label: 'Undo',
          run: () => void act(() => undoTrash(client, tag), `Restored ${label}`)
        })
      } catch (err) {
        toast(explain(err))
      }
      await refresh()
    },
    [client, all, toast, refresh, act]
  )

  const moveInto = useCallback(
    async (paths: readonly string[], target: string) => {
      for (const path of paths) {
        if (path.endsWith('/') && target.startsWith(path)) throw new Error('A folder cannot be moved into itself.')
      }
      // Each move sees the entries as they are after the previous one.
      let current = all
      for (const path of paths) {
        await movePath(client, current, path, movedPath(path, target))
        current = await client.list()
      }
    },
    [client, all]
  )

  const openFile = useCallback(
    (entry: ObjectEntry) => {
      const siblings = items.flatMap((i) => (i.entry === undefined ? [] : [i.entry]))
      setDialog({ kind: 'preview', entry, siblings })
    },
    [items]
  )

  const onDrop = (e: DragEvent) => {
    e.preventDefault()
    setDragging(false)
    if (e.dataTransfer.types.includes(DRAG_TYPE)) return
    if (e.dataTransfer.files.length > 0) uploadFiles(e.dataTransfer.files)
  }

  const open = (s: Section) => go({ section: s, folder: '', query: '' })
  const onSort = (key: SortKey) =>
    // The same column again reverses; a new column starts A-Z for names, biggest or newest first otherwise.
    setSort((s) =>
      s.key === key
        ? { key, order: s.order === 'asc' ? 'desc' : 'asc' }
        : { key, order: key === 'name' ? 'asc' : 'desc' }
    )
  /** A breadcrumb takes dragged rows: they move into that folder. */
  const crumbDrop = (path: string) => ({
    onDragOver: (e: DragEvent) => {
      if (e.dataTransfer.types.includes(DRAG_TYPE)) {
        e.preventDefault()
        e.stopPropagation()
      }
    },
    onDrop: (e: DragEvent) => {
      const paths = e.dataTransfer.getData(DRAG_TYPE)
      if (paths === '') return
      e.preventDefault()
      e.stopPropagation()
      void act(() => moveInto(JSON.parse(paths) as string[], path))
    }
  })

  const title = SECTIONS.find((s) => s.id === section)?.label ?? ''

  return (
    <div className="shell">
      <aside className="sidebar">
        <div className="brand">
          <Logo />
          <span>Shoal</span>
        </div>
        <button type="button" className="button primary wide" onClick={() => picker.current?.click()}>
          <Icon name="upload" /> Upload files
        </button>
        <nav aria-label="Sections">
          {SECTIONS.map((s) => (
            <button key={s.id} type="button" aria-current={section === s.id} onClick={() => open(s.id)}>
              <Icon name={s.icon} /> {s.label}
            </button>
          ))}
        </nav>
        <UsagePanel
          usage={usage}
          month={month}
          pending={pendingEgress}
          files={all.filter((e) => !e.name.endsWith('/')).length}
        />
        <div className="account">
          <span title={client.email}>{client.email}</span>
          <button type="button" className="icon-button" title="Sign out" aria-label="Sign out" onClick={onSignOut}>
            <Icon name="logout" />
          </button>
        </div>
      </aside>
      <main
        className="main"
        onDragOver={(e) => {
          if (e.dataTransfer.types.includes('Files')) {
            e.preventDefault()
            setDragging(true)
          }
        }}
        onDragLeave={(e) => {
          if (e.currentTarget === e.target) setDragging(false)
        }}
        onDrop={onDrop}
      >
        <header className="toolbar">
          {section === 'files' ? (
            <nav className="crumbs" aria-label="Folder">
              <button type="button" className="crumb" onClick={() => setFolder('')} {...crumbDrop('')}>
                My files
              </button>
              {crumbs(folder).map((c) => (
                <span key={c.path} className="crumb-part">
                  <span className="sep">/</span>
                  <button
                    type="button"
                    className="crumb"
                    title={c.name}
                    onClick={() => setFolder(c.path)}
                    {...crumbDrop(c.path)}
                  >
                    {c.name}
                  </button>
                </span>
              ))}
              {query.trim() !== '' && <span className="crumb-search">· search results</span>}
            </nav>
          ) : (
            <h1>{title}</h1>
          )}
          {section === 'files' && (
            <div className="toolbar-actions">
              <label className="search">
                <Icon name="search" size={16} />
                <input
                  type="search"
                  placeholder="Search by name"
                  aria-label="Search by name"
                  value={query}
                  onChange={(e) => replace({ section: 'files', folder, query: e.target.value })}
                />
              </label>
              <button type="button" className="button" onClick={() => setDialog({ kind: 'new-folder' })}>
                <Icon name="plus" /> New folder
              </button>
            </div>
          )}
        </header>
        {section === 'files' && selectedItems.length > 0 && (
          <div className="bulk-bar" role="toolbar" aria-label="Selection">
            <span className="bulk-count" data-testid="selection-count">
              {selectedItems.length} selected
            </span>
            <button
              type="button"
              className="button small"
              onClick={() =>
                selectedItems.length === 1 && selectedItems[0]!.kind === 'file'
                  ? downloadItem(selectedItems[0]!)
                  : downloadZip(
                      selectedItems.map((i) => i.path),
                      `shoal-${selectedItems.length}-items.zip`
                    )
              }
            >
              <Icon name="download" size={16} /> Download
            </button>
            <button
              type="button"
              className="button small"
              onClick={() => setDialog({ kind: 'move', items: selectedItems })}
            >
              <Icon name="move" size={16} /> Move
            </button>
            <button
              type="button"
              className="button small danger"
              onClick={() =>
                void trash(
                  selectedItems.map((i) => i.path),
                  selectedItems.length === 1 ? `“${selectedItems[0]!.name}”` : `${selectedItems.length} items`
                )
              }
            >
              <Icon name="trash" size={16} /> Delete
            </button>
            <button type="button" className="button small" onClick={() => setSelected(new Set())}>
              Clear selection
            </button>
          </div>
        )}
        <input
          ref={picker}
          type="file"
          multiple
          hidden
          data-testid="file-input"
          onChange={(e) => {
            if (e.target.files !== null) uploadFiles(e.target.files)
            e.target.value = ''
          }}
        />
        {entries === undefined ? (
          <div className="empty">Loading your files…</div>
        ) : section === 'files' ? (
          <FilesTable
            items={items}
            empty={query.trim() !== '' ? 'search' : folder === '' ? 'root' : 'folder'}
            selected={selected}
            onSelect={setSelected}
            sort={sort}
            onSort={onSort}
            actions={{
              onUpload: () => picker.current?.click(),
              onOpenFolder: setFolder,
              onOpenFile: openFile,
              onDownload: downloadItem,
              onShare: (item) => setDialog({ kind: 'share', item }),
              onVersions: (item) => setDialog({ kind: 'versions', item }),
              onRename: (item) => setDialog({ kind: 'rename', item }),
              onMove: (item) => setDialog({ kind: 'move', items: [item] }),
              onTrash: (item) => void trash([item.path], `“${item.name}”`),
              onDropPaths: (paths, target) => void act(() => moveInto(paths, target)),
              onDropFiles: (files, target) => uploadFiles(files, target)
            }}
          />
        ) : section === 'photos' ? (
          <PhotosView
            entries={live}
            onOpen={(entry) => setDialog({ kind: 'preview', entry, siblings: photosInOrder(live) })}
          />
        ) : section === 'shares' ? (
          <SharesView client={client} entries={all} version={sharesVersion} onError={toast} />
        ) : section === 'account' ? (
          <AccountPage client={client} onChanged={() => void refresh()} onError={toast} />
        ) : (
          <TrashView
            entries={all}
            onRestore={(item: TrashItem) => void act(() => restore(client, all, item), `Restored “${item.name}”`)}
            onDelete={(item: TrashItem) =>
              void act(() => deleteForever(client, [item]), `Deleted “${item.name}” for good`)
            }
            onEmpty={(list: TrashItem[]) => void act(() => deleteForever(client, list), 'Trash emptied')}
          />
        )}
        {dragging && (
          <div className="dropzone">
            <Icon name="upload" size={36} />
            <p>Drop to upload to {section !== 'files' || folder === '' ? 'My files' : folder.slice(0, -1)}</p>
          </div>
        )}
      </main>
      <TransfersPanel transfers={transfers} onRetry={retry} />
      {dialog?.kind === 'new-folder' && (
        <PromptDialog
          title="New folder"
          label="Folder name"
          action="Create"
          onSubmit={async (name) => {
            const path = `${joinPath(folder, checkName(name))}/`
            if (folders.includes(path)) throw new Error(`A folder named “${name}” exists here.`)
            await client.put(path, [], 0, { mime: 'inode/directory' })
            await refresh()
          }}
          onClose={() => setDialog(undefined)}
        />
      )}
      {dialog?.kind === 'rename' && (
        <PromptDialog
          title={`Rename “${dialog.item.name}”`}
          label="New name"
          initial={dialog.item.name}
          action="Rename"
          onSubmit={async (name) => {
            await movePath(client, all, dialog.item.path, renamedPath(dialog.item.path, checkName(name)))
            await refresh()
          }}
          onClose={() => setDialog(undefined)}
        />
      )}
      {dialog?.kind === 'move' && (
        <MoveDialog
          name={dialog.items.length === 1 ? dialog.items[0]!.name : `${dialog.items.length} items`}
          folders={folders.filter(
            (f) => !dialog.items.some((item) => item.kind === 'folder' && f.startsWith(item.path))
          )}
          current={folder}
          onMove={async (target) => {
            await moveInto(
              dialog.items.map((i) => i.path),
              target
            )
            setSelected(new Set())
            await refresh()
          }}
          onClose={() => setDialog(undefined)}
        />
      )}
      {dialog?.kind === 'share' && (
        <ShareDialog
          client={client}
          path={dialog.item.path}
          name={dialog.item.name}
          onCreated={() => setSharesVersion((v) => v + 1)}
          onClose={() => setDialog(undefined)}
        />
      )}
      {dialog?.kind === 'replace' && (
        <ReplaceDialog
          clashes={dialog.clashes}
          onReplace={() => resolveClashes(dialog.clashes, true)}
          onKeepBoth={() => resolveClashes(dialog.clashes, false)}
          onClose={() => setDialog(undefined)}
        />
      )}
      {dialog?.kind === 'versions' && (
        <VersionsDialog
          client={client}
          path={dialog.item.path}
          name={dialog.item.name}
          onDownload={(v) => download(v, v.id)}
          onRestored={() => void refresh()}
          onClose={() => setDialog(undefined)}
        />
      )}
      {dialog?.kind === 'preview' && (
        <Preview
          client={client}
          entry={dialog.entry}
          siblings={dialog.siblings}
          onNavigate={(entry) => setDialog({ ...dialog, entry })}
          onDownload={download}
          onClose={() => setDialog(undefined)}
        />
      )}
      <div className="toasts" aria-live="polite">
        {toasts.map((t) => (
          <div key={t.id} className={`toast ${t.kind}`} role={t.kind === 'error' ? 'alert' : 'status'}>
            {t.text}
            {t.action !== undefined && (
              <button
                type="button"
                className="toast-action"
                onClick={() => {
                  t.action?.run()
                  setToasts((all) => all.filter((x) => x.id !== t.id))
                }}
              >
                {t.action.label}
              </button>
            )}
          </div>
        ))}
      </div>
    </div>
  )
}

function UsagePanel({
  usage,
  month,
  pending,
  files
}: {
  usage: AccountView | undefined
  month: UsageResponse | undefined
  /** Bytes downloaded here that the tracker has not counted yet. */
  pending: number
  files: number
}) {
  if (usage === undefined) return <div className="usage" />
  const pct = usage.quota === 0 ? 0 : Math.min(100, (usage.used / usage.quota) * 100)
  return (
    <section className="usage" aria-label="Storage">
      <div className="usage-head">
        <span>Storage</span>
        <span>{pct < 1 && usage.used > 0 ? '<1' : Math.round(pct)}%</span>
      </div>
      <div className={`meter ${pct > 90 ? 'full' : ''}`}>
        <div style={{ width: `${pct}%` }} />
      </div>
      <p data-testid="usage">
        {formatBytes(usage.used)} of {formatBytes(usage.quota)} used · {files} file{files === 1 ? '' : 's'}
      </p>
      {month !== undefined && (
        <p
          data-testid="usage-month"
          data-bytes={month.egressBytes + pending}
          data-pending={pending}
          title="Downloads count once the storage nodes have settled them, a second or so after they end"
        >
          {formatBytes(month.egressBytes + pending)} downloaded this month
          {usage.plan === undefined ? '' : ` · ${usage.plan} plan`}
          {pending > 0 && (
            <span className="pending" data-testid="usage-pending">
              {' '}
              ({formatBytes(pending)} still being counted)
            </span>
          )}
        </p>
      )}
    </section>
  )
}
