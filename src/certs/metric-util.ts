/**
 * Get-or-create for prom-client metrics on an injected registry, so several
 * components (two CSR managers, a signer) can share one registry without
 * "already registered" errors.
 */
import { Counter, Gauge, type Registry } from 'prom-client';

/** The counter `name` of `registry`, created on first use. */
export function counterOn<L extends string>(registry: Registry, name: string, help: string, labelNames: L[]): Counter<L> {
  const found = registry.getSingleMetric(name);
  if (found) return found as Counter<L>;
  return new Counter({ name, help, labelNames, registers: [registry] });
}

/** The gauge `name` of `registry`, created on first use. */
export function gaugeOn<L extends string>(registry: Registry, name: string, help: string, labelNames: L[]): Gauge<L> {
  const found = registry.getSingleMetric(name);
  if (found) return found as Gauge<L>;
  return new Gauge({ name, help, labelNames, registers: [registry] });
}
