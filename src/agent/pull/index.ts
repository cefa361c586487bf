/** Pull mode, agent side: the in-process client, local listeners, meta-cluster KubeConfig. */
export type { AgentPullConfig, MetaKubeSettings, PullListen, PullProxyListen } from './config.js';
export { defaultAgentPullConfig, META_APISERVER_TARGET, PULL_TIMING } from './defaults.js';
export { PullClient } from './pull-client.js';
export { PullMode, type PullAddresses } from './pull-mode.js';
// metaKubeConfig itself is not re-exported: it loads the Kubernetes client (PullClient.kubeConfig() imports it when asked).
export type { MetaKubeOptions } from './meta-kube.js';
export { connectStatus } from './connect-proxy.js';
