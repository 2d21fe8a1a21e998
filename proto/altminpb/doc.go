// Package altminpb is the generated Go code of the wire format in
// proto/altmin/v1/altmin.proto: the Shard service between the coordinator
// and the shards.
//
// Do not edit the *.pb.go files; regenerate them with scripts/genproto.sh.
// Only package transport converts between these messages and the
// statistics types of package shard.
package altminpb
