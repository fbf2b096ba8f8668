import type { ObjectEntry, ShoalClient } from '@shoal/client'
import { useEffect, useState } from 'react'
import { useEscape } from './dialog.tsx'
import { explain } from './drive.ts'
import { formatBytes, formatDate } from './format.ts'
import { Icon } from './icons.tsx'
import { isStreamable, openMedia } from './media.ts'

const MAX_PREVIEW = 64 * 1024 * 1024

/**
 * Full-size image (fetched from the nodes and decrypted here, shown from memory, never cached to disk), or a
 * video or audio file streamed by ranges through the service worker.
 */
export function Preview({
  client,
  entry,
  onClose,
  onDownload
}: {
  client: ShoalClient
  entry: ObjectEntry
  onClose: () => void
  onDownload: () => void
}) {
  const [url, setUrl] = useState<string>()
  const [error, setError] = useState<string>()
  const streamable = isStreamable(entry.mime)
  useEffect(() => {
    const controller = new AbortController()
    let revoke: (() => void) | undefined
    void (async () => {
      try {
        if (streamable) {
          const media = await openMedia(client, entry)
          revoke = media.close
          if (controller.signal.aborted) return media.close()
          setUrl(media.url)
          return
        }
        if (entry.size > MAX_PREVIEW) return setError('This image is too large to preview. Download it instead.')
        const { stream } = await client.get(entry.name, { signal: controller.signal })
        const parts: Uint8Array[] = []
        for await (const chunk of stream) parts.push(chunk)
        const created = URL.createObjectURL(new Blob(parts as BlobPart[], { type: entry.mime ?? 'image/jpeg' }))
        revoke = () => URL.revokeObjectURL(created)
        setUrl(created)
      } catch (err) {
        if (!controller.signal.aborted) setError(explain(err))
      }
    })()
    return () => {
      controller.abort()
      revoke?.()
    }
  }, [client, entry, streamable])
  useEscape(onClose)
  const name = entry.name.slice(entry.name.lastIndexOf('/') + 1)
  return (
    <div className="lightbox" role="dialog" aria-modal="true" aria-label={name}>
      <header>
        <div>
          <strong>{name}</strong>
          <span className="lightbox-meta">
            {formatBytes(entry.size)} · {formatDate(entry.meta.taken ?? entry.createdAt)}
          </span>
        </div>
        <div>
          <button
            type="button"
            className="icon-button light"
            title="Download"
            aria-label={`Download ${name}`}
            onClick={onDownload}
          >
            <Icon name="download" />
          </button>
          <button
            type="button"
            className="icon-button light"
            title="Close"
            aria-label="Close preview"
            onClick={onClose}
          >
            <Icon name="x" />
          </button>
        </div>
      </header>
      <div className="lightbox-body">
        {url !== undefined && streamable ? (
          entry.mime?.startsWith('audio/') === true ? (
            <audio controls autoPlay src={url} data-testid="preview-media">
              <track kind="captions" />
            </audio>
          ) : (
            <video className="lightbox-image" controls autoPlay src={url} data-testid="preview-media">
              <track kind="captions" />
            </video>
          )
        ) : url !== undefined ? (
          <img className="lightbox-image" src={url} alt={name} data-testid="preview-image" />
        ) : error !== undefined ? (
          <p className="lightbox-error">{error}</p>
        ) : entry.meta.thumb !== undefined ? (
          <img src={`data:image/jpeg;base64,${entry.meta.thumb}`} alt={name} className="lightbox-image loading" />
        ) : (
          <p className="lightbox-error">Loading…</p>
        )}
      </div>
    </div>
  )
}
