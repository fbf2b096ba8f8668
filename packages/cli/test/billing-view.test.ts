import { invoiceCsv } from '@shoal/core'
import { describe, expect, it } from 'vitest'
import { invoiceLines, usageLines } from '../src/billing-view.ts'

const GiB = 2 ** 30
const DAY = 86_400_000

describe('billing as the CLI shows it', () => {
  // 170 GiB-days (the tracker's simulated-month test): 5.666666 GiB-months; 6 GiB + 3,072 B downloaded.
  const invoice = {
    accountId: 'acct1',
    period: '2030-04',
    from: Date.UTC(2030, 3, 1),
    to: Date.UTC(2030, 4, 1),
    plan: 'plus',
    storageByteMs: (BigInt(170 * GiB) * BigInt(DAY)).toString(),
    egressBytes: 6 * GiB + 3072,
    storageMicros: 22_100,
    egressMicros: 40_800,
    totalMicros: 62_900,
    issuedAt: Date.UTC(2030, 4, 1, 2),
    txn: 'invoice:acct1:2030-04'
  }

  it('prints an invoice with exact quantities and amounts', () => {
    expect(invoiceLines(invoice).split('\n')).toEqual([
      'invoice 2030-04 (2030-04-01 to 2030-04-30), plan plus, issued 2030-05-01',
      '  storage   5.666666 GiB-months  0.022100',
      '  download  6.000002 GiB  0.040800',
      '  total     0.062900'
    ])
    expect(invoiceCsv(invoice).split('\n')).toEqual([
      'period,account,plan,item,quantity,unit,amount',
      '2030-04,acct1,plus,storage,5.666666,GiB-month,0.022100',
      '2030-04,acct1,plus,download,6.000002,GiB,0.040800',
      '2030-04,acct1,plus,total,,,0.062900',
      ''
    ])
  })

  it('prints the month to date', () => {
    const lines = usageLines({
      period: '2030-04',
      from: invoice.from,
      to: invoice.to,
      plan: 'free',
      storageByteMs: String(3_600_000 * 1024),
      storageByteHours: '1024.000',
      egressBytes: 1536,
      storageMicros: 0,
      egressMicros: 0,
      totalMicros: 0
    })
    expect(lines.split('\n')).toEqual([
      'plan free, 2030-04 to date:',
      '  stored      0.000000 GiB-months (1024.000 byte-hours)  0.000000',
      '  downloaded  1.5 KiB (0.000001 GiB)  0.000000',
      '  total       0.000000'
    ])
  })
})
