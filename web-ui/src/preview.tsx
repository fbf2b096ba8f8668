import type { ObjectEntry, ShoalClient } from '@shoal/client'
import { useEffect, useMemo } from 'react'
import { useEscape } from './dialog.tsx'
import { formatBytes, formatDate } from './format.ts'
import { Icon, IconButton } from './icons.tsx'
import { openMedia } from './media.ts'
import { PreviewBody, type PreviewSource } from './preview-body.tsx'
import { previewKind } from './preview-kind.ts'

/**
 * The viewer: a full-size image (decrypted here, shown from memory, never cached to disk), a PDF, the start of
 * a text file, a video or audio file streamed by ranges through the service worker, or a Download card.
 * `siblings` are the files to page through (the folder's or the album's, in the order shown): the arrow
 * buttons and the Left/Right keys move between them.
 */
export function Preview({
  client,
  entry,
  siblings = [entry],
  onNavigate,
  onClose,
  onDownload
}: {
  client: ShoalClient
  entry: ObjectEntry
  siblings?: readonly ObjectEntry[]
  onNavigate?: (entry: ObjectEntry) => void
  onClose: () => void
  onDownload: (entry: ObjectEntry) => void
}) {
  const name = entry.name.slice(entry.name.lastIndexOf('/') + 1)
  const source = useMemo<PreviewSource>(
    () => ({
      kind: previewKind(entry.mime, name),
      name,
      size: entry.size,
      mime: entry.mime,
      thumb: entry.meta.thumb,
      read: async (range, signal) => (await client.get(entry.name, { signal, ...(range ?? {}) })).stream,
      openMedia: () => openMedia(client, entry)
    }),
    [client, entry, name]
  )
  const index = siblings.findIndex((e) => e.id === entry.id)
  const previous = index > 0 ? siblings[index - 1] : undefined
  const next = index >= 0 && index < siblings.length - 1 ? siblings[index + 1] : undefined

  useEscape(onClose)
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      // Arrow keys inside a text preview or a player belong to it.
      if (e.target instanceof HTMLElement && e.target.closest('video, audio, input') !== null) return
      if (e.key === 'ArrowLeft' && previous !== undefined) onNavigate?.(previous)
      if (e.key === 'ArrowRight' && next !== undefined) onNavigate?.(next)
    }
    window.addEventListener('keydown', onKey)
    return () => window.removeEventListener('keydown', onKey)
  }, [previous, next, onNavigate])

  return (
    <div className="lightbox" role="dialog" aria-modal="true" aria-label={name} data-kind={source.kind}>
      <header>
        <div className="lightbox-title">
          <strong title={name}>{name}</strong>
          <span className="lightbox-meta">
            {formatBytes(entry.size)} · {formatDate(entry.meta.taken ?? entry.createdAt)}
            {siblings.length > 1 && index >= 0 && ` · ${index + 1} of ${siblings.length}`}
          </span>
        </div>
        <div>
          <IconButton
            icon="download"
            title="Download"
            label={`Download ${name}`}
            tone="light"
            onClick={() => onDownload(entry)}
          />
          <IconButton icon="x" title="Close" label="Close preview" tone="light" onClick={onClose} />
        </div>
      </header>
      <div className="lightbox-body">
        {previous !== undefined && <Pager direction="previous" onClick={() => onNavigate?.(previous)} />}
        <PreviewBody key={entry.id} source={source} onDownload={() => onDownload(entry)} />
        {next !== undefined && <Pager direction="next" onClick={() => onNavigate?.(next)} />}
      </div>
    </div>
  )
}

function Pager({ direction, onClick }: { direction: 'previous' | 'next'; onClick: () => void }) {
  const label = direction === 'previous' ? 'Previous' : 'Next'
  return (
    <button
      type="button"
      className={`pager ${direction}`}
      aria-label={label}
      title={`${label} (${direction === 'previous' ? 'Left' : 'Right'} arrow)`}
      onClick={onClick}
    >
      <Icon name={direction === 'previous' ? 'chevron-left' : 'chevron-right'} size={28} />
    </button>
  )
}
