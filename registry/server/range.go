package server

import (
	"errors"
	"strconv"
	"strings"
)

// errRange is a Range header no byte of the blob satisfies.
var errRange = errors.New("range not satisfiable")

// parseRange reads a Range header for a blob of size bytes as the bytes
// [start, end) to send and whether that is a part (206) rather than the
// whole (200). Only a single range is served; a header that does not
// parse, or asks for several ranges, is ignored as HTTP allows (the
// whole blob is sent). A range that starts past the end fails with
// errRange (416).
func parseRange(h string, size int64) (start, end int64, partial bool, err error) {
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return 0, size, false, nil
	}
	first, last, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok {
		return 0, size, false, nil
	}
	if first == "" { // the last N bytes
		n, ok := number(last)
		if !ok {
			return 0, size, false, nil
		}
		if n == 0 || size == 0 {
			return 0, 0, false, errRange
		}
		return max(size-n, 0), size, true, nil
	}
	s, ok := number(first)
	if !ok {
		return 0, size, false, nil
	}
	e := size - 1
	if last != "" {
		if e, ok = number(last); !ok || e < s {
			return 0, size, false, nil
		}
	}
	if s >= size {
		return 0, 0, false, errRange
	}
	return s, min(e, size-1) + 1, true, nil
}

// number parses a non-negative decimal of at most 18 digits, which
// cannot overflow an int64.
func number(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}
