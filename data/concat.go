package data

import (
	"errors"
	"fmt"
	"io"
	"slices"
)

// Concat returns the rows of a followed by those of b, which must have the
// same features: a training file and a validation file read as
// one data set whose rows from a.Info().N on are the validation rows. It
// closes both when closed.
func Concat(a, b Source) (Source, error) {
	ia, ib := a.Info(), b.Info()
	switch {
	case ia.D != ib.D:
		return nil, fmt.Errorf("%w: %s has %d features, %s has %d", ErrColumns, ia.Desc, ia.D, ib.Desc, ib.D)
	case !slices.Equal(ia.Features, ib.Features):
		return nil, fmt.Errorf("%w: %s and %s read other feature columns", ErrColumns, ia.Desc, ib.Desc)
	}
	return &concat{a: a, b: b, info: Info{N: ia.N + ib.N, D: ia.D, Desc: ia.Desc + ", validation rows from " + ib.Desc, Features: ia.Features}}, nil
}

type concat struct {
	a, b Source
	info Info
}

func (c *concat) Info() Info { return c.info }

// Head returns the number of rows of the first source: the first
// validation row.
func (c *concat) Head() int { return c.a.Info().N }

func (c *concat) Read(lo, hi int, x, y []float64) error {
	na, d := c.a.Info().N, c.info.D
	if lo < na {
		end := min(hi, na)
		var ya []float64
		if y != nil {
			ya = y[:end-lo]
		}
		if err := c.a.Read(lo, end, x[:(end-lo)*d], ya); err != nil {
			return err
		}
		x, lo = x[(end-lo)*d:], end
		if y != nil {
			y = y[len(ya):]
		}
	}
	if lo < hi {
		return c.b.Read(lo-na, hi-na, x, y)
	}
	return nil
}

func (c *concat) Close() error {
	var errs []error
	for _, s := range []Source{c.a, c.b} {
		if cl, ok := s.(io.Closer); ok {
			errs = append(errs, cl.Close())
		}
	}
	return errors.Join(errs...)
}
