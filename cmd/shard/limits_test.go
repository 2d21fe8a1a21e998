package main

import (
	"fmt"
	"strings"
	"testing"

	"altmin/msg"
)

// TestParseListRefusesHugeRange: a partition range beyond msg.MaxPartitions
// is refused, naming the limit, before a slice of its length is allocated
// ("0-1000000000000" allocated 8 TB).
func TestParseListRefusesHugeRange(t *testing.T) {
	for _, in := range []string{"0-1000000000000", fmt.Sprint(msg.MaxPartitions), "0-9223372036854775807"} {
		_, err := parseList(in)
		if err == nil || !strings.Contains(err.Error(), fmt.Sprint(msg.MaxPartitions)) {
			t.Errorf("parseList(%q) = %v, want an error naming the limit %d", in, err, msg.MaxPartitions)
		}
	}
	if got, err := parseList(fmt.Sprintf("%d", msg.MaxPartitions-1)); err != nil || len(got) != 1 {
		t.Errorf("the largest ID: %v, %v", got, err)
	}
}

// FuzzParseList: partition lists from the command line never panic nor
// allocate beyond the limit, and a list parsed formats back (as IDs) to
// one that parses to the same IDs.
func FuzzParseList(f *testing.F) {
	for _, s := range []string{"0", "0,2", "4-7", " 1, 3-4 ,9", "", "a", "-1", "3-1", "1-x", ",", "0-65535", "0-1000000000000", "9223372036854775807"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ids, err := parseList(s)
		if err != nil {
			return
		}
		if len(ids) == 0 || len(ids) > msg.MaxPartitions*(strings.Count(s, ",")+1) {
			t.Fatalf("parseList(%q): %d IDs", s, len(ids))
		}
		parts := make([]string, len(ids))
		for i, p := range ids {
			if p < 0 || p >= msg.MaxPartitions {
				t.Fatalf("parseList(%q): ID %d out of range", s, p)
			}
			parts[i] = fmt.Sprint(p)
		}
		again, err := parseList(strings.Join(parts, ","))
		if err != nil || fmt.Sprint(again) != fmt.Sprint(ids) {
			t.Fatalf("round trip of %q: %v, %v, want %v", s, again, err, ids)
		}
	})
}
