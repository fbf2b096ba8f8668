/** Codes of the testbed's own errors: callers branch on these, never on the message. */
export type TestbedErrorCode =
  /** Hosts mode needs root, the `ip` and `tc` commands and network namespaces; one of them is missing. */
  | 'ERR_HOSTS_UNAVAILABLE'
  /** Building a host network (namespaces, veth pairs, addresses, routes, caps) failed part way. */
  | 'ERR_HOSTS_SETUP'
  /** Every 10.A.0.0/16 range the testbed may use is taken (by other testnets or by this machine's routes). */
  | 'ERR_HOSTS_EXHAUSTED'

export class TestbedError extends Error {
  readonly code: TestbedErrorCode

  constructor(code: TestbedErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'TestbedError'
    this.code = code
  }
}
