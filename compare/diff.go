package compare

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Kind is a set of the parts of a response that differ.
type Kind uint8

const (
	Status  Kind = 1 << iota // HTTP status, RESP type class, MySQL class and error code
	Headers                  // HTTP headers, MySQL result metadata (column count)
	Body                     // payload bytes, JSON values, RESP content, MySQL rows and digest
)

// Kinds in report order, with their names.
var kindNames = []struct {
	k    Kind
	name string
}{{Status, "status"}, {Headers, "headers"}, {Body, "body"}}

// Names lists the kinds in k.
func (k Kind) Names() []string {
	var out []string
	for _, n := range kindNames {
		if k&n.k != 0 {
			out = append(out, n.name)
		}
	}
	return out
}

func (k Kind) String() string { return strings.Join(k.Names(), ",") }

// ParseKind is the inverse of Kind.String for one name.
func ParseKind(name string) (Kind, error) {
	for _, n := range kindNames {
		if n.name == name {
			return n.k, nil
		}
	}
	return 0, fmt.Errorf("compare: unknown difference kind %q", name)
}

// MarshalJSON writes the kinds as a list of names.
func (k Kind) MarshalJSON() ([]byte, error) {
	names := k.Names()
	if names == nil {
		names = []string{}
	}
	return json.Marshal(names)
}

// UnmarshalJSON reads a list of names.
func (k *Kind) UnmarshalJSON(b []byte) error {
	var names []string
	if err := json.Unmarshal(b, &names); err != nil {
		return fmt.Errorf("compare: kinds: %w", err)
	}
	*k = 0
	for _, n := range names {
		v, err := ParseKind(n)
		if err != nil {
			return err
		}
		*k |= v
	}
	return nil
}

// Field is one thing that differs: a kind and, within it, a name - a
// lower-case header name, a JSON path with array indexes written [*], a
// RESP element path - or "" for the whole part.
type Field struct {
	Kind Kind   `json:"kind"`
	Name string `json:"name,omitempty"`
}

func (f Field) String() string {
	if f.Name == "" {
		return f.Kind.String()
	}
	return f.Kind.String() + " " + f.Name
}

// Diff is the comparison of one exchange's two responses.
type Diff struct {
	Kinds      Kind    `json:"kinds"`
	Fields     []Field `json:"fields,omitempty"`
	Noise      []Field `json:"noise,omitempty"` // differences production also shows against a second target
	Desc       string  `json:"desc,omitempty"`
	Offset     int     `json:"offset"` // first differing body byte, -1 when the bodies are equal
	OnlineSize int     `json:"online_size"`
	TargetSize int     `json:"target_size"`
}

// Same reports whether no (non-noise) difference was found.
func (d Diff) Same() bool { return d.Kinds == 0 }

// diffBuilder collects fields and descriptions.
type diffBuilder struct {
	d     Diff
	descs []string
}

func newBuilder(onlineSize, targetSize int) *diffBuilder {
	return &diffBuilder{d: Diff{Offset: -1, OnlineSize: onlineSize, TargetSize: targetSize}}
}

// maxDescs bounds the description of one exchange.
const maxDescs = 4

func (b *diffBuilder) add(k Kind, name, desc string) {
	b.d.Kinds |= k
	f := Field{Kind: k, Name: name}
	for _, g := range b.d.Fields {
		if g == f {
			f.Kind = 0
		}
	}
	if f.Kind != 0 {
		b.d.Fields = append(b.d.Fields, f)
	}
	if len(b.descs) < maxDescs {
		b.descs = append(b.descs, desc)
	} else if len(b.descs) == maxDescs {
		b.descs = append(b.descs, "...")
	}
}

func (b *diffBuilder) done() Diff {
	b.d.Desc = strings.Join(b.descs, "; ")
	return b.d
}

// FirstDifference is the first offset where a and b differ, or -1 when
// they are equal (a prefix differs at the shorter length).
func FirstDifference(a, b []byte) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return n
	}
	return -1
}

// Bytes compares the response bytes of one request of a protocol without a
// framer ("tcp"): equal, or the first differing offset.
func Bytes(online, target []byte) Diff {
	b := newBuilder(len(online), len(target))
	if off := FirstDifference(online, target); off >= 0 {
		b.d.Offset = off
		b.add(Body, "", fmt.Sprintf("bytes differ at offset %d (%d vs %d bytes)", off, len(online), len(target)))
	}
	return b.done()
}

// Classify moves the fields of d that also appear in noise - the Diff of
// production against a second target running production's build - to
// d.Noise, and recomputes d.Kinds from the fields left.
func Classify(d, noise Diff) Diff {
	seen := map[Field]bool{}
	for _, f := range noise.Fields {
		seen[f] = true
	}
	var real []Field
	d.Kinds = 0
	for _, f := range d.Fields {
		if seen[f] {
			d.Noise = append(d.Noise, f)
			continue
		}
		real = append(real, f)
		d.Kinds |= f.Kind
	}
	d.Fields = real
	if d.Kinds&Body == 0 {
		d.Offset = -1
	}
	return d
}
