import type { Config } from '../config/index.js';
import { ConfigError } from '../errors.js';
import { CHECKLIST } from './checklist.js';
import {
  accountRecoveryCheck,
  argon2Check,
  defaultRoleCheck,
  oidcCheck,
  tokenLifetimeCheck,
} from './auth-checks.js';
import {
  builtInChecks,
  corsCheck,
  docsCheck,
  environmentCheck,
  inputLimitsCheck,
  loggingCheck,
  metricsCheck,
  rateLimitCheck,
  runtimeCheck,
  unsafeOverridesCheck,
  versioningCheck,
} from './config-checks.js';
import { masterKeyCheck, secretFilesCheck } from './key-checks.js';
import { backendTransportCheck, trustProxyCheck } from './network-checks.js';
import { transportCheck } from './tls-checks.js';
import type { Finding, PostureCheck, PostureContext, PostureStatus } from './types.js';

export { CHECKLIST } from './checklist.js';
export { masterKeyWeakness, PUBLISHED_MASTER_KEYS } from './master-key.js';
export type { Finding, Outcome, PostureCheck, PostureContext, PostureStatus } from './types.js';

/** Every posture check, in checklist order. Doctor reports them all; production refuses on fail. */
export const POSTURE_CHECKS: readonly PostureCheck[] = Object.freeze(
  [
    argon2Check,
    tokenLifetimeCheck,
    accountRecoveryCheck,
    defaultRoleCheck,
    oidcCheck,
    inputLimitsCheck,
    ...builtInChecks,
    rateLimitCheck,
    transportCheck,
    trustProxyCheck,
    backendTransportCheck,
    masterKeyCheck,
    secretFilesCheck,
    loggingCheck,
    metricsCheck,
    versioningCheck,
    corsCheck,
    runtimeCheck,
    environmentCheck,
    docsCheck,
    unsafeOverridesCheck,
  ].sort((a, b) => a.line - b.line),
);

export interface EvaluateOptions {
  now?: Date;
  configFile?: string;
  nodeVersion?: string;
}

/** Runs every check against a config (and the files it names). Never throws for a bad file. */
export function evaluatePosture(config: Config, options: EvaluateOptions = {}): Finding[] {
  const context: PostureContext = {
    config,
    now: options.now ?? new Date(),
    nodeVersion: options.nodeVersion ?? process.versions.node,
    ...(options.configFile === undefined ? {} : { configFile: options.configFile }),
  };
  return POSTURE_CHECKS.flatMap((check) => {
    const outcome = check.run(context);
    return (Array.isArray(outcome) ? outcome : [outcome]).map((o) => ({
      ...o,
      check: check.id,
      line: check.line,
    }));
  });
}

const RANK: Record<PostureStatus, number> = { pass: 0, warn: 1, fail: 2 };

/** One row per checklist line: its worst status, and the findings behind it (worst first). */
export interface ChecklistRow {
  line: number;
  practice: string;
  status: PostureStatus;
  findings: Finding[];
}

/**
 * One row per line of the 17-point checklist, with the worst status of its findings (`pass` when
 * it has none).
 */
export function checklistRows(findings: Finding[]): ChecklistRow[] {
  return CHECKLIST.map(({ line, practice }) => {
    const mine = findings
      .filter((f) => f.line === line)
      .sort((a, b) => RANK[b.status] - RANK[a.status]);
    const status = mine[0]?.status ?? 'pass';
    return { line, practice, status, findings: mine };
  });
}

/**
 * With env=production, refuses to go on while any posture check fails: one ConfigError naming
 * every problem and its fix (the CLI prints it and exits 78, like any bad setting).
 */
export function assertProductionPosture(config: Config, options: EvaluateOptions = {}): void {
  if (config.env !== 'production') return;
  const failures = evaluatePosture(config, options).filter((f) => f.status === 'fail');
  if (failures.length === 0) return;
  throw new ConfigError([
    ...failures.map(
      (f) => `[production, checklist ${f.line}] ${f.reason}${f.fix ? ` Fix: ${f.fix}` : ''}`,
    ),
  ]);
}
