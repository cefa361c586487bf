/**
 * The raw object storage under the registry: one global resourceVersion
 * counter (like etcd's revision), objects by resource and namespace/name,
 * an event history for watches that start from an older resourceVersion,
 * and listeners for live watches. No API semantics here.
 */
import type { StoredObject } from './types.js';

/** A watch event type as the API names it. */
export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** One committed change. `object` is the new state (for DELETED: the last state, with the delete's resourceVersion). */
export interface StorageEvent {
  type: EventType;
  /** Qualified resource, e.g. `secrets` or `leases.coordination.k8s.io`. */
  resource: string;
  rv: number;
  object: StoredObject;
  /** The state before a MODIFIED or DELETED. */
  prev?: StoredObject;
}

/** Key of an object inside its resource table. */
export function objectKey(namespace: string | undefined, name: string): string {
  return `${namespace ?? ''}/${name}`;
}

/** Objects, revision counter, history and listeners. */
export class Storage {
  private rv = 0;
  private compactedRv = 0;
  private readonly tables = new Map<string, Map<string, StoredObject>>();
  private history: StorageEvent[] = [];
  private readonly listeners = new Set<(e: StorageEvent) => void>();

  /** @param historyLimit events kept for watches that resume from an older resourceVersion */
  constructor(private readonly historyLimit: number) {}

  /** The latest committed revision. */
  currentRv(): number {
    return this.rv;
  }

  /** The oldest revision a watch may start from (older → 410 Expired). */
  oldestRv(): number {
    return this.compactedRv;
  }

  get(resource: string, namespace: string | undefined, name: string): StoredObject | undefined {
    return this.tables.get(resource)?.get(objectKey(namespace, name));
  }

  /** All objects of a resource, sorted by namespace then name (as etcd returns them). */
  all(resource: string): StoredObject[] {
    const t = this.tables.get(resource);
    if (!t) return [];
    return [...t.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, v]) => v);
  }

  /**
   * Commits a change under a new revision: sets metadata.resourceVersion,
   * stores (or removes) the object, records and publishes the event.
   * Returns the stored object.
   */
  commit(type: EventType, resource: string, obj: StoredObject, prev?: StoredObject): StoredObject {
    this.rv += 1;
    const stored: StoredObject = { ...obj, metadata: { ...obj.metadata, resourceVersion: String(this.rv) } };
    let table = this.tables.get(resource);
    if (!table) {
      table = new Map();
      this.tables.set(resource, table);
    }
    const key = objectKey(stored.metadata.namespace, stored.metadata.name);
    if (type === 'DELETED') table.delete(key);
    else table.set(key, stored);
    const event: StorageEvent = { type, resource, rv: this.rv, object: stored };
    if (prev) event.prev = prev;
    this.history.push(event);
    if (this.history.length > this.historyLimit) {
      const dropped = this.history.splice(0, this.history.length - this.historyLimit);
      this.compactedRv = dropped[dropped.length - 1]!.rv;
    }
    for (const l of [...this.listeners]) l(event);
    return stored;
  }

  /** Events after `rv`, or 'expired' when some of them are no longer kept. */
  eventsSince(rv: number): StorageEvent[] | 'expired' {
    if (rv < this.compactedRv) return 'expired';
    return this.history.filter((e) => e.rv > rv);
  }

  /** Forgets the history, as an etcd compaction does; watches from older revisions then get 410 Expired. */
  compact(): void {
    this.history = [];
    this.compactedRv = this.rv;
  }

  /** Calls `fn` for every committed change until the returned function is called. */
  subscribe(fn: (e: StorageEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
}
