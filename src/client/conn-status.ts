/**
 * Tracks one connection's status in the `client_connections{status}` gauge:
 * created -> dialing -> ok -> closing -> gone, as upstream's Go client counts them.
 */
import type { ClientMetrics } from '../observability/metrics.js';

/** A connection's life stage, the `status` label of `client_connections`. */
export type ConnectionStatus = 'created' | 'dialing' | 'ok' | 'closing';

/** Moves one connection between the gauge's status labels; each step is counted once. */
export class ConnectionStatusGauge {
  private current: ConnectionStatus | undefined;

  constructor(private readonly metrics: ClientMetrics | undefined) {}

  /** Sets the status; `undefined` removes the connection from the gauge. */
  set(next: ConnectionStatus | undefined): void {
    if (next === this.current) return;
    if (this.metrics) {
      if (this.current) this.metrics.connections.dec({ status: this.current });
      if (next) this.metrics.connections.inc({ status: next });
    }
    this.current = next;
  }

  /** The status last set. */
  get status(): ConnectionStatus | undefined {
    return this.current;
  }
}
