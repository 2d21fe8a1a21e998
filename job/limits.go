package job

import (
	"fmt"

	"altmin/msg"
	"altmin/shard"
)

// memoryLimit returns the bytes a run may hold in this process before it
// is refused: the machine's memory (shard.MachineMemory). A variable for
// tests.
var memoryLimit = shard.MachineMemory

// checkRoundMemory refuses, before any round, a run whose coordinator
// would hold more than the memory limit in one round's partials: one per
// partition, each of msg.PartialBytes of the model's unknowns. The error
// wraps msg.ErrTooLarge and names P, the bytes and the limit.
func checkRoundMemory(o Options, pr *Problem) error {
	limit := memoryLimit()
	per := msg.PartialBytes(pr.Spec.M())
	if limit <= 0 || per <= 0 {
		return nil
	}
	if int64(o.Partitions) > limit/per {
		return fmt.Errorf("%w: %w: --partitions %d: the coordinator holds one partial of %d bytes per partition each round (m = %d unknowns), %d bytes in all, more than the memory limit of %d bytes (physical memory plus swap, ulimit -v, cgroup memory.max, GOMEMLIMIT); use fewer partitions",
			ErrOptions, msg.ErrTooLarge, o.Partitions, per, pr.Spec.M(), int64(o.Partitions)*per, limit)
	}
	return nil
}

// checkLocalMemory refuses, before anything is loaded, an in-process run
// (o.LocalShards shards, or the engine itself) whose held rows and one
// round's partials exceed the memory limit: every row of the data, or
// with --resident the rows of that many of the largest partitions per
// holder.
func checkLocalMemory(o Options, pr *Problem) error {
	if err := checkRoundMemory(o, pr); err != nil {
		return err
	}
	st, err := o.storage()
	if err != nil {
		return err
	}
	n := int64(pr.Source.Info().N)
	rows := n
	if o.Resident > 0 {
		largest := (n + int64(o.Partitions) - 1) / int64(o.Partitions)
		holders := int64(max(o.localShards(), 1))
		rows = min(n, holders*int64(o.Resident)*largest)
	}
	limit := memoryLimit()
	held := shard.HeldBytes(rows, pr.Spec.D, st)
	rounds := int64(o.Partitions) * msg.PartialBytes(pr.Spec.M())
	if limit > 0 && held > limit-rounds {
		return fmt.Errorf("%w: %w: the run would hold %d rows of %d features in %s storage (%d bytes) and one round's partials (%d bytes), more than the memory limit of %d bytes (physical memory plus swap, ulimit -v, cgroup memory.max, GOMEMLIMIT); stream them (--resident) or use float32 storage",
			ErrOptions, msg.ErrTooLarge, rows, pr.Spec.D, st, held, rounds, limit)
	}
	return nil
}
