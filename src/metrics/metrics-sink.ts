import type { RecordedSecurityEvent, SecurityEventSink } from '../security-events.js';
import type { Metrics } from './metrics.js';

/**
 * Derives the security counters from the event stream, so each fact is emitted once (as an
 * event) and counted here, instead of increments sprinkled next to every emit.
 */
export class MetricsSink implements SecurityEventSink {
  constructor(private readonly metrics: Metrics) {}

  record(event: RecordedSecurityEvent): void {
    const m = this.metrics;
    m.securityEvents.inc({ type: event.type, outcome: event.outcome });
    switch (event.type) {
      case 'login.succeeded':
        m.logins.inc({ outcome: 'success' });
        break;
      case 'login.failed':
        m.logins.inc({ outcome: 'failure' });
        break;
      case 'login.throttled':
        m.loginsThrottled.inc();
        break;
      case 'rate_limit.exceeded':
        m.rateLimited.inc();
        break;
      case 'token.invalid':
        m.invalidTokens.inc();
        break;
      case 'refresh.reused':
        m.refreshReuse.inc();
        break;
      case 'access.denied': {
        const status = event.details?.status;
        m.accessDenied.inc({ status: status === 404 ? '404' : '403' });
        break;
      }
      default:
        break;
    }
  }
}
