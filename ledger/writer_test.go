package ledger

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func entry(i int) Entry {
	t0 := time.Date(2026, 11, 25, 18, 0, 0, 0, time.UTC)
	return Entry{
		Start: t0.Add(time.Duration(i) * time.Second), End: t0.Add(time.Duration(i)*time.Second + 1500*time.Millisecond),
		Client: fmt.Sprintf("10.88.0.%d:%d", i%250+1, 40000+i), Target: "10.77.0.30:80",
		Original: fmt.Sprintf("192.0.2.7:%d->10.77.0.20:80", 50000+i), Copy: i % 2,
		Fate: []string{"replayed", "target_reset", "capture_gap"}[i%3], Requests: i, Responses: i,
		BytesSent: uint64(i) * 100, BytesAcked: uint64(i) * 99,
		OnlineRTT: 1250 * time.Microsecond, TargetRTT: time.Duration(i) * time.Millisecond,
		RespTimeMax: 3 * time.Millisecond, Detail: map[bool]string{true: "quote \" and \n newline"}[i == 3],
	}
}

// mysqlEntry is entry(i) of a MySQL session.
func mysqlEntry(i int) Entry {
	e := entry(i)
	e.Fate, e.Detail, e.User = "mysql_auth_failed", "target: Access denied", "app"
	e.Statements, e.StatementsOnline, e.StatementsTarget, e.StatementsDiffer = 10+i, 10+i, i, 1
	return e
}

func readLines(t *testing.T, path string) []Entry {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []Entry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("%s: line %q: %v", path, sc.Text(), err)
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLinesMatchEntries(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.jsonl")
	w, err := Open(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	var want []Entry
	for i := range 20 {
		e := entry(i)
		if i%5 == 4 {
			e = mysqlEntry(i)
		}
		want = append(want, e)
		if !w.Write(&e) {
			t.Fatalf("write %d dropped", i)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got := readLines(t, path)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("lines differ from entries:\ngot  %+v\nwant %+v", got[:1], want[:1])
	}
	if w.Write(&want[0]) {
		t.Error("write after close accepted")
	}
	if w.Stats.Written.Load() != 20 || w.Stats.Dropped.Load() != 1 {
		t.Errorf("stats written=%d dropped=%d", w.Stats.Written.Load(), w.Stats.Dropped.Load())
	}
	// The JSON keys are the documented ones.
	b, _ := os.ReadFile(path)
	var m map[string]any
	if err := json.Unmarshal(b[:indexNL(b)], &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"start", "end", "client", "target", "fate", "requests", "bytes_sent", "bytes_acked", "online_rtt_ms", "target_rtt_ms"} {
		if _, ok := m[k]; !ok {
			t.Errorf("key %q missing from %s", k, b[:indexNL(b)])
		}
	}
	if m["online_rtt_ms"] != 1.25 {
		t.Errorf("online_rtt_ms = %v, want 1.25", m["online_rtt_ms"])
	}
	if _, ok := m["user"]; ok {
		t.Errorf("a session without a protocol has protocol keys: %s", b[:indexNL(b)])
	}
	// A MySQL session's line names its user and statements.
	line, _ := json.Marshal(&want[4])
	m = nil
	if err := json.Unmarshal(line, &m); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]any{"user": "app", "statements": 14.0, "statements_online": 14.0, "statements_target": 4.0, "statements_differ": 1.0} {
		if m[k] != v {
			t.Errorf("%s = %v, want %v in %s", k, m[k], v, line)
		}
	}
}

func indexNL(b []byte) int {
	for i, c := range b {
		if c == '\n' {
			return i
		}
	}
	return len(b)
}

func TestRotationAtSize(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ledger.jsonl")
	const maxSize = 2000
	w, err := OpenWith(path, Options{MaxSize: maxSize, Keep: 100})
	if err != nil {
		t.Fatal(err)
	}
	const n = 60
	var want []Entry
	for i := range n {
		e := entry(i)
		want = append(want, e)
		w.Write(&e)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	rot := int(w.Stats.Rotations.Load())
	if rot < 5 {
		t.Fatalf("%d rotations for ~%d bytes at max %d", rot, n*300, maxSize)
	}
	// Oldest first: path.rot ... path.1, then path.
	var got []Entry
	for i := rot; i >= 0; i-- {
		p := path
		if i > 0 {
			p = fmt.Sprintf("%s.%d", path, i)
		}
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > maxSize {
			t.Errorf("%s is %d bytes, over %d", p, fi.Size(), maxSize)
		}
		got = append(got, readLines(t, p)...)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("rotated files hold %d entries (in order: %v), want %d", len(got), reflect.DeepEqual(got, want[:len(got)]), n)
	}
}

func TestRotationKeepsN(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "l.jsonl")
	w, err := OpenWith(path, Options{MaxSize: 500, Keep: 2})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		e := entry(i)
		w.Write(&e)
	}
	w.Close()
	names, _ := filepath.Glob(path + "*")
	if len(names) != 3 {
		t.Fatalf("files %v, want path, path.1, path.2", names)
	}
	last := readLines(t, path)
	if len(last) == 0 || last[len(last)-1].Requests != 29 {
		t.Fatalf("current file does not end with the last entry: %+v", last)
	}
}

func TestWriteNeverBlocks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "l.jsonl")
	w, err := OpenWith(path, Options{Queue: 4})
	if err != nil {
		t.Fatal(err)
	}
	const n = 100000
	e := entry(1)
	start := time.Now()
	for range n {
		w.Write(&e)
	}
	took := time.Since(start)
	w.Close()
	written, dropped := w.Stats.Written.Load(), w.Stats.Dropped.Load()
	if written+dropped != n {
		t.Fatalf("written %d + dropped %d != %d", written, dropped, n)
	}
	if dropped == 0 {
		t.Errorf("no drops with a 4-entry queue and %d writes in %v", n, took)
	}
	if got := len(readLines(t, path)); uint64(got) != written {
		t.Errorf("file has %d lines, writer counted %d", got, written)
	}
	t.Logf("%d writes in %v (%v each), %d written, %d dropped", n, took, took/n, written, dropped)
}

func TestOpenError(t *testing.T) {
	if _, err := Open(filepath.Join(t.TempDir(), "no", "such", "dir", "l"), 0); err == nil {
		t.Fatal("open in a missing directory succeeded")
	}
}

func TestWriteDoesNotAllocate(t *testing.T) {
	w, err := OpenWith(filepath.Join(t.TempDir(), "l.jsonl"), Options{Queue: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	e := entry(2)
	if n := testing.AllocsPerRun(1000, func() { w.Write(&e) }); n != 0 {
		t.Errorf("Write allocates %v times per call", n)
	}
}
