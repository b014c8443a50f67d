// Package lines joins text lines that a byte stream's segments split: the
// framers' Cutters (compare/httpframe, compare/resp) read their line
// states through one Joiner each.
//
// Data flow:
//
//	segment -> Joiner.Cut -> a whole line (aliasing the segment when it
//	                         lies inside it, else the joiner's buffer)
//	                      -> or nothing yet: the partial line is kept
package lines

import "bytes"

// Joiner holds the part of a line seen so far; its buffer grows to the
// longest line once and is reused.
type Joiner struct {
	part []byte
	// Max bounds one line, LF included; 0: no bound.
	Max int
}

// Status is what Cut found.
type Status uint8

const (
	Partial Status = iota // no LF yet: q was kept
	Line                  // a whole line
	TooLong               // the line grew beyond Max: the part was dropped, Cut starts afresh
)

// Cut consumes q up to and including its first LF (all of q when it has
// none) and returns k, the bytes consumed, and, when a line ended, the
// line without its LF. The line is valid until the next Cut or Reset.
func (j *Joiner) Cut(q []byte) (line []byte, k int, st Status) {
	i := bytes.IndexByte(q, '\n')
	k = len(q)
	if i >= 0 {
		k = i + 1
	}
	if j.Max > 0 && len(j.part)+k > j.Max {
		j.part = j.part[:0]
		return nil, k, TooLong
	}
	if i < 0 {
		j.part = append(j.part, q...)
		return nil, k, Partial
	}
	if len(j.part) == 0 {
		return q[:i], k, Line
	}
	line = append(j.part, q[:i]...)
	j.part = line[:0] // the next Cut appends after line is read
	return line, k, Line
}

// Reset drops a partial line.
func (j *Joiner) Reset() { j.part = j.part[:0] }
