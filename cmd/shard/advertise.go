package main

import (
	"net"
)

// defaultGRPCAdvertise returns the gRPC address to advertise when none is
// given: for a wildcard listen address (0.0.0.0:7000, :7000), which no
// other node can dial, the host of the gossip advertise address (an IP,
// resolved by node.ParseGossip) with the listen port; otherwise "", which
// advertises the listen address.
func defaultGRPCAdvertise(listen, gossipAdvertise string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil || gossipAdvertise == "" {
		return ""
	}
	if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
		return ""
	}
	ghost, _, err := net.SplitHostPort(gossipAdvertise)
	if err != nil {
		return ""
	}
	return net.JoinHostPort(ghost, port)
}
