import { CHECKLIST } from '../posture/checklist.js';
import { terminalText } from '../tools/terminal-text.js';
import type { ScanReport, ScanStatus } from './types.js';

const RANK: Record<ScanStatus, number> = { skip: 0, pass: 1, warn: 2, fail: 3 };
const MARK: Record<ScanStatus, string> = { pass: 'pass', warn: 'WARN', fail: 'FAIL', skip: 'skip' };

export interface ScanLine {
  line: number;
  practice: string;
  /** The worst finding's status; `untested` when nothing on this line can be seen from outside. */
  status: ScanStatus | 'untested';
}

export function scanLines(report: ScanReport): ScanLine[] {
  return CHECKLIST.map(({ line, practice }) => {
    const mine = report.findings.filter((f) => f.line === line);
    if (mine.length === 0) return { line, practice, status: 'untested' as const };
    const worst = mine.reduce((a, b) => (RANK[b.status] > RANK[a.status] ? b : a));
    return { line, practice, status: worst.status };
  });
}

export function summarize(report: ScanReport): Record<ScanStatus, number> {
  const summary = { pass: 0, warn: 0, fail: 0, skip: 0 };
  for (const f of report.findings) summary[f.status] += 1;
  return summary;
}

/**
 * The report as a table: one block per checklist line, each finding with its reason and fix.
 * What the target chose (its routes, headers and error text, quoted in findings) is shown with
 * its control characters escaped (terminalText): the table goes to a terminal or a CI log.
 */
export function renderText(report: ScanReport): string {
  const t = terminalText;
  const lines = scanLines(report);
  const width = Math.max(...lines.map((l) => l.practice.length));
  const checkWidth = Math.max(...report.findings.map((f) => f.check.length));
  const out = [
    `bulwark audit of ${t(report.target)}: ${report.requests} requests in ${(report.durationMs / 1000).toFixed(1)} s`,
    `OpenAPI: ${t(report.openapi ?? `none used (${report.openapiProblem ?? 'not found'})`)} · token: ${report.tokenGiven ? 'given' : 'none (token attacks skipped)'}`,
    '',
    ` #  ${'practice'.padEnd(width)}  status`,
  ];
  const untested: number[] = [];
  for (const row of lines) {
    if (row.status === 'untested') {
      untested.push(row.line);
      continue;
    }
    out.push(`${String(row.line).padStart(2)}  ${row.practice.padEnd(width)}  ${MARK[row.status]}`);
    for (const f of report.findings.filter((x) => x.line === row.line)) {
      const detail = [
        f.reason,
        f.fix === undefined ? '' : `Fix: ${f.fix}`,
        f.evidence === undefined ? '' : `(${f.evidence})`,
      ]
        .filter(Boolean)
        .join(' ');
      out.push(`      ${MARK[f.status]}  ${f.check.padEnd(checkWidth)}  ${t(detail)}`);
    }
  }
  const s = summarize(report);
  out.push('');
  out.push(`${s.pass} pass, ${s.warn} warn, ${s.fail} fail, ${s.skip} skipped.`);
  if (untested.length > 0) {
    out.push(
      `Lines ${untested.join(', ')} cannot be seen from outside: check them in the code and the configuration (for a Bulwark server: bulwark doctor).`,
    );
  }
  return out.join('\n');
}

export function renderJson(report: ScanReport): string {
  return JSON.stringify(
    { ...report, summary: summarize(report), lines: scanLines(report) },
    null,
    2,
  );
}
