import { useState } from 'react'
import { Dialog, DialogActions, FormError } from './dialog.tsx'
import { Icon } from './icons.tsx'

/** Picks a destination folder among the existing ones ("" is My files). */
export function MoveDialog({
  name,
  folders,
  current,
  onMove,
  onClose
}: {
  name: string
  folders: string[]
  current: string
  onMove: (folder: string) => Promise<void>
  onClose: () => void
}) {
  const [target, setTarget] = useState(current)
  const [error, setError] = useState<string>()
  const [busy, setBusy] = useState(false)
  const move = async () => {
    setBusy(true)
    try {
      await onMove(target)
      onClose()
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err))
      setBusy(false)
    }
  }
  return (
    <Dialog title={`Move “${name}”`} onClose={onClose}>
      <ul className="folder-list" aria-label="Folders">
        {['', ...folders].map((f) => (
          <li key={f}>
            <button
              type="button"
              className="folder-option"
              aria-pressed={target === f}
              style={{ paddingLeft: 12 + 16 * (f === '' ? 0 : f.split('/').length - 1) }}
              onClick={() => setTarget(f)}
            >
              <Icon name={f === '' ? 'drive' : 'folder'} size={16} />{' '}
              {f === '' ? 'My files' : f.slice(0, -1).split('/').at(-1)}
            </button>
          </li>
        ))}
      </ul>
      <FormError error={error} />
      <DialogActions onCancel={onClose}>
        <button type="button" className="button primary" disabled={busy || target === current} onClick={move}>
          Move here
        </button>
      </DialogActions>
    </Dialog>
  )
}
