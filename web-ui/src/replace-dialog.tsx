import { Dialog, DialogActions } from './dialog.tsx'

/** A file chosen for upload whose name a file in the drive already has. */
export interface NameClash {
  file: File
  /** The full path both would have. */
  name: string
}

/**
 * Asks what to do when uploads would take names already in use, once for all of them: Replace uploads each as
 * the file's new version (the old one is kept under Versions, as `shoal put --overwrite` does), Keep both
 * uploads each under a free name ("q3 (2).bin"), Cancel uploads none of them. Nothing is changed until a choice
 * is made, and the files without a clash are already on their way.
 */
export function ReplaceDialog({
  clashes,
  onReplace,
  onKeepBoth,
  onClose
}: {
  clashes: readonly NameClash[]
  onReplace: () => void
  onKeepBoth: () => void
  onClose: () => void
}) {
  const first = clashes[0]?.name ?? ''
  const base = first.slice(first.lastIndexOf('/') + 1)
  const title = clashes.length === 1 ? `“${base}” already exists` : `${clashes.length} files already exist`
  return (
    <Dialog title={title} onClose={onClose}>
      <p>
        {clashes.length === 1 ? 'A file with this name is' : 'Files with these names are'} already here. Replace keeps
        the current {clashes.length === 1 ? 'one' : 'ones'} as an older version (under Versions, where
        {clashes.length === 1 ? ' it' : ' they'} can be restored); Keep both uploads under a new name.
      </p>
      {clashes.length > 1 && (
        <ul className="clash-list">
          {clashes.map((c) => (
            <li key={c.name}>{c.name.slice(c.name.lastIndexOf('/') + 1)}</li>
          ))}
        </ul>
      )}
      <DialogActions onCancel={onClose}>
        <button type="button" className="button" onClick={onKeepBoth}>
          Keep both
        </button>
        <button type="button" className="button primary" onClick={onReplace}>
          Replace
        </button>
      </DialogActions>
    </Dialog>
  )
}
