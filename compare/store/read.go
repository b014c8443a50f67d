package store

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
)

// ReadCounts reads the counts of a store.
func ReadCounts(dir string) (Counts, error) {
	var c Counts
	b, err := os.ReadFile(filepath.Join(dir, CountsFile))
	if err != nil {
		return c, fmt.Errorf("store: %w", err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("store: %s: %w", filepath.Join(dir, CountsFile), err)
	}
	return c, nil
}

// Scan calls fn for every stored result, in the order written.
func Scan(dir string, fn func(Result) error) error {
	segs, err := filepath.Glob(filepath.Join(dir, segmentGlob))
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if len(segs) == 0 {
		return fmt.Errorf("store: no result files in %s", dir)
	}
	sort.Strings(segs)
	for i, s := range segs {
		last := i == len(segs)-1
		if err := lines(s, last, func(b []byte) error {
			var r Result
			if err := json.Unmarshal(b, &r); err != nil {
				return err
			}
			return fn(r)
		}); err != nil {
			return err
		}
	}
	return nil
}

// ScanExamples calls fn for every stored example.
func ScanExamples(dir string, fn func(Example) error) error {
	return lines(filepath.Join(dir, ExamplesFile), true, func(b []byte) error {
		var e Example
		if err := json.Unmarshal(b, &e); err != nil {
			return err
		}
		return fn(e)
	})
}

// lines calls fn per line of path; in the last file a final line without
// its newline (cut by a crash) is skipped.
func lines(path string, last bool, fn func([]byte) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 64<<10)
	for n := 1; ; n++ {
		b, err := r.ReadBytes('\n')
		if err == io.EOF {
			if len(b) > 0 && !last {
				return fmt.Errorf("store: %s:%d: line without its end", path, n)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("store: %s: %w", path, err)
		}
		if err := fn(b); err != nil {
			return fmt.Errorf("store: %s:%d: %w", path, n, err)
		}
	}
}
