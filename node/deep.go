package node

import (
	"context"

	"altmin/deep"
	"altmin/fleet"
)

// DeepStep implements fleet.DeepCaller: a deep network's statistics of
// partition p from shard m over gRPC (transport.Client.DeepStep).
func (c *Coordinator) DeepStep(ctx context.Context, m fleet.Member, req *deep.Request, p int) (*deep.Partial, error) {
	cl, err := c.client(ctx, m)
	if err != nil {
		return nil, err
	}
	return cl.DeepStep(ctx, m.ID, req, p)
}
