package deep

import (
	"errors"
	"strings"
	"testing"
)

// TestTeacherTooLarge: widths whose weights would not fit in memory (or
// whose product overflows int) are refused with ErrTeacher before anything
// is allocated, rather than crashing the process (out of memory, or a
// makeslice panic).
func TestTeacherTooLarge(t *testing.T) {
	for spec, msg := range map[string]string{
		"model=deep,d=5,hidden=99999-99999,n=10":           "more than 16777216 weights",
		"model=deep,d=5,hidden=3-4611686018427387904,n=10": "at most 16777216 supported",
		"model=deep,d=3037000500,hidden=3037000500-2,n=10": "at most 16777216 supported",
		"model=deep,d=4096,hidden=4096-4096,n=10":          "more than 16777216 weights",
		"model=deep,d=5,hidden=16777216-1,n=10":            "more than 16777216 weights",
	} {
		if _, err := ParseTeacher(spec); !errors.Is(err, ErrTeacher) || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: %v, want ErrTeacher with %q", spec, err, msg)
		}
	}
}
