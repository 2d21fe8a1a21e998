package round

import "context"

// result is the answer of one call.
type result[T any] struct {
	Part  int
	Value T
	Err   error
}

// fanOut calls fetch(ctx, p) for every p in parts, at most par at a time
// (par <= 0 or above len(parts): all at once), starting them in the order
// of parts, and returns a channel that receives exactly len(parts)
// results, in the order the calls end. Calls not yet started when ctx is
// done are not made; their results carry ctx.Err(). The channel is
// buffered: the goroutines never block on it.
func fanOut[T any](ctx context.Context, parts []int, par int, fetch func(ctx context.Context, p int) (T, error)) <-chan result[T] {
	if par <= 0 || par > len(parts) {
		par = len(parts)
	}
	results := make(chan result[T], len(parts))
	next := make(chan int, len(parts))
	for _, p := range parts {
		next <- p
	}
	close(next)
	for range par { // par workers take the partitions in order
		go func() {
			for p := range next {
				if err := ctx.Err(); err != nil {
					results <- result[T]{Part: p, Err: err}
					continue
				}
				v, err := fetch(ctx, p)
				results <- result[T]{Part: p, Value: v, Err: err}
			}
		}()
	}
	return results
}
