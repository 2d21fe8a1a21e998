package tensorinit

import (
	"fmt"

	"altmin/linalg"
	"altmin/msg"
)

// Reduce12 adds the moment sums of the given order of partitions 0..P-1
// (parts[p] must be partition p) in partition order, for D features.
func Reduce12(parts []*msg.Moments12, d, order int) (*msg.Moments12, error) {
	if len(parts) == 0 {
		return nil, fmt.Errorf("%w: no partitions", ErrMoments)
	}
	sum := &msg.Moments12{Partition: -1, Order: order, D: d, SumYX: make([]float64, d), SumX: make([]float64, d)}
	if order == 2 {
		sum.SumYXX = make([]float64, linalg.PackedLen(d))
	}
	for p, m := range parts {
		if m == nil || m.Partition != p {
			return nil, fmt.Errorf("%w: answer for partition %d is missing or names another partition", ErrMoments, p)
		}
		if err := m.Check(&msg.Moments12Request{D: d, Order: order}); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMoments, err)
		}
		sum.Rows += m.Rows
		sum.SumY += m.SumY
		add(sum.SumYX, m.SumYX)
		add(sum.SumX, m.SumX)
		add(sum.SumYXX, m.SumYXX)
	}
	return sum, nil
}

// Reduce4 adds the fourth moment sums of partitions 0..P-1 (parts[p] must
// be partition p) in partition order, for a projection of order k.
func Reduce4(parts []*msg.Moment4, k int) (*msg.Moment4, error) {
	if len(parts) == 0 {
		return nil, fmt.Errorf("%w: no partitions", ErrMoments)
	}
	sum := &msg.Moment4{Partition: -1, K: k, Sum: make([]float64, msg.Sym4Len(k))}
	for p, m := range parts {
		if m == nil || m.Partition != p {
			return nil, fmt.Errorf("%w: answer for partition %d is missing or names another partition", ErrMoments, p)
		}
		if err := m.Check(&msg.Moment4Request{D: k, K: k}); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMoments, err)
		}
		sum.Rows += m.Rows
		add(sum.Sum, m.Sum)
	}
	return sum, nil
}

func add(dst, src []float64) {
	for i, v := range src {
		dst[i] += v
	}
}
