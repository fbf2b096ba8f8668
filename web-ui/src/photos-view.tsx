import type { ObjectEntry } from '@shoal/client'
import { useMemo } from 'react'
import { Icon } from './icons.tsx'
import { isImage, thumbUrl } from './thumbs.ts'
import { isTrashed } from './tree.ts'

const takenAt = (e: ObjectEntry) => e.meta.taken ?? e.createdAt

/**
 * The album: every live file whose sealed MIME type is an image, newest first. The viewer pages through the
 * same order.
 */
export function photosInOrder(entries: readonly ObjectEntry[]): ObjectEntry[] {
  return entries.filter((e) => !isTrashed(e) && isImage(e.mime)).sort((a, b) => takenAt(b) - takenAt(a))
}

/** Images by date, newest first, grouped by month; each tile is the sealed thumbnail made at upload. */
export function PhotosView({ entries, onOpen }: { entries: readonly ObjectEntry[]; onOpen: (e: ObjectEntry) => void }) {
  const groups = useMemo(() => {
    const photos = photosInOrder(entries).map((e) => ({ e, at: takenAt(e) }))
    const byMonth = new Map<string, typeof photos>()
    for (const p of photos) {
      const label = new Date(p.at).toLocaleDateString(undefined, { year: 'numeric', month: 'long' })
      byMonth.set(label, [...(byMonth.get(label) ?? []), p])
    }
    return [...byMonth.entries()]
  }, [entries])

  if (groups.length === 0) {
    return (
      <div className="empty">
        <div className="empty-icon">
          <Icon name="image" size={40} />
        </div>
        <h2>No photos yet</h2>
        <p>Images you upload appear here by date, with previews made and encrypted in your browser.</p>
      </div>
    )
  }
  return (
    <div className="album">
      {groups.map(([label, photos]) => (
        <section key={label}>
          <h2>{label}</h2>
          <div className="album-grid">
            {photos.map(({ e }) => (
              <button
                type="button"
                key={e.id}
                className="tile"
                title={e.name}
                aria-label={`Open ${e.name.slice(e.name.lastIndexOf('/') + 1)}`}
                onClick={() => onOpen(e)}
              >
                {e.meta.thumb !== undefined ? (
                  <img src={thumbUrl(e.meta.thumb)} alt={e.name} loading="lazy" data-testid="thumbnail" />
                ) : (
                  <span className="tile-placeholder">
                    <Icon name="image" size={28} />
                  </span>
                )}
              </button>
            ))}
          </div>
        </section>
      ))}
    </div>
  )
}
