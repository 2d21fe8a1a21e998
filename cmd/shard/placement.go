package main

import (
	"flag"
	"fmt"
	"strconv"

	"altmin/placement"
)

// placementFlags are the flags of --partitions auto: the shard derives its
// partitions from its index among --shards shards (package placement).
type placementFlags struct {
	index       string
	base        int
	shards      int
	replication int
}

// names of the flags that only --partitions auto takes.
var placementFlagNames = []string{"shard-index", "shard-index-base", "shards", "replication"}

func (pf *placementFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&pf.index, "shard-index", "", "with --partitions auto: this shard's index in [0, --shards), or auto: the number the shard's --id ends with (a StatefulSet pod's ordinal, shard-3: 3), minus --shard-index-base")
	fs.IntVar(&pf.base, "shard-index-base", 0, "with --shard-index auto: the number the first shard's ID ends with (0 for a StatefulSet's ordinals, 1 for a Docker Swarm task slot)")
	fs.IntVar(&pf.shards, "shards", 0, "with --partitions auto: the number of shards S the partitions are placed on")
	fs.IntVar(&pf.replication, "replication", 1, "with --partitions auto: the shards R holding every partition (1 to --shards)")
}

// partitions returns the partitions of a shard: the list of --partitions,
// or with --partitions auto those of the placement of --num-partitions
// partitions on --shards shards, replicated --replication times, for the
// shard's index. The flags of auto with a list are a usage error.
func (pf *placementFlags) partitions(fs *flag.FlagSet, list, id string, numPartitions int) ([]int, error) {
	if list != "auto" {
		given := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
		for _, n := range placementFlagNames {
			if given[n] {
				return nil, fmt.Errorf("%w: --%s goes with --partitions auto, not with the list %q", errUsage, n, list)
			}
		}
		parts, err := parseList(list)
		if err != nil {
			return nil, fmt.Errorf("%w: --partitions: %v", errUsage, err)
		}
		return parts, nil
	}
	if pf.shards == 0 || pf.index == "" {
		return nil, fmt.Errorf("%w: --partitions auto needs --shards and --shard-index (a number or auto)", errUsage)
	}
	var index int
	if pf.index == "auto" {
		var err error
		if index, err = placement.IndexFromName(id, pf.base); err != nil {
			return nil, fmt.Errorf("%w: --shard-index auto, --id %s: %v", errUsage, id, err)
		}
	} else {
		var err error
		if index, err = strconv.Atoi(pf.index); err != nil {
			return nil, fmt.Errorf("%w: --shard-index %q: want a number or auto", errUsage, pf.index)
		}
	}
	plan := placement.Plan{Partitions: numPartitions, Shards: pf.shards, Replication: pf.replication}
	parts, err := plan.Shard(index)
	if err != nil {
		return nil, fmt.Errorf("%w: --partitions auto with shard index %d, --shards %d, --replication %d, --num-partitions %d: %v",
			errUsage, index, pf.shards, pf.replication, numPartitions, err)
	}
	return parts, nil
}
