// Package cluster tracks which nodes make up the training cluster: a thin
// wrapper over hashicorp/memberlist (SWIM gossip with failure detection).
//
// Every node (the coordinator and each shard) Starts a Node with an
// explicit ID and its metadata (role, gRPC address, partitions held, an
// opaque JSON schema), Joins any known member, and then reads Members and
// waits on Changes to learn who is alive and what they serve. The package
// only reports membership; deciding what to do about it (reassigning
// partitions, retrying) belongs to the caller.
//
// # Security
//
// Gossip is encrypted and authenticated with a shared AES key (Config.Key,
// see ParseKey and GenerateKey); a node without the key, or with another,
// cannot join, and incoming plaintext is rejected. Plaintext gossip needs
// Config.Insecure, and such a node cannot join an encrypted cluster. The
// key protects membership only; the gRPC traffic is secured separately with
// mutual TLS (package pki), whose certificates are issued for node IDs.
//
// # Metadata
//
// Meta travels in memberlist's node metadata, limited to 512 bytes
// (memberlist.MetaMaxSize). It is encoded as compact JSON without the ID,
// with partitions as ranges ("0-7,9"); Start and UpdateMeta fail with
// ErrMeta if it does not fit. A member whose metadata does not decode is
// logged and left out of Members.
//
// # IDs and restarts
//
// Memberlist keys members by name (the ID) and refuses a second live node
// with a known ID at a different address (it logs a conflict and ignores
// the newcomer). The newcomer learns it in the state exchange of its Join,
// which then returns an error wrapping ErrDuplicateID naming the member
// that has the ID. A node that restarts with the same ID rejoins as
// follows:
//
//   - At the same address (same IP and port), at once: the cluster still
//     holds the old incarnation, and when the new instance joins it learns
//     that record in the state exchange, refutes it with a higher
//     incarnation and its new metadata, and everyone adopts that, whether
//     the old instance was still believed alive, suspect or dead.
//   - At a different address, once the old instance has been declared dead
//     (failure detection: suspicion of several probe intervals, see
//     Timing) and Timing.DeadNodeReclaimTime has passed, or once the old
//     record is forgotten (Timing.GossipToTheDeadTime after death), or at
//     once if the old instance Left. Before that the newcomer is ignored;
//     it gets in at its next push/pull (Timing.PushPullInterval) after the
//     reclaim time, or when it calls Join again.
//
// A shard that restarts at the same port therefore rejoins immediately;
// one that restarts at a new address (a new container IP, port 0) rejoins
// within about failure detection + reclaim time + one push/pull interval.
// Calling Leave before a planned shutdown makes the ID free at once.
//
// # Events
//
// Changes signals (coalescing, never blocking memberlist) after a member
// joins, leaves, is declared dead or changes its metadata. Members lists
// the alive and suspect members: memberlist raises no event when a member
// becomes suspect or recovers, so suspect members stay listed until they
// are declared dead.
package cluster
