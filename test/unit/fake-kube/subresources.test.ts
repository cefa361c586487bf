import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { apiFailure, invalidValue, startFakeKube, type FakeKube, type ResourceKind } from '../../support/fake-kube/index.js';

/** A kind with a status subresource, defined the way README.md shows (as CSR /status and /approval would be). */
const widgetKind: ResourceKind = {
  group: 'example.test',
  version: 'v1',
  plural: 'widgets',
  singular: 'widget',
  kind: 'Widget',
  namespaced: true,
  prepareCreate: (obj, ctx) => {
    delete obj.status;
    obj.spec = { ...(obj.spec as object), requestedBy: ctx.user.name };
  },
  prepareUpdate: (obj, old) => {
    obj.status = old.status;
  },
  validate: (obj) => {
    const size = (obj.spec as { size?: unknown } | undefined)?.size;
    return typeof size === 'number' && size > 0 ? [] : [invalidValue('spec.size', size, 'must be a positive number')];
  },
  subresources: {
    status: { type: 'update', apply: (incoming, current) => ({ ...current, status: incoming.status }) },
  },
};

interface Widget {
  metadata: { name: string; resourceVersion: string };
  spec: { size: number; requestedBy?: string };
  status?: { phase?: string };
}

describe('fake Kubernetes API: extra kinds and update subresources', () => {
  let fake: FakeKube;
  let api: CustomObjectsApi;
  const where = { group: 'example.test', version: 'v1', namespace: 'default', plural: 'widgets' };

  beforeAll(async () => {
    fake = await startFakeKube({ kinds: [widgetKind] });
    api = fake.kubeConfig().makeApiClient(CustomObjectsApi);
  });
  afterAll(() => fake.close());

  it('serves a kind from the table with its own defaults and validation', async () => {
    const w = (await api.createNamespacedCustomObject({ ...where, body: { metadata: { name: 'w' }, spec: { size: 1 }, status: { phase: 'Forged' } } })) as Widget;
    expect(w.spec.requestedBy).toBe('admin');
    expect(w.status).toBeUndefined();
    const bad = await apiFailure(api.createNamespacedCustomObject({ ...where, body: { metadata: { name: 'v' }, spec: { size: 0 } } }));
    expect(bad.code).toBe(422);
    expect(bad.status?.message).toBe('Widget "v" is invalid: spec.size: Invalid value: 0: must be a positive number');
  });

  it('writes only status through /status and never status through the main resource', async () => {
    const w = (await api.getNamespacedCustomObject({ ...where, name: 'w' })) as Widget;
    const viaStatus = (await api.replaceNamespacedCustomObjectStatus({
      ...where,
      name: 'w',
      body: { ...w, spec: { size: 99 }, status: { phase: 'Ready' } },
    })) as Widget;
    expect(viaStatus.status).toEqual({ phase: 'Ready' });
    expect(viaStatus.spec.size).toBe(1);

    const viaMain = (await api.replaceNamespacedCustomObject({
      ...where,
      name: 'w',
      body: { ...viaStatus, spec: { ...viaStatus.spec, size: 2 }, status: { phase: 'Hacked' } },
    })) as Widget;
    expect(viaMain.spec.size).toBe(2);
    expect(viaMain.status).toEqual({ phase: 'Ready' });

    const stale = await apiFailure(api.replaceNamespacedCustomObjectStatus({ ...where, name: 'w', body: { ...w, status: { phase: 'Old' } } }));
    expect(stale.code).toBe(409);

    const patched = (await api.patchNamespacedCustomObjectStatus(
      { ...where, name: 'w', body: { status: { phase: 'Done' } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    )) as Widget;
    expect(patched.status).toEqual({ phase: 'Done' });
    expect(((await api.getNamespacedCustomObjectStatus({ ...where, name: 'w' })) as Widget).status).toEqual({ phase: 'Done' });
  });

  it('answers 404 for an unknown subresource and for a kind not in the table', async () => {
    const unknownSub = await apiFailure(
      api.patchNamespacedCustomObjectScale({ ...where, name: 'w', body: [{ op: 'add', path: '/x', value: 1 }] }),
    );
    expect(unknownSub.code).toBe(404);
    const unknownKind = await apiFailure(api.listNamespacedCustomObject({ ...where, plural: 'gadgets' }));
    expect(unknownKind.code).toBe(404);
    expect(unknownKind.status?.message).toBe('the server could not find the requested resource');
  });

  it('accepts new kinds while running', async () => {
    fake.registerKind({ ...widgetKind, plural: 'gizmos', singular: 'gizmo', kind: 'Gizmo' });
    const list = (await api.listNamespacedCustomObject({ ...where, plural: 'gizmos' })) as { kind: string; items: unknown[] };
    expect(list).toMatchObject({ kind: 'GizmoList', items: [] });
  });
});
