import type { ObjectEntry } from '@shoal/client'
import { type DragEvent, useState } from 'react'
import { formatBytes, formatDate } from './format.ts'
import { fileIcon, Icon, IconButton } from './icons.tsx'
import { thumbUrl } from './thumbs.ts'
import type { Item, SortKey, SortOrder } from './tree.ts'

/** What a drag inside the table carries: the paths being moved (never file contents). */
export const DRAG_TYPE = 'application/x-shoal-paths'

export interface FilesTableActions {
  onUpload: () => void
  onOpenFolder: (path: string) => void
  onOpenFile: (entry: ObjectEntry) => void
  /** A file downloads as itself, a folder as a zip. */
  onDownload: (item: Item) => void
  onShare: (item: Item) => void
  /** A file's versions: list, download, restore. */
  onVersions: (item: Item) => void
  onRename: (item: Item) => void
  onMove: (item: Item) => void
  onTrash: (item: Item) => void
  /** Rows dragged onto a folder row. */
  onDropPaths: (paths: string[], folder: string) => void
  /** Files from the desktop dropped onto a folder row. */
  onDropFiles: (files: FileList, folder: string) => void
}

export function FilesTable({
  items,
  empty,
  selected,
  onSelect,
  sort,
  onSort,
  actions
}: {
  items: Item[]
  empty: 'root' | 'folder' | 'search'
  selected: ReadonlySet<string>
  onSelect: (next: Set<string>) => void
  sort: { key: SortKey; order: SortOrder }
  onSort: (key: SortKey) => void
  actions: FilesTableActions
}) {
  const [dropTarget, setDropTarget] = useState<string>()
  if (items.length === 0) {
    if (empty === 'search') {
      return (
        <div className="empty">
          <div className="empty-icon">
            <Icon name="search" size={40} />
          </div>
          <h2>No matches</h2>
          <p>No file or folder name contains what you searched for.</p>
        </div>
      )
    }
    return (
      <div className="empty">
        <div className="empty-icon">
          <Icon name="cloud" size={40} />
        </div>
        <h2>{empty === 'root' ? 'No files yet' : 'This folder is empty'}</h2>
        <p>Drop files here or use Upload. They are encrypted in this browser before they leave it.</p>
        <button type="button" className="button primary" onClick={actions.onUpload}>
          <Icon name="upload" /> Choose files
        </button>
      </div>
    )
  }
  const allSelected = items.every((i) => selected.has(i.path))
  const toggle = (path: string) => {
    const next = new Set(selected)
    if (next.has(path)) next.delete(path)
    else next.add(path)
    onSelect(next)
  }
  const header = (key: SortKey, label: string, className: string) => (
    <th
      className={className}
      aria-sort={sort.key === key ? (sort.order === 'asc' ? 'ascending' : 'descending') : 'none'}
    >
      <button type="button" className="sort" onClick={() => onSort(key)}>
        {label}
        {sort.key === key && <span aria-hidden="true">{sort.order === 'asc' ? ' ↑' : ' ↓'}</span>}
      </button>
    </th>
  )
  const dragStart = (e: DragEvent, item: Item) => {
    // Dragging a selected row moves the whole selection; an unselected row moves alone.
    const paths = selected.has(item.path) ? [...selected] : [item.path]
    e.dataTransfer.setData(DRAG_TYPE, JSON.stringify(paths))
    e.dataTransfer.effectAllowed = 'move'
  }
  const folderDrop = (item: Item) => ({
    onDragOver: (e: DragEvent) => {
      const types = e.dataTransfer.types
      if (!types.includes(DRAG_TYPE) && !types.includes('Files')) return
      e.preventDefault()
      e.stopPropagation()
      setDropTarget(item.path)
    },
    onDragLeave: () => setDropTarget((t) => (t === item.path ? undefined : t)),
    onDrop: (e: DragEvent) => {
      e.preventDefault()
      e.stopPropagation()
      setDropTarget(undefined)
      const paths = e.dataTransfer.getData(DRAG_TYPE)
      if (paths !== '') {
        const list = (JSON.parse(paths) as string[]).filter((p) => p !== item.path)
        if (list.length > 0) actions.onDropPaths(list, item.path)
      } else if (e.dataTransfer.files.length > 0) actions.onDropFiles(e.dataTransfer.files, item.path)
    }
  })
  return (
    <table className="files">
      <thead>
        <tr>
          <th className="select">
            <input
              type="checkbox"
              aria-label="Select all"
              checked={allSelected}
              onChange={() => onSelect(allSelected ? new Set() : new Set(items.map((i) => i.path)))}
            />
          </th>
          {header('name', 'Name', 'name')}
          {header('size', 'Size', 'num size')}
          {header('modified', 'Modified', 'modified')}
          <th className="actions" aria-label="Actions" />
        </tr>
      </thead>
      <tbody>
        {items.map((item) => {
          const entry = item.entry
          return (
            <tr
              key={item.path}
              data-name={item.name}
              data-path={item.path}
              data-kind={item.kind}
              className={`${selected.has(item.path) ? 'selected' : ''} ${dropTarget === item.path ? 'drop-target' : ''}`}
              draggable
              onDragStart={(e) => dragStart(e, item)}
              {...(item.kind === 'folder' ? folderDrop(item) : {})}
            >
              <td className="select">
                <input
                  type="checkbox"
                  aria-label={`Select ${item.name}`}
                  checked={selected.has(item.path)}
                  onChange={() => toggle(item.path)}
                />
              </td>
              <td className="name">
                <button
                  type="button"
                  className="link"
                  title={item.location === undefined ? item.name : `${item.name} in ${item.location}`}
                  onClick={() =>
                    item.kind === 'folder'
                      ? actions.onOpenFolder(item.path)
                      : entry !== undefined && actions.onOpenFile(entry)
                  }
                >
                  {item.kind === 'folder' ? (
                    <Icon name="folder" className="folder-icon" />
                  ) : entry?.meta.thumb !== undefined ? (
                    <img className="thumb-small" src={thumbUrl(entry.meta.thumb)} alt="" />
                  ) : (
                    <Icon name={fileIcon(item.mime)} className="file-icon" />
                  )}
                  <span className="label">
                    <span className="label-name">{item.name}</span>
                    {item.location !== undefined && <span className="label-location">{item.location}</span>}
                  </span>
                </button>
              </td>
              <td className="num size">{formatBytes(item.size)}</td>
              <td className="modified">{formatDate(item.createdAt)}</td>
              <td className="actions">
                <IconButton
                  icon="download"
                  title={item.kind === 'folder' ? 'Download as zip' : 'Download'}
                  label={`Download ${item.name}`}
                  onClick={() => actions.onDownload(item)}
                />
                {entry !== undefined ? (
                  <IconButton
                    icon="share"
                    title="Share"
                    label={`Share ${item.name}`}
                    onClick={() => actions.onShare(item)}
                  />
                ) : (
                  <span className="icon-spacer" />
                )}
                {entry !== undefined ? (
                  <IconButton
                    icon="restore"
                    title="Versions"
                    label={`Versions of ${item.name}`}
                    tone="secondary"
                    onClick={() => actions.onVersions(item)}
                  />
                ) : (
                  <span className="icon-spacer secondary" />
                )}
                <IconButton
                  icon="edit"
                  title="Rename"
                  label={`Rename ${item.name}`}
                  tone="secondary"
                  onClick={() => actions.onRename(item)}
                />
                <IconButton
                  icon="move"
                  title="Move"
                  label={`Move ${item.name}`}
                  tone="secondary"
                  onClick={() => actions.onMove(item)}
                />
                <IconButton
                  icon="trash"
                  title="Move to trash"
                  label={`Delete ${item.name}`}
                  onClick={() => actions.onTrash(item)}
                />
              </td>
            </tr>
          )
        })}
      </tbody>
    </table>
  )
}
