// Package pki creates and loads the certificates that secure the cluster's
// gRPC traffic with mutual TLS.
//
// Generate writes a private cluster certificate authority and one
// certificate per node into a directory:
//
//	ca.pem, ca-key.pem        the CA (ECDSA P-256, self-signed)
//	NAME.pem, NAME-key.pem    one pair per node name
//
// Every node certificate is valid for both server and client authentication
// (a node serves gRPC and dials other nodes with the same pair) and carries
// these subject alternative names:
//
//   - the node name as a DNS name, so a client dialling a node by its name
//     (a container or host name equal to the node ID) verifies it;
//   - NAME.DOMAIN for every Options.Domains entry (coordinator certs
//     --domain), e.g. a StatefulSet pod's stable name; never a wildcard, so
//     a certificate answers only for its own node;
//   - "localhost" and the IP address 127.0.0.1, so processes on one machine
//     can dial each other on loopback.
//
// The trust boundary is the CA: ServerTLS accepts any client whose
// certificate the CA signed, and because every certificate names localhost
// and 127.0.0.1, on loopback any member can present itself as any other. Name
// binding holds only when nodes are dialled by their DNS names.
//
// Private keys are written with mode 0600, certificates with 0644, each file
// atomically (a temporary file renamed into place). Generate refuses to
// overwrite existing files unless Options.Force is set.
//
// ExpandNames expands shell-like numeric brace ranges in node names
// ("shard-{0..15}"), for the certificates of an orchestrator's numbered
// replicas.
//
// ServerTLS and ClientTLS load those files into tls.Configs that require
// TLS 1.3 and verify the peer against the CA in both directions.
package pki
