import type { ObjectEntry } from '@shoal/client'
import { formatBytes, formatDate } from './format.ts'
import { fileIcon, Icon } from './icons.tsx'
import { thumbUrl } from './thumbs.ts'
import type { Item } from './tree.ts'

export function FilesTable({
  items,
  empty,
  onUpload,
  onOpenFolder,
  onOpenFile,
  onDownload,
  onShare,
  onRename,
  onMove,
  onTrash
}: {
  items: Item[]
  empty: 'root' | 'folder'
  onUpload: () => void
  onOpenFolder: (path: string) => void
  onOpenFile: (entry: ObjectEntry) => void
  onDownload: (entry: ObjectEntry) => void
  onShare: (item: Item) => void
  onRename: (item: Item) => void
  onMove: (item: Item) => void
  onTrash: (item: Item) => void
}) {
  if (items.length === 0) {
    return (
      <div className="empty">
        <div className="empty-icon">
          <Icon name="cloud" size={40} />
        </div>
        <h2>{empty === 'root' ? 'No files yet' : 'This folder is empty'}</h2>
        <p>Drop files here or use Upload. They are encrypted in this browser before they leave it.</p>
        <button type="button" className="button primary" onClick={onUpload}>
          <Icon name="upload" /> Choose files
        </button>
      </div>
    )
  }
  return (
    <table className="files">
      <thead>
        <tr>
          <th>Name</th>
          <th className="num">Size</th>
          <th>Modified</th>
          <th aria-label="Actions" />
        </tr>
      </thead>
      <tbody>
        {items.map((item) => {
          const entry = item.entry
          return (
            <tr key={item.path} data-name={item.name} data-kind={item.kind}>
              <td className="name">
                {item.kind === 'folder' ? (
                  <button type="button" className="link" onClick={() => onOpenFolder(item.path)}>
                    <Icon name="folder" className="folder-icon" /> {item.name}
                  </button>
                ) : (
                  <button type="button" className="link" onClick={() => entry !== undefined && onOpenFile(entry)}>
                    {entry?.meta.thumb !== undefined ? (
                      <img className="thumb-small" src={thumbUrl(entry.meta.thumb)} alt="" />
                    ) : (
                      <Icon name={fileIcon(item.mime)} className="file-icon" />
                    )}{' '}
                    {item.name}
                  </button>
                )}
              </td>
              <td className="num">{formatBytes(item.size)}</td>
              <td>{formatDate(item.createdAt)}</td>
              <td className="actions">
                {entry !== undefined && (
                  <>
                    <button
                      type="button"
                      className="icon-button"
                      title="Download"
                      aria-label={`Download ${item.name}`}
                      onClick={() => onDownload(entry)}
                    >
                      <Icon name="download" />
                    </button>
                    <button
                      type="button"
                      className="icon-button"
                      title="Share"
                      aria-label={`Share ${item.name}`}
                      onClick={() => onShare(item)}
                    >
                      <Icon name="share" />
                    </button>
                  </>
                )}
                <button
                  type="button"
                  className="icon-button secondary"
                  title="Rename"
                  aria-label={`Rename ${item.name}`}
                  onClick={() => onRename(item)}
                >
                  <Icon name="edit" />
                </button>
                <button
                  type="button"
                  className="icon-button secondary"
                  title="Move"
                  aria-label={`Move ${item.name}`}
                  onClick={() => onMove(item)}
                >
                  <Icon name="move" />
                </button>
                <button
                  type="button"
                  className="icon-button"
                  title="Move to trash"
                  aria-label={`Delete ${item.name}`}
                  onClick={() => onTrash(item)}
                >
                  <Icon name="trash" />
                </button>
              </td>
            </tr>
          )
        })}
      </tbody>
    </table>
  )
}
