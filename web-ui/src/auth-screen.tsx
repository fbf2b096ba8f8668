import type { ShoalClient } from '@shoal/client'
import type { SignupPendingResponse } from '@shoal/core'
import { type FormEvent, useEffect, useState } from 'react'
import { explain, recoverAccount, signIn, verifiesEmail } from './drive.ts'
import { Icon, Logo } from './icons.tsx'
import { RecoveryKeyDialog } from './recovery-key.tsx'

export function AuthScreen({ tracker, onSignedIn }: { tracker: string; onSignedIn: (c: ShoalClient) => void }) {
  const [mode, setMode] = useState<'login' | 'signup' | 'recover'>('login')
  const [email, setEmail] = useState('')
  const [password, setPassword] = useState('')
  const [confirm, setConfirm] = useState('')
  const [recoveryKey, setRecoveryKey] = useState('')
  const [keep, setKeep] = useState(false)
  const [error, setError] = useState<string>()
  const [busy, setBusy] = useState(false)
  /** A new account, waiting while its recovery key is shown. */
  const [created, setCreated] = useState<ShoalClient>()
  /** The tracker mails a code at sign-up: the sign-up waits on this step for it. */
  const [codeStep, setCodeStep] = useState<{ pending: SignupPendingResponse; enter: (code: string) => void }>()
  const [code, setCode] = useState('')
  const [mailsCode, setMailsCode] = useState(false)
  useEffect(() => {
    let live = true
    verifiesEmail(tracker).then((v) => live && setMailsCode(v))
    return () => {
      live = false
    }
  }, [tracker])

  const submit = async (e: FormEvent) => {
    e.preventDefault()
    setError(undefined)
    const newPassword = mode !== 'login'
    if (newPassword && password.length < 8) return setError('Use a password of at least 8 characters.')
    if (newPassword && password !== confirm) return setError('The two passwords differ.')
    setBusy(true)
    try {
      if (mode === 'recover') return onSignedIn(await recoverAccount(tracker, email, recoveryKey, password))
      const askCode = (pending: SignupPendingResponse) =>
        new Promise<string>((enter) => {
          setCode('')
          setCodeStep({ pending, enter })
        })
      const client = await signIn(tracker, email, password, mode === 'signup', { rememberDevice: keep, code: askCode })
      setCodeStep(undefined)
      if (client.recoveryKey === undefined) onSignedIn(client)
      else setCreated(client)
    } catch (err) {
      // A wrong or expired code ends that sign-up: the form comes back to ask for a new one.
      setCodeStep(undefined)
      setError(explain(err))
      setBusy(false)
    }
  }

  const switchTo = (next: 'login' | 'signup' | 'recover') => {
    setMode(next)
    setError(undefined)
  }

  if (created?.recoveryKey !== undefined) {
    const client = created
    return <RecoveryKeyDialog recoveryKey={created.recoveryKey} onDone={() => onSignedIn(client)} />
  }

  if (codeStep !== undefined) {
    const enterCode = (e: FormEvent) => {
      e.preventDefault()
      codeStep.enter(code.trim())
    }
    return (
      <div className="auth">
        <form className="card auth-card" onSubmit={enterCode} aria-label="Confirm your email">
          <h2>Check your inbox</h2>
          <p>
            We sent a mail to {codeStep.pending.email}. Enter the 6-digit code it holds (it works until{' '}
            {new Date(codeStep.pending.expiresAt).toLocaleTimeString()}). If the address already has an account, the
            mail says so: sign in instead.
          </p>
          <label>
            Code from the email
            <input
              name="code"
              inputMode="numeric"
              autoComplete="one-time-code"
              pattern="[0-9 -]{6,9}"
              required
              value={code}
              onChange={(e) => setCode(e.target.value)}
            />
          </label>
          <button className="button primary wide" type="submit">
            Confirm
          </button>
        </form>
      </div>
    )
  }

  return (
    <div className="auth">
      <div className="auth-brand">
        <Logo size={44} />
        <h1>Shoal</h1>
        <p>Your files, encrypted on this device and spread across many storage nodes.</p>
      </div>
      <form
        className="card auth-card"
        onSubmit={submit}
        aria-label={mode === 'login' ? 'Sign in' : mode === 'signup' ? 'Create account' : 'Reset password'}
      >
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
        {mode === 'recover' && (
          <label>
            Recovery key
            <input
              name="recovery-key"
              type="text"
              autoComplete="off"
              spellCheck={false}
              required
              value={recoveryKey}
              onChange={(e) => setRecoveryKey(e.target.value)}
            />
          </label>
        )}
        <label>
          {mode === 'recover' ? 'New password' : 'Password'}
          <input
            name="password"
            type="password"
            autoComplete={mode === 'login' ? 'current-password' : 'new-password'}
            required
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </label>
        {mode !== 'login' && (
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
        {mode !== 'recover' && (
          <label className="check">
            <input type="checkbox" name="remember" checked={keep} onChange={(e) => setKeep(e.target.checked)} />
            Remember this device
          </label>
        )}
        {keep && mode !== 'recover' && (
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
              : mode === 'signup'
                ? 'Create account'
                : 'Set new password'}
        </button>
        {mode === 'login' && (
          <button type="button" className="link-button" onClick={() => switchTo('recover')}>
            Forgot your password?
          </button>
        )}
        {mode === 'recover' && (
          <button type="button" className="link-button" onClick={() => switchTo('login')}>
            Back to sign in
          </button>
        )}
        {mode === 'signup' && mailsCode && (
          <p className="fineprint">We will email you a code to confirm the address before the account is made.</p>
        )}
        <p className="fineprint">
          <Icon name="lock" size={14} />{' '}
          {mode === 'recover'
            ? 'The recovery key you were shown at sign-up unlocks your files again here, in this browser; Shoal never sees it.'
            : 'Your password never leaves this browser. It unlocks a key that encrypts your files before they are uploaded; Shoal cannot read them, and only your recovery key can reset a lost password.'}
        </p>
      </form>
    </div>
  )
}
