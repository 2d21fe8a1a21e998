package pki

import (
	"fmt"
	"strconv"
	"strings"
)

// MaxNames bounds the node names one ExpandNames call may produce.
const MaxNames = 10000

// ExpandNames expands numeric brace ranges in node names, as a shell does:
// "shard-{0..3}" stands for shard-0, shard-1, shard-2 and shard-3, in that
// order; a bound with a leading zero pads every number to the width of the
// wider bound ("s{00..10}": s00 ... s10), and several ranges in one name
// expand left to right. Names without braces are kept as they are. The
// result is not checked with ValidateName (Generate does that), but a
// brace that does not open a range {LO..HI} of non-negative decimal
// numbers with LO <= HI is an error wrapping ErrName, as is an expansion
// of more than MaxNames names.
func ExpandNames(names []string) ([]string, error) {
	var out []string
	for _, n := range names {
		var err error
		if out, err = expand(out, "", n); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// expand appends prefix+s with the ranges of s expanded to out.
func expand(out []string, prefix, s string) ([]string, error) {
	open := strings.IndexByte(s, '{')
	if open < 0 {
		if strings.IndexByte(s, '}') >= 0 {
			return nil, fmt.Errorf("%w: %q has a '}' without its '{'", ErrName, prefix+s)
		}
		if len(out) >= MaxNames {
			return nil, fmt.Errorf("%w: the brace ranges expand to more than %d names", ErrName, MaxNames)
		}
		return append(out, prefix+s), nil
	}
	end := strings.IndexByte(s[open:], '}')
	if end < 0 {
		return nil, fmt.Errorf("%w: %q has a '{' without its '}'", ErrName, prefix+s)
	}
	end += open
	inner := s[open+1 : end]
	lo, hi, ok := strings.Cut(inner, "..")
	a, errA := strconv.ParseUint(lo, 10, 31)
	b, errB := strconv.ParseUint(hi, 10, 31)
	if !ok || errA != nil || errB != nil || a > b {
		return nil, fmt.Errorf("%w: %q: the brace range {%s} wants {LO..HI} with decimal numbers 0 <= LO <= HI", ErrName, prefix+s, inner)
	}
	if b-a >= MaxNames {
		return nil, fmt.Errorf("%w: %q: the brace range {%s} has more than %d names", ErrName, prefix+s, inner, MaxNames)
	}
	width := 0
	if len(lo) > 1 && lo[0] == '0' || len(hi) > 1 && hi[0] == '0' {
		width = max(len(lo), len(hi))
	}
	for i := a; i <= b; i++ {
		var err error
		if out, err = expand(out, prefix+s[:open]+fmt.Sprintf("%0*d", width, i), s[end+1:]); err != nil {
			return nil, err
		}
	}
	return out, nil
}
