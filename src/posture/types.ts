import type { Config } from '../config/index.js';

/** The verdict of one posture check: `fail` stops a production start. */
export type PostureStatus = 'pass' | 'warn' | 'fail';

/** What one check found. `reason` and `fix` never contain a secret value. */
export interface Outcome {
  status: PostureStatus;
  reason: string;
  /** How to get to `pass`, for warn and fail. */
  fix?: string;
}

/** Everything a check may look at. */
export interface PostureContext {
  config: Config;
  now: Date;
  /** The --config file the config came from, if any (its mode matters when it holds secrets). */
  configFile?: string;
  /** process.versions.node, injectable for tests. */
  nodeVersion: string;
}

/**
 * One check of the security posture. The same functions drive `bulwark doctor` (which reports
 * every outcome) and the production start-up (which refuses on any `fail`).
 */
export interface PostureCheck {
  id: string;
  /** The checklist line (1-17 of the spec) it belongs to. */
  line: number;
  run(context: PostureContext): Outcome | Outcome[];
}

/** A finding: an outcome with the check that made it. */
export interface Finding extends Outcome {
  check: string;
  line: number;
}

/** `fail` in production, `warn` elsewhere: for what is fine on a laptop and unsafe when deployed. */
export function productionFail(context: PostureContext): 'fail' | 'warn' {
  return context.config.env === 'production' ? 'fail' : 'warn';
}

export const pass = (reason: string): Outcome => ({ status: 'pass', reason });
