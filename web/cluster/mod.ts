// Several control-plane instances sharing nodes over NATS (docs/architecture.md, "Several instances").
export { type Cluster, clusterNames, type ClusterOptions, openCluster } from "./cluster.ts";
export { ClusterReceiptDesk } from "./cluster_receipts.ts";
export { RemoteLink } from "./remote_link.ts";
