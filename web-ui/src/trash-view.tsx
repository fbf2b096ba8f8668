import type { ObjectEntry } from '@shoal/client'
import { useMemo } from 'react'
import { TRASH_KEEP_MS, type TrashItem, trashItems } from './actions.ts'
import { formatBytes, formatDate } from './format.ts'
import { fileIcon, Icon, IconButton } from './icons.tsx'

export function TrashView({
  entries,
  onRestore,
  onDelete,
  onEmpty
}: {
  entries: readonly ObjectEntry[]
  onRestore: (item: TrashItem) => void
  onDelete: (item: TrashItem) => void
  onEmpty: (items: TrashItem[]) => void
}) {
  const items = useMemo(() => trashItems(entries), [entries])
  if (items.length === 0) {
    return (
      <div className="empty">
        <div className="empty-icon">
          <Icon name="trash" size={36} />
        </div>
        <h2>Trash is empty</h2>
        <p>
          Deleted files stay here for {TRASH_KEEP_MS / (24 * 3_600_000)} days, or until you delete them for good, and
          can be put back where they were.
        </p>
      </div>
    )
  }
  return (
    <>
      <div className="notice">
        <span>
          {items.length} item{items.length === 1 ? '' : 's'} in the trash still count toward your storage, and are
          deleted for good {TRASH_KEEP_MS / (24 * 3_600_000)} days after they were deleted.
        </span>
        <button type="button" className="button danger small" onClick={() => onEmpty(items)}>
          Empty trash
        </button>
      </div>
      <table className="files">
        <thead>
          <tr>
            <th>Name</th>
            <th>Was in</th>
            <th className="num">Size</th>
            <th>Deleted</th>
            <th aria-label="Actions" />
          </tr>
        </thead>
        <tbody>
          {items.map((item) => (
            <tr key={item.path} data-name={item.name}>
              <td className="name">
                <span>
                  <Icon
                    name={item.kind === 'folder' ? 'folder' : fileIcon(item.mime)}
                    className={item.kind === 'folder' ? 'folder-icon' : 'file-icon'}
                  />
                  {item.name}
                </span>
              </td>
              <td className="muted">{parentLabel(item.from)}</td>
              <td className="num">{formatBytes(item.size)}</td>
              <td className="muted">{formatDate(item.at)}</td>
              <td className="actions">
                <IconButton
                  icon="restore"
                  title="Restore"
                  label={`Restore ${item.name}`}
                  onClick={() => onRestore(item)}
                />
                <IconButton
                  icon="x"
                  title="Delete forever"
                  label={`Delete ${item.name} forever`}
                  onClick={() => onDelete(item)}
                />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  )
}

function parentLabel(from: string): string {
  const trimmed = from.endsWith('/') ? from.slice(0, -1) : from
  const parent = trimmed.slice(0, trimmed.lastIndexOf('/'))
  return parent === '' ? 'My files' : parent
}
