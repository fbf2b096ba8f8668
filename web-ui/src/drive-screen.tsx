import { isResumable, type ObjectEntry, type ShoalClient } from '@shoal/client'
import type { AccountView, UsageResponse } from '@shoal/core'
import { type DragEvent, useCallback, useEffect, useMemo, useRef, useState } from 'react'
import { deleteForever, movedPath, movePath, moveToTrash, renamedPath, restore, type TrashItem } from './actions.ts'
import { PromptDialog } from './dialog.tsx'
import { explain, explained, uploadFile } from './drive.ts'
import { FilesTable } from './files-table.tsx'
import { formatBytes } from './format.ts'
import { Icon, Logo } from './icons.tsx'
import { isStreamable } from './media.ts'
import { MoveDialog } from './move-dialog.tsx'
import { PhotosView } from './photos-view.tsx'
import { Preview } from './preview.tsx'
import { saveFile } from './save.ts'
import { ShareDialog } from './share-dialog.tsx'
import { SharesView } from './shares-view.tsx'
import { isImage } from './thumbs.ts'
import { type Transfer, Transfers } from './transfers.ts'
import { TransfersPanel } from './transfers-panel.tsx'
import { TrashView } from './trash-view.tsx'
import { allFolders, crumbs, freeName, type Item, isTrashed, itemsIn } from './tree.ts'

type Section = 'files' | 'photos' | 'shares' | 'trash'

type DialogState =
  | { kind: 'new-folder' }
  | { kind: 'rename'; item: Item }
  | { kind: 'move'; item: Item }
  | { kind: 'share'; item: Item }
  | { kind: 'preview'; entry: ObjectEntry }

interface Toast {
  id: number
  text: string
  kind: 'error' | 'info'
}

const SECTIONS: { id: Section; label: string; icon: string }[] = [
  { id: 'files', label: 'My files', icon: 'drive' },
  { id: 'photos', label: 'Photos', icon: 'image' },
  { id: 'shares', label: 'Shared links', icon: 'link' },
  { id: 'trash', label: 'Trash', icon: 'trash' }
]

export function DriveScreen({ client, onSignOut }: { client: ShoalClient; onSignOut: () => void }) {
  const transfers = useMemo(() => new Transfers(2), [])
  const [entries, setEntries] = useState<ObjectEntry[]>()
  const [usage, setUsage] = useState<AccountView>()
  const [month, setMonth] = useState<UsageResponse>()
  const [folder, setFolder] = useState('')
  const [section, setSection] = useState<Section>('files')
  const [dragging, setDragging] = useState(false)
  const [dialog, setDialog] = useState<DialogState>()
  const [toasts, setToasts] = useState<Toast[]>([])
  const [sharesVersion, setSharesVersion] = useState(0)
  const picker = useRef<HTMLInputElement>(null)
  const uploads = useRef(new Map<number, { file: File; name: string; uploadId?: string; resumable?: boolean }>())

  const toast = useCallback((text: string, kind: Toast['kind'] = 'error') => {
    const id = Date.now() + Math.random()
    setToasts((t) => [...t, { id, text, kind }])
    setTimeout(() => setToasts((t) => t.filter((x) => x.id !== id)), 6000)
  }, [])

  /** Reloads the list and usage; `quiet` when a failure is already shown elsewhere (a failed transfer's row). */
  const refresh = useCallback(
    async (quiet = false) => {
      try {
        const [list, account, month] = await Promise.all([
          client.list(),
          client.usage(),
          // Metering is optional on a tracker: without it the panel shows storage only.
          client.tracker.usage().catch(() => undefined)
        ])
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

  const all = entries ?? []
  const live = useMemo(() => all.filter((e) => !isTrashed(e)), [all])
  const taken = useMemo(() => new Set(all.map((e) => e.name)), [all])
  const items = useMemo(() => itemsIn(all, folder), [all, folder])
  const folders = useMemo(() => allFolders(all), [all])

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
    (file: File, name: string, resume?: string) => {
      const { id, done } = transfers.add(
        'upload',
        name.slice(name.lastIndexOf('/') + 1),
        file.size,
        ({ signal, progress }) =>
          uploadFile(
            client,
            { file, name },
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
      uploads.current.set(id, { file, name })
      void done.then(() => refresh(true))
    },
    [client, transfers, refresh]
  )

  const uploadFiles = useCallback(
    (files: Iterable<File>) => {
      const batch = [...files]
      const total = batch.reduce((sum, f) => sum + f.size, 0)
      // Refused before anything moves; the tracker checks again when each upload begins.
      if (usage !== undefined && usage.used + total > usage.quota) {
        toast(
          `Not enough space: ${batch.length === 1 ? 'this file needs' : 'these files need'} ${formatBytes(total)} and ${formatBytes(Math.max(0, usage.quota - usage.used))} is left.`
        )
        return
      }
      const target = section === 'files' ? folder : ''
      const reserved = new Set(taken)
      for (const file of batch) {
        const name = freeName(`${target}${file.name}`, reserved)
        reserved.add(name)
        startUpload(file, name)
      }
    },
    [folder, section, taken, usage, startUpload, toast]
  )

  const retry = useCallback(
    (t: Transfer) => {
      const u = uploads.current.get(t.id)
      if (u === undefined) return
      uploads.current.delete(t.id)
      transfers.remove(t.id)
      startUpload(u.file, u.name, u.uploadId)
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

  const download = useCallback(
    (entry: ObjectEntry) => {
      const name = entry.name.slice(entry.name.lastIndexOf('/') + 1)
      transfers.add('download', name, entry.size, async ({ signal, progress }) => {
        try {
          const { stream } = await client.get(entry.name, { signal, onProgress: (p) => progress(p.bytes) })
          await saveFile(
            { name, size: entry.size, ...(entry.mime === undefined ? {} : { mime: entry.mime }) },
            stream,
            signal
          )
        } catch (err) {
          throw explained(err)
        }
      })
    },
    [client, transfers]
  )

  const onDrop = (e: DragEvent) => {
    e.preventDefault()
    setDragging(false)
    if (e.dataTransfer.files.length > 0) uploadFiles(e.dataTransfer.files)
  }

  const open = (s: Section) => {
    setSection(s)
    setFolder('')
  }

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
        <UsagePanel usage={usage} month={month} files={all.filter((e) => !e.name.endsWith('/')).length} />
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
              <button type="button" className="crumb" onClick={() => setFolder('')}>
                My files
              </button>
              {crumbs(folder).map((c) => (
                <span key={c.path}>
                  <span className="sep">/</span>
                  <button type="button" className="crumb" onClick={() => setFolder(c.path)}>
                    {c.name}
                  </button>
                </span>
              ))}
            </nav>
          ) : (
            <h1>{title}</h1>
          )}
          {section === 'files' && (
            <div className="toolbar-actions">
              <button type="button" className="button" onClick={() => setDialog({ kind: 'new-folder' })}>
                <Icon name="plus" /> New folder
              </button>
            </div>
          )}
        </header>
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
            empty={folder === '' ? 'root' : 'folder'}
            onUpload={() => picker.current?.click()}
            onOpenFolder={setFolder}
            onOpenFile={(entry) =>
              isImage(entry.mime) || isStreamable(entry.mime) ? setDialog({ kind: 'preview', entry }) : download(entry)
            }
            onDownload={download}
            onShare={(item) => setDialog({ kind: 'share', item })}
            onRename={(item) => setDialog({ kind: 'rename', item })}
            onMove={(item) => setDialog({ kind: 'move', item })}
            onTrash={(item) => void act(() => moveToTrash(client, all, item.path), `Moved “${item.name}” to the trash`)}
          />
        ) : section === 'photos' ? (
          <PhotosView entries={live} onOpen={(entry) => setDialog({ kind: 'preview', entry })} />
        ) : section === 'shares' ? (
          <SharesView client={client} entries={all} version={sharesVersion} onError={toast} />
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
            const path = `${folder}${name}/`
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
            await movePath(client, all, dialog.item.path, renamedPath(dialog.item.path, name))
            await refresh()
          }}
          onClose={() => setDialog(undefined)}
        />
      )}
      {dialog?.kind === 'move' && (
        <MoveDialog
          name={dialog.item.name}
          folders={folders.filter((f) => !(dialog.item.kind === 'folder' && f.startsWith(dialog.item.path)))}
          current={folder}
          onMove={async (target) => {
            await movePath(client, all, dialog.item.path, movedPath(dialog.item.path, target))
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
      {dialog?.kind === 'preview' && (
        <Preview
          client={client}
          entry={dialog.entry}
          onDownload={() => download(dialog.entry)}
          onClose={() => setDialog(undefined)}
        />
      )}
      <div className="toasts" aria-live="polite">
        {toasts.map((t) => (
          <div key={t.id} className={`toast ${t.kind}`} role={t.kind === 'error' ? 'alert' : 'status'}>
            {t.text}
          </div>
        ))}
      </div>
    </div>
  )
}

function UsagePanel({
  usage,
  month,
  files
}: {
  usage: AccountView | undefined
  month: UsageResponse | undefined
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
        <p data-testid="usage-month" title="Downloads count once the storage nodes have settled them">
          {formatBytes(month.egressBytes)} downloaded this month
          {usage.plan === undefined ? '' : ` · ${usage.plan} plan`}
        </p>
      )}
    </section>
  )
}
