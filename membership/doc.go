// Package membership is a thin layer over hashicorp/memberlist: who is in
// the cluster, with what role, gRPC address, partitions and data schema
// (carried in memberlist's node metadata), and a signal when that changes.
//
// Nodes are named by explicit IDs, never by addresses. Gossip is encrypted
// with a shared key (AES-GCM, memberlist's keyring) unless the
// configuration says Insecure: a node without the key can neither join nor
// be heard. A node that restarts with the same ID rejoins: with the same
// address at once (its new incarnation refutes the old one), with a new
// address once the old one has been declared dead for DeadNodeReclaim.
package membership
