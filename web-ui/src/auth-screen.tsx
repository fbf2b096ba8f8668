import type { ShoalClient } from '@shoal/client'
import { type FormEvent, useState } from 'react'
import { explain, signIn } from './drive.ts'
import { Icon, Logo } from './icons.tsx'

export function AuthScreen({ tracker, onSignedIn }: { tracker: string; onSignedIn: (c: ShoalClient) => void }) {
  const [mode, setMode] = useState<'login' | 'signup'>('login')
  const [email, setEmail] = useState('')
  const [password, setPassword] = useState('')
  const [confirm, setConfirm] = useState('')
  const [keep, setKeep] = useState(false)
  const [error, setError] = useState<string>()
  const [busy, setBusy] = useState(false)

  const submit = async (e: FormEvent) => {
    e.preventDefault()
    setError(undefined)
    if (mode === 'signup' && password.length < 8) return setError('Use a password of at least 8 characters.')
    if (mode === 'signup' && password !== confirm) return setError('The two passwords differ.')
    setBusy(true)
    try {
      onSignedIn(await signIn(tracker, email, password, mode === 'signup', { rememberDevice: keep }))
    } catch (err) {
      setError(explain(err))
      setBusy(false)
    }
  }

  const switchTo = (next: 'login' | 'signup') => {
    setMode(next)
    setError(undefined)
  }

  return (
    <div className="auth">
      <div className="auth-brand">
        <Logo size={44} />
        <h1>Shoal</h1>
        <p>Your files, encrypted on this device and spread across many storage nodes.</p>
      </div>
      <form className="card auth-card" onSubmit={submit} aria-label={mode === 'login' ? 'Sign in' : 'Create account'}>
        <div className="tabs" role="tablist">
          <button type="button" role="tab" aria-selected={mode === 'login'} onClick={() => switchTo('login')}>
            Sign in
          </button>
          <button type="button" role="tab" aria-selected={mode === 'signup'} onClick={() => switchTo('signup')}>
            Create account
          </button>
        </div>
        <label>
          Email
          <input
            name="email"
            type="email"
            autoComplete="email"
            required
            value={email}
            onChange={(e) => setEmail(e.target.value)}
          />
        </label>
        <label>
          Password
          <input
            name="password"
            type="password"
            autoComplete={mode === 'login' ? 'current-password' : 'new-password'}
            required
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </label>
        {mode === 'signup' && (
          <label>
            Repeat password
            <input
              name="confirm"
              type="password"
              autoComplete="new-password"
              required
              value={confirm}
              onChange={(e) => setConfirm(e.target.value)}
            />
          </label>
        )}
        <label className="check">
          <input type="checkbox" name="remember" checked={keep} onChange={(e) => setKeep(e.target.checked)} />
          Remember this device
        </label>
        {keep && (
          <p className="fineprint">
            Other tabs and later visits open your drive without the password, until you sign out. Only on a device that
            is yours alone.
          </p>
        )}
        {error !== undefined && (
          <p className="form-error" role="alert">
            <Icon name="alert" size={16} /> {error}
          </p>
        )}
        <button className="button primary wide" type="submit" disabled={busy}>
          {busy
            ? mode === 'login'
              ? 'Signing in…'
              : 'Creating your keys…'
            : mode === 'login'
              ? 'Sign in'
              : 'Create account'}
        </button>
        <p className="fineprint">
          <Icon name="lock" size={14} /> Your password never leaves this browser. It unlocks a key that encrypts your
          files before they are uploaded; Shoal cannot read them and cannot reset a lost password.
        </p>
      </form>
    </div>
  )
}
