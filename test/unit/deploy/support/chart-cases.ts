/** The chart configurations the tests render: both topologies, each role alone and together, with and without the features in development. */
import { example } from './render.js';

export interface ChartCase {
  name: string;
  values: string[];
  extra: string[];
  /** Whether the values switch on csr, pull mode or hooks (flags of features in development). */
  future: boolean;
}

const base: ChartCase[] = [
  { name: 'one-to-many server', values: [example('one-to-many-server.yaml')], extra: [], future: false },
  { name: 'one-to-many agent', values: [example('one-to-many-agent.yaml')], extra: [], future: false },
  { name: 'one-to-one server', values: [example('one-to-one-server.yaml')], extra: [], future: false },
  { name: 'one-to-one agent', values: [example('one-to-one-agent.yaml')], extra: [], future: false },
  { name: 'chart defaults (one-to-many server)', values: [], extra: [], future: false },
  {
    name: 'one-to-many server and agent in one release',
    values: [],
    extra: ['--set', 'agent.enabled=true,agent.clusterName=cluster-a,agent.serverHost=tunnel.example.com'],
    future: false,
  },
  {
    name: 'one-to-one with mtls and a hard anti-affinity ignored',
    values: [example('one-to-one-server.yaml')],
    extra: ['--set', 'server.agentAuth=mtls,server.antiAffinity=hard'],
    future: false,
  },
];

export const CHART_CASES: ChartCase[] = [
  ...base,
  ...base
    .filter((c) => c.values.length > 0)
    .map((c) => ({ ...c, name: `${c.name} + csr, pull, hooks`, values: [...c.values, example('csr-and-pull.yaml')], future: true })),
];
