package store

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/replaygw/replaygw/compare"
)

func result(i int, kinds compare.Kind, ep string) Result {
	r := Result{Time: time.Unix(1700000000, 0).Add(time.Duration(i) * time.Millisecond), Session: "s", Request: i,
		Protocol: "http", Endpoint: ep, OnlineMs: 1, TargetMs: 2, Diff: compare.Diff{Kinds: kinds, Offset: -1}}
	if kinds != 0 {
		r.Fields = []compare.Field{{Kind: kinds}}
		r.Offset = 3
		r.Example = &Payloads{Online: []byte("abcdefgh"), Target: []byte("abcXefgh")}
	}
	return r
}

func TestWriteReadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	w, err := Open(dir, Options{SegmentBytes: 2000})
	if err != nil {
		t.Fatal(err)
	}
	const n = 100
	for i := 0; i < n; i++ {
		var k compare.Kind
		if i%10 == 0 {
			k = compare.Body
		}
		if i%25 == 0 {
			k |= compare.Status
		}
		w.Put(result(i, k, fmt.Sprintf("GET /u/%d", i)))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	c, err := ReadCounts(dir)
	if err != nil {
		t.Fatal(err)
	}
	if c.Exchanges != n || c.Differing != 12 || c.ByKind["body"] != 10 || c.ByKind["status"] != 4 || c.Written != n || c.Dropped != 0 {
		t.Fatalf("counts %+v", c)
	}
	if c.Segments < 2 {
		t.Fatalf("%d segments, want rotation at 2000 bytes", c.Segments)
	}
	var got []int
	if err := Scan(dir, func(r Result) error {
		got = append(got, r.Request)
		if r.Request%10 == 0 && r.Kinds&compare.Body == 0 {
			return fmt.Errorf("result %d lost its kinds", r.Request)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for i, r := range got {
		if r != i {
			t.Fatalf("results out of order or lost: %v", got)
		}
	}
	if len(got) != n {
		t.Fatalf("%d results read", len(got))
	}
	// All ten differing results share endpoint key "GET /u/{id}": three examples.
	var ex []Example
	if err := ScanExamples(dir, func(e Example) error { ex = append(ex, e); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(ex) != 3 || c.Examples != 3 || string(ex[0].Online) != "abcdefgh" || string(ex[0].Target) != "abcXefgh" {
		t.Fatalf("examples %+v", ex)
	}
	if _, err := Open(dir, Options{}); err == nil || !strings.Contains(err.Error(), "already holds results") {
		t.Fatalf("reopen: %v", err)
	}
}

func TestByteCap(t *testing.T) {
	dir := t.TempDir()
	w, err := Open(dir, Options{MaxBytes: 1000, SegmentBytes: 400})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		w.Put(result(i, compare.Headers, "GET /x"))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	c, _ := ReadCounts(dir)
	if c.Exchanges != 50 || c.Differing != 50 || c.ByKind["headers"] != 50 {
		t.Fatalf("counts must cover every exchange: %+v", c)
	}
	if c.Written+c.Capped != 50 || c.Capped == 0 || c.BytesTotal > 1000 {
		t.Fatalf("cap not applied: %+v", c)
	}
	var size int64
	segs, _ := filepath.Glob(filepath.Join(dir, segmentGlob))
	for _, s := range segs {
		st, _ := os.Stat(s)
		size += st.Size()
	}
	if size != c.BytesTotal || size > 1000 {
		t.Fatalf("files hold %d bytes, counts say %d", size, c.BytesTotal)
	}
}

func TestDropsWhenQueueFull(t *testing.T) {
	gate := make(chan struct{})
	w, err := open(t.TempDir(), Options{Queue: 5}, gate)
	if err != nil {
		t.Fatal(err)
	}
	accepted := 0
	start := time.Now()
	for i := 0; i < 20; i++ {
		if w.Put(result(i, 0, "GET /")) {
			accepted++
		}
	}
	if time.Since(start) > time.Second {
		t.Fatal("Put blocked")
	}
	close(gate)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	c := w.Counts()
	if accepted != 5 || c.Dropped != 15 || c.Exchanges != 20 || c.Written != 5 {
		t.Fatalf("accepted %d, counts %+v", accepted, c)
	}
}

func TestReadTornLastLine(t *testing.T) {
	dir := t.TempDir()
	w, _ := Open(dir, Options{})
	w.Put(result(0, 0, "GET /"))
	w.Put(result(1, 0, "GET /"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	seg := filepath.Join(dir, segmentName(1))
	f, _ := os.OpenFile(seg, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"t":"2023`)
	f.Close()
	n := 0
	if err := Scan(dir, func(Result) error { n++; return nil }); err != nil || n != 2 {
		t.Fatalf("n=%d err=%v", n, err)
	}
	os.WriteFile(seg, []byte("{bad json}\n"), 0o644)
	if err := Scan(dir, func(Result) error { return nil }); err == nil || !strings.Contains(err.Error(), "results-000001.jsonl:1") {
		t.Fatalf("err = %v", err)
	}
	if err := Scan(t.TempDir(), func(Result) error { return nil }); err == nil || !strings.Contains(err.Error(), "no result files") {
		t.Fatalf("empty dir: %v", err)
	}
}
