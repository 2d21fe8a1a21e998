// Package node assembles the processes of an altmin cluster from their
// parts: a shard node (partitions in memory, the gRPC statistics service,
// membership) and the coordinator's view of the cluster (membership, gRPC
// clients, readiness), which plugs into package fleet.
//
// Identities are explicit IDs, never addresses. Gossip is encrypted with a
// shared key and gRPC uses mutual TLS unless Insecure is set explicitly
// (the in-process --local-shards mode on loopback always runs insecure).
package node
