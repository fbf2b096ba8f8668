import type { ShoalClient } from '@shoal/client'
import { type FormEvent, useState } from 'react'
import { Dialog, FormError } from './dialog.tsx'
import { changePassword, explain } from './drive.ts'

/**
 * Shows a recovery key once, right after it was made (at sign-up, or on demand): nothing keeps it afterwards,
 * neither this browser nor the tracker, so the dialog asks to have it written down before it closes.
 */
export function RecoveryKeyDialog({ recoveryKey, onDone }: { recoveryKey: string; onDone: () => void }) {
  const [copied, setCopied] = useState(false)
  return (
    <Dialog title="Your recovery key" onClose={() => {}}>
      <p>
        If you forget your password, this key is the only way back to your files: Shoal cannot reset a password, and
        cannot read your files. Write it down, or keep it in a password manager, away from this device.
      </p>
      <code className="recovery-key" data-testid="recovery-key">
        {recoveryKey}
      </code>
      <div className="dialog-actions">
        <button
          type="button"
          className="button"
          onClick={() => {
            void navigator.clipboard?.writeText(recoveryKey).then(() => setCopied(true))
          }}
        >
          {copied ? 'Copied' : 'Copy'}
        </button>
        <button type="button" className="button primary" onClick={onDone}>
          I have saved it
        </button>
      </div>
    </Dialog>
  )
}

/** Password change and a new recovery key, on the account page. */
export function SecurityCard({ client, recovery }: { client: ShoalClient; recovery: boolean }) {
  const [current, setCurrent] = useState('')
  const [next, setNext] = useState('')
  const [confirm, setConfirm] = useState('')
  const [passwordError, setPasswordError] = useState<string>()
  const [passwordDone, setPasswordDone] = useState(false)
  const [keyPassword, setKeyPassword] = useState('')
  const [keyError, setKeyError] = useState<string>()
  const [newKey, setNewKey] = useState<string>()
  const [hasKey, setHasKey] = useState(recovery)
  const [busy, setBusy] = useState<'password' | 'key'>()

  const submitPassword = async (e: FormEvent) => {
    e.preventDefault()
    setPasswordError(undefined)
    setPasswordDone(false)
    if (next.length < 8) return setPasswordError('Use a password of at least 8 characters.')
    if (next !== confirm) return setPasswordError('The two new passwords differ.')
    setBusy('password')
    try {
      await changePassword(client, current, next)
      setCurrent('')
      setNext('')
      setConfirm('')
      setPasswordDone(true)
    } catch (err) {
      setPasswordError(explain(err).replace('Wrong email or password.', 'Wrong current password.'))
    } finally {
      setBusy(undefined)
    }
  }

  const submitKey = async (e: FormEvent) => {
    e.preventDefault()
    setKeyError(undefined)
    setBusy('key')
    try {
      setNewKey(await client.newRecoveryKey(keyPassword))
      setKeyPassword('')
      setHasKey(true)
    } catch (err) {
      setKeyError(explain(err).replace('Wrong email or password.', 'Wrong password.'))
    } finally {
      setBusy(undefined)
    }
  }

  return (
    <section className="card account-card" aria-label="Password and recovery">
      <h2>Password and recovery</h2>
      <form className="stack" onSubmit={submitPassword} aria-label="Change password">
        <label>
          Current password
          <input
            type="password"
            autoComplete="current-password"
            required
            value={current}
            onChange={(e) => setCurrent(e.target.value)}
          />
        </label>
        <label>
          New password
          <input
            type="password"
            autoComplete="new-password"
            required
            value={next}
            onChange={(e) => setNext(e.target.value)}
          />
        </label>
        <label>
          Repeat new password
          <input
            type="password"
            autoComplete="new-password"
            required
            value={confirm}
            onChange={(e) => setConfirm(e.target.value)}
          />
        </label>
        <FormError error={passwordError} />
        {passwordDone && (
          <p className="muted" role="status">
            Password changed. Your other devices are signed out.
          </p>
        )}
        <button className="button primary" type="submit" disabled={busy !== undefined}>
          {busy === 'password' ? 'Changing…' : 'Change password'}
        </button>
      </form>
      <form className="stack" onSubmit={submitKey} aria-label="New recovery key">
        <p className="muted" data-testid="recovery-status">
          {hasKey
            ? 'A recovery key is set up. A new one replaces it.'
            : 'No recovery key is set up: a forgotten password would lose your files.'}
        </p>
        <label>
          Password
          <input
            type="password"
            autoComplete="current-password"
            required
            value={keyPassword}
            onChange={(e) => setKeyPassword(e.target.value)}
          />
        </label>
        <FormError error={keyError} />
        <button className="button" type="submit" disabled={busy !== undefined}>
          {busy === 'key' ? 'Making a key…' : 'Make a new recovery key'}
        </button>
      </form>
      {newKey !== undefined && <RecoveryKeyDialog recoveryKey={newKey} onDone={() => setNewKey(undefined)} />}
    </section>
  )
}
