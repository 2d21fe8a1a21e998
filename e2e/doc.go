// Package e2e tests the real coordinator and shard binaries as separate
// processes on 127.0.0.1: bit-identical results whatever the number of
// shards and the assignment of partitions, and the refusals of the security
// layer (wrong cluster key, missing or foreign certificates) and of the
// schema checks (mismatched data, missing partitions).
package e2e
